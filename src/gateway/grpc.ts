// Envoy's gRPC ext_authz v3 service (envoy.service.auth.v3.Authorization/Check) on its
// own port. The messages are the hand-written subset in ./envoy/, proven against
// Envoy's own Go types by test/conformance/envoy-grpc.
// Limits: a CheckRequest larger than the body limit plus the header limit plus room for
// Envoy's attributes is refused by grpc-js before it is decoded (RESOURCE_EXHAUSTED);
// `headers` and `header_map` are then held to the HTTP port's header rule (headers.ts:
// count and bytes first, before any merging; duplicated identity headers, also one name
// in both lists, and client-sent x-portcullis-* refused).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { CALLER_TOKEN_HEADER } from '../access/callers.ts';
import { packagePath } from '../package.ts';
import { HEADER, type Gateway, type GatewayAnswer, type GatewayLimits, type GatewayRequest } from './gateway.ts';
import { mergeHeaders, type HeaderLimits } from './headers.ts';

// In the package as sources: the compiled form (dist/) has no copy of its own.
const PROTO = packagePath('src/gateway/envoy/ext_authz.proto');

/** google.rpc.Code values; Envoy only looks at whether the code is OK. */
const RPC_CODE: Record<number, number> = { 200: 0, 400: 3, 401: 16, 403: 7, 429: 8, 431: 3, 503: 14 };
const PERMISSION_DENIED = 7;

interface CheckRequest {
  attributes?: {
    request?: {
      http?: {
        method: string;
        path: string;
        /** Envoy's map, as the repeated entries it is on the wire (see ext_authz.proto). */
        headers: { key: string; value: string }[];
        headerMap?: { headers: { key: string; value: string; rawValue: Buffer }[] } | null;
        body: string;
        rawBody: Buffer;
      };
    };
  };
}

/**
 * Room for what a CheckRequest carries besides the body and the headers (addresses,
 * principals, a client certificate, context extensions, field framing).
 */
const ATTRIBUTES_BYTES = 64 * 1024;

export const maxMessageBytes = (limits: Pick<GatewayLimits, 'bodyLimitBytes' | 'maxHeaderBytes'>) =>
  limits.bodyLimitBytes + limits.maxHeaderBytes + ATTRIBUTES_BYTES;

/** The original request as Envoy describes it; throws ApiError for headers the gateway refuses. */
export function fromCheckRequest(request: CheckRequest, limits: HeaderLimits): GatewayRequest {
  const http = request.attributes?.request?.http;
  // Envoy with encode_raw_headers sends header_map instead of headers; both are read, as one list.
  const map = http?.headerMap?.headers ?? [];
  const listed = http?.headers ?? [];
  const entries: [string, string][] = listed.map(({ key, value }) => [key, value]);
  for (const { key, value, rawValue } of map) entries.push([key, value || rawValue.toString()]);
  const headers = mergeHeaders(entries, limits);
  const body = http?.body ? http.body : http?.rawBody?.length ? http.rawBody : undefined;
  return { method: http?.method ?? '', path: http?.path ?? '', headers, ...(body ? { body } : {}) };
}

type StructValue = { stringValue: string } | { boolValue: boolean };

/** A message that did not decode, carried to the handler instead of thrown (see loadService). */
class Undecodable {
  constructor(readonly detail: string) {}
}

function loadService(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };
  };
  const service = root.envoy.service.auth.v3.Authorization.service;
  // grpc-js answers a message its deserializer throws on with INTERNAL, which an Envoy with
  // failure_mode_allow would treat like any server failure; the handler answers it as the
  // client's fault (INVALID_ARGUMENT) instead.
  const check = service.Check!;
  const decode = check.requestDeserialize;
  return {
    ...service,
    Check: {
      ...check,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (error) {
          return new Undecodable(error instanceof Error ? error.message : String(error));
        }
      },
    },
  };
}

const headerOptions = (headers: Record<string, string>) =>
  // append=false: overwrite whatever the client sent under the same name.
  Object.entries(headers).map(([key, value]) => ({ header: { key, value }, append: { value: false } }));

export function toCheckResponse(answer: GatewayAnswer): Record<string, unknown> {
  const metadata: Record<string, StructValue> = {
    allow: { boolValue: answer.wouldAllow },
    reason: { stringValue: answer.reason },
  };
  if (answer.decisionId) metadata.decision_id = { stringValue: answer.decisionId };
  if (answer.dryRun) metadata.dry_run = { boolValue: true };
  const response: Record<string, unknown> = {
    status: { code: answer.allow ? 0 : (RPC_CODE[answer.status] ?? PERMISSION_DENIED), message: answer.reason },
    dynamicMetadata: { fields: metadata },
  };
  if (answer.allow) {
    response.okResponse = {
      headers: headerOptions(answer.headers),
      // A client must not be able to hand the upstream its own x-portcullis-* values.
      headersToRemove: Object.values(HEADER).filter((name) => !(name in answer.headers)),
    };
  } else {
    response.deniedResponse = { status: { code: answer.status }, headers: headerOptions(answer.headers), body: answer.body };
  }
  return response;
}

export class GrpcExtAuthz {
  private readonly server: grpc.Server;

  constructor(gateway: Gateway, log: Logger) {
    // grpc-js writes its own lines to stderr (a failed bind: "E No address added ..."); its
    // errors reach the sidecar as errors, said once by whoever handles them, so its lines
    // go to the log at debug.
    grpc.setLogger({ error: (...args: unknown[]) => log.debug({ grpc: args.map(String).join(' ') }, 'grpc-js') });
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': maxMessageBytes(gateway.limits) });
    this.server.addService(loadService(), {
      Check: (call: grpc.ServerUnaryCall<CheckRequest | Undecodable, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const request = call.request;
        if (request instanceof Undecodable) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `the CheckRequest cannot be decoded: ${request.detail}` });
          return;
        }
        gateway
          .check(() => ({ ...fromCheckRequest(request, gateway.limits), client: call.getPeer() }), 'ext_authz_grpc', {
            // Envoy's initial_metadata: the gateway's credential, beside (not inside) the original request.
            tokens: call.metadata.get(CALLER_TOKEN_HEADER).map(String),
            address: call.getPeer().replace(/:\d+$/, ''),
          })
          .then((answer) => callback(null, toCheckResponse(answer)))
          .catch((error: unknown) => {
            log.error({ err: error }, 'ext_authz gRPC Check failed');
            callback({ code: grpc.status.INTERNAL, details: 'internal error; see the sidecar log' });
          });
      },
    });
  }

  /** Binds host:port (0 = any free port) and returns the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
  }

  /** Lets in-flight calls finish, then stops; connections still open after the grace period are cut. */
  close(graceMs = 5000): Promise<void> {
    return new Promise((resolve) => {
      // forceShutdown does not always call tryShutdown's callback: resolve on either.
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
