// The gateway's clients as Envoy and nginx speak to it, shared by the gateway and fault
// tests: /ext_authz over HTTP (Envoy's path form and nginx's X-Original-* form) and the
// ext_authz gRPC Check, with the answer's reason and decision id read from the headers.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Where the sidecar serves HTTP. */
export interface Served {
  url: string;
}

export interface Answer {
  status: number;
  reason: string | null;
  decisionId: string | null;
  headers: Record<string, string>;
  body: string;
}

/** One request to /ext_authz<path> (Envoy form), the path sent byte for byte; `headers` as a raw list allows repeats. */
export function envoy(sidecar: Served, method: string, path: string, headers: [string, string][], body?: string): Promise<Answer> {
  const { hostname, port } = new URL(sidecar.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path: `/ext_authz${path}` }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') out[name] = value;
        resolve({
          status: res.statusCode!,
          reason: out['x-portcullis-reason'] ?? null,
          decisionId: out['x-portcullis-decision-id'] ?? null,
          headers: out,
          body: Buffer.concat(chunks).toString(),
        });
      });
    });
    req.on('error', reject);
    // A name given a list is sent once per value, as separate header lines.
    const values = new Map<string, string[]>();
    for (const [name, value] of headers) values.set(name.toLowerCase(), [...(values.get(name.toLowerCase()) ?? []), value]);
    for (const [name, list] of values) req.setHeader(name, list.length === 1 ? list[0]! : list);
    req.end(body);
  });
}

/** The nginx form: GET /ext_authz describing the original request in X-Original-*. */
export const nginx = (sidecar: Served, method: string, uri: string, headers: [string, string][]) =>
  envoy(sidecar, 'GET', '', [['x-original-method', method], ['x-original-uri', uri], ...headers]);

const PROTO = fileURLToPath(new URL('../../src/gateway/envoy/ext_authz.proto', import.meta.url));
export type CheckClient = grpc.Client & { Check(request: unknown, callback: (error: grpc.ServiceError | null, response: CheckResponse) => void): void };
interface CheckResponse {
  status: { code: number };
  deniedResponse?: { headers: { header: { key: string; value: string } }[] };
  okResponse?: { headers: { header: { key: string; value: string } }[] };
}
export interface HttpAttributes {
  method: string;
  path: string;
  headers?: [string, string][];
  headerMap?: [string, string][];
  body?: string;
}
export type GrpcAnswer =
  | { grpcError: number }
  | { grpcError: null; code: number; reason: string | null; decisionId: string | null; headers: Record<string, string> };

export function grpcClient(port: number): CheckClient {
  const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
  return new root.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as CheckClient;
}

export function grpcCheck(client: CheckClient, http: HttpAttributes): Promise<GrpcAnswer> {
  const request = {
    attributes: {
      request: {
        http: {
          method: http.method,
          path: http.path,
          // The map as the repeated entries it is on the wire: a key may be sent twice.
          headers: (http.headers ?? []).map(([key, value]) => ({ key, value })),
          ...(http.headerMap ? { headerMap: { headers: http.headerMap.map(([key, value]) => ({ key, value })) } } : {}),
          body: http.body ?? '',
        },
      },
    },
  };
  return new Promise((resolve) => {
    client.Check(request, (error, response) => {
      if (error) return resolve({ grpcError: error.code });
      const headers = Object.fromEntries((response.deniedResponse ?? response.okResponse)!.headers.map(({ header }) => [header.key, header.value]));
      resolve({
        grpcError: null,
        code: response.status.code,
        reason: headers['x-portcullis-reason'] ?? null,
        decisionId: headers['x-portcullis-decision-id'] ?? null,
        headers,
      });
    });
  });
}

export function grpcReason(answer: GrpcAnswer): string | null {
  assert.equal(answer.grpcError, null, `gRPC error ${answer.grpcError}`);
  return (answer as { reason: string | null }).reason;
}
