// gRPC ext_authz conformance: the Check service asked by a Go client built on Envoy's
// own generated types (go-control-plane), which shares nothing with our .proto. A wrong
// field number or type shows up here as a missing or wrong value.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { FORBIDDEN_BODY } from '../../src/gateway/gateway.ts';
import { fromCheckRequest } from '../../src/gateway/grpc.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar, setMcpServers } from './support.ts';

const CLIENT_DIR = 'test/conformance/envoy-grpc';

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Result {
  name: string;
  grpcCode: number;
  statusCode: number;
  kind: 'ok' | 'denied' | 'none';
  httpStatus: number;
  headers: Record<string, string>;
  headersToRemove: string[];
  body: string;
  dynamicMetadata: Record<string, unknown> | null;
  error?: string;
}

let dir: string;
let client: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-grpc-'));
  client = join(dir, 'envoy-grpc');
  // The first build fetches go-control-plane through the Go module proxy.
  await promisify(execFile)('go', ['build', '-o', client, '.'], { cwd: CLIENT_DIR, env: { ...process.env, GOFLAGS: '-mod=mod' }, timeout: 300_000 });
});
after(() => rm(dir, { recursive: true, force: true }));

function check(port: number, cases: Case[]): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(client, ['-addr', `127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`envoy-grpc exited ${code}: ${err}`))));
    child.stdin.end(JSON.stringify(cases));
  });
}

describe('envoy.service.auth.v3.Authorization/Check against Envoy Go types', () => {
  let sidecar: RunningSidecar;
  let port: number;
  let manager: string;
  before(async () => {
    sidecar = await listeningSidecar();
    port = await sidecar.sidecar.grpc.listen('127.0.0.1', 0);
    manager = `Bearer ${await signToken(PRINCIPALS.manager)}`;
  });
  after(() => sidecar.close());

  test('allowed: OkHttpResponse with the decision id and principal for the upstream, x-portcullis-* it did not set removed, metadata', async () => {
    await setMcpServers(sidecar.url, true);
    const [ok] = await check(port, [
      { name: 'allow', method: 'POST', path: '/v1/mcp-servers', headers: { Authorization: manager, 'X-Portkey-Workspace-Id': 'ws-1' } },
    ]);
    assert.equal(ok!.error, undefined);
    assert.equal(ok!.kind, 'ok');
    assert.equal(ok!.statusCode, 0);
    assert.match(ok!.headers['x-portcullis-decision-id']!, /^[0-9a-f-]{36}$/);
    assert.equal(ok!.headers['x-portcullis-principal'], 'u-manager');
    assert.equal(ok!.headers['x-portcullis-reason'], 'manager_write_enabled');
    assert.deepEqual(ok!.headersToRemove.sort(), ['x-portcullis-allow', 'x-portcullis-dry-run']);
    assert.deepEqual(ok!.dynamicMetadata, { allow: true, reason: 'manager_write_enabled', decision_id: ok!.headers['x-portcullis-decision-id'] });
  });

  test('denied: DeniedHttpResponse 403 with the control plane body, decision id and reason; PERMISSION_DENIED', async () => {
    await setMcpServers(sidecar.url, false);
    const results = await check(port, [
      { name: 'header', method: 'POST', path: '/v1/mcp-servers', headers: { authorization: manager, 'x-portkey-workspace-id': 'ws-1' } },
      { name: 'query', method: 'POST', path: '/v1/mcp-servers?workspace_id=ws-1', headers: { authorization: manager } },
      {
        name: 'body',
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: { authorization: manager, 'content-type': 'application/json' },
        body: '{"workspace_id":"ws-1"}',
      },
    ]);
    for (const denied of results) {
      assert.equal(denied.kind, 'denied', denied.name);
      assert.equal(denied.statusCode, 7);
      assert.equal(denied.httpStatus, 403);
      assert.equal(denied.body, FORBIDDEN_BODY);
      assert.equal(denied.headers['x-portcullis-reason'], 'manager_write_disabled');
      assert.match(denied.headers['x-portcullis-decision-id']!, /^[0-9a-f-]{36}$/);
      assert.deepEqual(denied.dynamicMetadata, { allow: false, reason: 'manager_write_disabled', decision_id: denied.headers['x-portcullis-decision-id'] });
      const audited = await sidecar.sidecar.audit.getDecision(denied.headers['x-portcullis-decision-id']!);
      assert.equal(audited?.api, 'ext_authz_grpc');
    }
  });

  test('refusals before any decision: status, reason header, and no decision id', async () => {
    const expired = `Bearer ${await signToken(PRINCIPALS.owner, { expiresAt: 1_000_000 })}`;
    const results = await check(port, [
      { name: 'no token', method: 'POST', path: '/v1/mcp-servers', headers: { 'x-portkey-workspace-id': 'ws-1' } },
      { name: 'expired', method: 'POST', path: '/v1/mcp-servers', headers: { authorization: expired, 'x-portkey-workspace-id': 'ws-1' } },
      { name: 'unknown route', method: 'POST', path: '/v1/secrets', headers: { authorization: manager } },
      { name: 'missing workspace', method: 'POST', path: '/v1/mcp-servers', headers: { authorization: manager } },
      { name: 'malformed body', method: 'POST', path: '/v1/mcp-servers', headers: { authorization: manager }, body: '{"workspace_id":' },
      {
        name: 'oversized headers',
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: { authorization: manager, 'x-portkey-workspace-id': 'ws-1', 'x-padding': 'p'.repeat(20_000) },
      },
    ]);
    const expected: Record<string, [number, number, string]> = {
      'no token': [401, 16, 'missing_token'],
      expired: [401, 16, 'token_expired'],
      'unknown route': [403, 7, 'no_route'],
      'missing workspace': [403, 7, 'missing_workspace_id'],
      'malformed body': [403, 7, 'invalid_body'],
      'oversized headers': [431, 3, 'headers_too_large'],
    };
    for (const result of results) {
      const [httpStatus, statusCode, reason] = expected[result.name]!;
      assert.equal(result.kind, 'denied', result.name);
      assert.equal(result.httpStatus, httpStatus, result.name);
      assert.equal(result.statusCode, statusCode, result.name);
      assert.equal(result.headers['x-portcullis-reason'], reason, result.name);
      assert.equal(result.headers['x-portcullis-decision-id'], undefined, result.name);
      assert.deepEqual(result.dynamicMetadata, { allow: false, reason }, result.name);
    }
    assert.equal(results[0]!.headers['www-authenticate'], 'Bearer');
    assert.match(JSON.parse(results[1]!.body).message, /expired/);
  });

  test("query look-alikes of workspace_id next to the header (an owner's POST): denied 403 ambiguous_workspace_id before any decision", async () => {
    const owner = `Bearer ${await signToken(PRINCIPALS.owner)}`;
    const queries = ['workspaceId=ws-v', 'WORKSPACE_ID=ws-v', 'workspace-id=ws-v', 'workspace_id%5B%5D=ws-v', 'workspace_id=ws-1&workspace_id%5B0%5D=ws-v'];
    const results = await check(
      port,
      queries.map((query) => ({
        name: query,
        method: 'POST',
        path: `/v1/mcp-servers?${query}`,
        headers: { authorization: owner, 'x-portkey-workspace-id': 'ws-1' },
      })),
    );
    for (const result of results) {
      assert.equal(result.kind, 'denied', result.name);
      assert.equal(result.httpStatus, 403, result.name);
      assert.equal(result.headers['x-portcullis-reason'], 'ambiguous_workspace_id', result.name);
      assert.equal(result.headers['x-portcullis-decision-id'], undefined, result.name);
    }
  });
});

test('dry run over gRPC: OkHttpResponse, and the real outcome in headers and metadata', async () => {
  const sidecar = await listeningSidecar({ gatewayDryRun: true });
  try {
    const port = await sidecar.sidecar.grpc.listen('127.0.0.1', 0);
    await setMcpServers(sidecar.url, false);
    const [result] = await check(port, [
      {
        name: 'dry',
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: { authorization: `Bearer ${await signToken(PRINCIPALS.manager)}`, 'x-portkey-workspace-id': 'ws-1' },
      },
    ]);
    assert.equal(result!.kind, 'ok');
    assert.equal(result!.headers['x-portcullis-dry-run'], 'true');
    assert.equal(result!.headers['x-portcullis-allow'], 'false');
    const metadata = result!.dynamicMetadata!;
    assert.equal(metadata.dry_run, true);
    assert.equal(metadata.allow, false);
    assert.equal(metadata.reason, 'manager_write_disabled');
    const audited = await sidecar.sidecar.audit.getDecision(metadata.decision_id as string);
    assert.equal(audited?.dryRun, true);
  } finally {
    await sidecar.close();
  }
});

test('header_map (Envoy encode_raw_headers) and raw_body are read like headers and body', () => {
  const request = fromCheckRequest(
    {
      attributes: {
        request: {
          http: {
            method: 'POST',
            path: '/v1/mcp-servers',
            headers: [],
            headerMap: {
              headers: [
                { key: 'Authorization', value: '', rawValue: Buffer.from('Bearer t') },
                { key: 'x-portkey-workspace-id', value: 'ws-1', rawValue: Buffer.alloc(0) },
                { key: 'x-portkey-workspace-id', value: 'ws-2', rawValue: Buffer.alloc(0) },
              ],
            },
            body: '',
            rawBody: Buffer.from('{"workspace_id":"ws-1"}'),
          },
        },
      },
    },
    { maxHeaderBytes: 16_384 },
  );
  assert.deepEqual({ ...request.headers }, { authorization: 'Bearer t', 'x-portkey-workspace-id': 'ws-1,ws-2' });
  assert.equal(request.body?.toString(), '{"workspace_id":"ws-1"}');
});
