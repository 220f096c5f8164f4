// A real nginx presenting its decide token (DECIDE_AUTH=required) as docs/callers.md shows:
// proxy_set_header X-Portcullis-Caller-Token in the auth_request location. Requests pass
// with it, a client's own copy is replaced by nginx's, and a location that sends none is
// refused before anything is decided; the upstream never sees the token.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { startNginx, type RunningNginx } from '../support/nginx.ts';
import { freePort } from '../support/redis.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar } from './support.ts';

const NGINX_TOKEN = 'edge-nginx-secret-3c8e1f7a5d';

let dir: string;
let sidecar: RunningSidecar;
let upstream: Server;
let nginx: RunningNginx;
let base: string;
let owner: string;
const seen: IncomingHttpHeaders[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-nginx-caller-'));
  const tokensFile = join(dir, 'tokens.yaml');
  await writeFile(tokensFile, `tokens:\n  - {name: edge-nginx, sha256: ${createHash('sha256').update(NGINX_TOKEN).digest('hex')}, scopes: [decide]}\n`);
  sidecar = await listeningSidecar({ decideAuth: 'required', adminTokensFile: tokensFile });
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.writeHead(201, { 'content-type': 'application/json' }).end('{"success":true}');
  }).listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const port = await freePort();
  const auth = (name: string, token: string) => `
    location = ${name} {
      internal;
      proxy_pass http://${new URL(sidecar.url).host}/ext_authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      ${token}
    }`;
  nginx = await startNginx(
    `worker_processes 1;
pid nginx.pid;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:${port};
    location /v1/ {
      auth_request /_portcullis;
      proxy_pass http://127.0.0.1:${(upstream.address() as AddressInfo).port};
    }
    # The same, with a gateway that forgot the token.
    location /untokened/v1/ {
      auth_request /_portcullis_untokened;
      proxy_pass http://127.0.0.1:${(upstream.address() as AddressInfo).port};
    }
    ${auth('/_portcullis', `proxy_set_header X-Portcullis-Caller-Token "${NGINX_TOKEN}";`)}
    ${auth('/_portcullis_untokened', '')}
  }
}
`,
    port,
  );
  base = `http://127.0.0.1:${port}`;
  owner = `Bearer ${await signToken(PRINCIPALS.owner)}`;
});

after(async () => {
  await nginx?.stop();
  upstream?.close();
  await sidecar?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => (seen.length = 0));

const create = (path: string, extra: Record<string, string> = {}) =>
  fetch(`${base}${path}?workspace_id=ws-1`, {
    method: 'POST',
    headers: { authorization: owner, 'content-type': 'application/json', ...extra },
    body: '{"name":"github"}',
  });

test('with the token nginx sets, the request is decided and reaches the upstream, which never sees the token', async () => {
  const res = await create('/v1/mcp-servers');
  assert.equal(res.status, 201, await res.text());
  assert.equal(seen.length, 1);
  assert.doesNotMatch(JSON.stringify(seen), new RegExp(NGINX_TOKEN));
});

test("a client's own X-Portcullis-Caller-Token is replaced by nginx's: a forged one neither authenticates nor breaks the check", async () => {
  const res = await create('/v1/mcp-servers', { 'x-portcullis-caller-token': 'forged' });
  assert.equal(res.status, 201, await res.text());
});

test('a gateway location that sends no token is refused (401, caller_token_missing): nothing decided, the upstream not reached', async () => {
  const res = await create('/untokened/v1/mcp-servers');
  assert.equal(res.status, 401);
  assert.equal(seen.length, 0);
  const refusals = await sidecar.sidecar.metrics.callerRefusals.get();
  assert.ok((refusals.values.find((v) => v.labels.reason === 'caller_token_missing')?.value ?? 0) >= 1);
});
