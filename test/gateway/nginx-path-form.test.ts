// nginx pointed at the Envoy path form (proxy_pass http://sidecar/ext_authz$request_uri): its
// auth subrequest is always a GET and names no original method, so a path-form request
// from it cannot tell a write from a read. With FORWARD_AUTH_HEADERS=original (the
// default, as nginx deployments run) Portcullis refuses the path form: a member's POST or
// DELETE through such an nginx is denied and never reaches the upstream. Real nginx, real
// Redis, a recording upstream.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startNginx, type RunningNginx } from '../support/nginx.ts';
import { freePort, RedisServer } from '../support/redis.ts';
import { listeningSidecar, PRINCIPALS, recordingUpstream, signToken, type RunningSidecar } from './support.ts';

let redis: RedisServer;
let sidecar: RunningSidecar;
let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
let nginx: RunningNginx;
let base: string;
const tokens: Record<string, string> = {};

before(async () => {
  redis = await RedisServer.start();
  sidecar = await listeningSidecar({ redisUrl: redis.url, forwardAuthHeaders: 'original' });
  upstream = await recordingUpstream();
  const port = await freePort();
  nginx = await startNginx(
    `worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 127.0.0.1:${port};
    location /v1/ {
      auth_request /_portcullis;
      proxy_pass http://127.0.0.1:${upstream.port};
    }
    location = /_portcullis {
      internal;
      proxy_pass http://${new URL(sidecar.url).host}/ext_authz$request_uri;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
  }
}
`,
    port,
  );
  base = `http://127.0.0.1:${port}`;
  for (const [name, claims] of Object.entries(PRINCIPALS)) tokens[name] = `Bearer ${await signToken(claims)}`;
});

after(async () => {
  await nginx?.stop();
  await upstream?.close();
  await sidecar?.close();
  await redis?.stop();
});

beforeEach(() => void upstream?.seen.splice(0));

describe('nginx auth_request pointed at /ext_authz$request_uri, FORWARD_AUTH_HEADERS=original', () => {
  for (const [method, path] of [
    ['POST', '/v1/mcp-servers'],
    ['DELETE', '/v1/mcp-servers/s-1'],
  ] as const) {
    test(`a member's ${method} ${path} is refused (ext_authz_form_refused) and never reaches the upstream`, async () => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: tokens.member!, 'x-portkey-workspace-id': 'ws-1', 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ name: 'github', url: 'https://mcp.example.com' }) } : {}),
      });
      assert.equal(res.status, 403);
      assert.deepEqual(upstream.seen, []);
      // nginx answers 403 itself; what Portcullis said is in its own answer to the same subrequest.
      const direct = await fetch(`${sidecar.url}/ext_authz${path}`, { headers: { authorization: tokens.member!, 'x-portkey-workspace-id': 'ws-1' } });
      assert.equal(direct.status, 403);
      assert.equal(direct.headers.get('x-portcullis-reason'), 'ext_authz_form_refused');
      assert.equal(direct.headers.get('x-portcullis-decision-id'), null);
    });
  }

  test("the owner's POST is refused too: the path form is not this deployment's, whoever asks", async () => {
    const res = await fetch(`${base}/v1/mcp-servers`, {
      method: 'POST',
      headers: { authorization: tokens.owner!, 'x-portkey-workspace-id': 'ws-1' },
      body: '{}',
    });
    assert.equal(res.status, 403);
    assert.deepEqual(upstream.seen, []);
  });
});
