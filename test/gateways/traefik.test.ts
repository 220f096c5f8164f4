// End to end through a real Traefik (the pinned build, make traefik): client -> Traefik
// forwardAuth (examples/traefik/traefik.yaml and dynamic.yaml, ports rewritten) -> Portcullis
// with FORWARD_AUTH_HEADERS=forwarded (real Redis) -> a small upstream that records what
// reaches it. Traefik asks with GET and sets X-Forwarded-Method/-Uri/-Host/-Proto itself,
// passing every other client header through: the spoofs below are what a client can add.
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { FORBIDDEN_BODY } from '../../src/gateway/gateway.ts';
import {
  listeningSidecar,
  PRINCIPALS,
  recordingUpstream,
  signToken,
  startGatewayProcess,
  type GatewayProcess,
  type RunningSidecar,
  type Seen,
} from '../gateway/support.ts';
import { freePort, RedisServer } from '../support/redis.ts';

const TRAEFIK = process.env.TRAEFIK_BIN ?? '.cache/bin/traefik';

let redis: RedisServer | undefined;
let sidecar: RunningSidecar | undefined;
let upstream: Awaited<ReturnType<typeof recordingUpstream>> | undefined;
const traefiks: GatewayProcess[] = [];
let home: string | undefined;
/** Traefik with the example as written, and behind a proxy it trusts (forwardedHeaders.insecure). */
let base: string;
let port: number;
let trustingBase: string;
let seen: Seen[];
const tokens: Record<string, string> = {};

/** `file` with each `from` replaced by its `to`; fails when the example no longer has one. */
async function rewritten(file: string, replacements: [string, string][]): Promise<string> {
  let text = await readFile(file, 'utf8');
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `${file} no longer has ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  return text;
}

/** Traefik with examples/traefik/ on `entryPort` (this run's ports; `entryPoint` edits the entry point further), once it routes /v1/. */
async function startTraefik(name: string, entryPort: number, entryPoint: (address: string) => string = (address) => address): Promise<string> {
  const dynamic = join(home!, `${name}.dynamic.yaml`);
  await writeFile(
    dynamic,
    await rewritten('examples/traefik/dynamic.yaml', [
      ['address: "http://127.0.0.1:8181/ext_authz"', `address: "${sidecar!.url}/ext_authz"`],
      ['url: "http://127.0.0.1:8080"', `url: "http://127.0.0.1:${upstream!.port}"`],
    ]),
  );
  const stat = join(home!, `${name}.traefik.yaml`);
  await writeFile(
    stat,
    await rewritten('examples/traefik/traefik.yaml', [
      ['    address: "127.0.0.1:8000"\n', entryPoint(`    address: "127.0.0.1:${entryPort}"\n`)],
      ['filename: examples/traefik/dynamic.yaml', `filename: ${dynamic}`],
    ]),
  );
  const traefik = await startGatewayProcess(TRAEFIK, [`--configFile=${stat}`], entryPort, { env: { PATH: process.env.PATH, HOME: home }, signal: 'SIGTERM' });
  traefiks.push(traefik);
  const at = `http://127.0.0.1:${entryPort}`;
  // The entry point listens before the file provider's routers are in: until then every path is 404.
  const deadline = Date.now() + 60_000;
  while ((await fetch(`${at}/v1/mcp-servers`)).status === 404) {
    if (Date.now() > deadline) assert.fail(`Traefik (${name}) never routed /v1/:\n${traefik.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return at;
}

before(async () => {
  await access(TRAEFIK).catch(() => assert.fail(`${TRAEFIK} is missing: make traefik builds it (v3.6.12, from its module zip)`));
  redis = await RedisServer.start();
  sidecar = await listeningSidecar({ redisUrl: redis.url, forwardAuthHeaders: 'forwarded' });
  upstream = await recordingUpstream();
  seen = upstream.seen;
  home = await mkdtemp(join(tmpdir(), 'portcullis-traefik-'));
  for (const [name, claims] of Object.entries(PRINCIPALS)) tokens[name] = `Bearer ${await signToken(claims)}`;

  port = await freePort();
  base = await startTraefik('example', port);
  trustingBase = await startTraefik('trusting', await freePort(), (address) => `${address}    forwardedHeaders:\n      insecure: true\n`);
});

after(async () => {
  await Promise.all(traefiks.map((traefik) => traefik.stop()));
  await upstream?.close();
  await sidecar?.close();
  await redis?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

beforeEach(() => void upstream?.seen.splice(0));

function send(method: string, path: string, who: string | undefined, extra: Record<string, string> = {}, at = base): Promise<Response> {
  return fetch(`${at}${path}`, {
    method,
    headers: { 'x-portkey-workspace-id': 'ws-1', ...(who ? { authorization: tokens[who]! } : {}), ...extra },
    ...(method === 'POST' ? { body: JSON.stringify({ name: 'github' }) } : {}),
  });
}

async function recorded(res: Response) {
  await sidecar!.sidecar.audit.flush();
  return sidecar!.sidecar.audit.getDecision(res.headers.get('x-portcullis-decision-id')!);
}

async function assertRefused(res: Response, reason: string, what: string): Promise<void> {
  assert.equal(res.status, 403, what);
  assert.equal(res.headers.get('x-portcullis-reason'), reason, what);
  assert.equal(await res.text(), FORBIDDEN_BODY, what);
}

/** The TCP addresses process `pid` listens on (Linux: its socket inodes in /proc/net/tcp{,6}). */
async function listeningAddresses(pid: number): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const addresses: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of (await readFile(`/proc/${pid}/net/${table}`, 'utf8')).split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is hex ADDRESS:PORT; state 0A is LISTEN; field 9 is the inode.
      if (fields.length < 10 || fields[3] !== '0A' || !inodes.has(fields[9]!)) continue;
      const [hexAddress, hexPort] = fields[1]!.split(':') as [string, string];
      const address =
        table === 'tcp'
          ? (hexAddress.match(/../g) ?? [])
              .reverse()
              .map((byte) => parseInt(byte, 16))
              .join('.')
          : `[${hexAddress}]`;
      addresses.push(`${address}:${parseInt(hexPort, 16)}`);
    }
  }
  return addresses.sort();
}

describe('client -> Traefik forwardAuth (examples/traefik/) -> Portcullis -> upstream', () => {
  test('Traefik listens on the loopback entry point only: no dashboard, API or other port', {
    skip: process.platform !== 'linux' && 'reads /proc',
  }, async () => {
    assert.deepEqual(await listeningAddresses(traefiks[0]!.child.pid!), [`127.0.0.1:${port}`]);
  });

  test('allowed: the write reaches the upstream with the decision id and principal Traefik copied from the answer, decided as the write', async () => {
    const res = await send('POST', '/v1/mcp-servers', 'owner');
    assert.equal(res.status, 201);
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!.method, seen[0]!.url], ['POST', '/v1/mcp-servers']);
    assert.match(String(seen[0]!.headers['x-portcullis-decision-id']), /^[0-9a-f-]{36}$/);
    assert.equal(seen[0]!.headers['x-portcullis-principal'], 'u-owner');
    await sidecar!.sidecar.audit.flush();
    const decision = await sidecar!.sidecar.audit.getDecision(String(seen[0]!.headers['x-portcullis-decision-id']));
    assert.deepEqual([decision?.api, decision?.allow, decision?.action, decision?.gatewayRequest?.method], ['ext_authz_http', true, 'create', 'POST']);
  });

  test('denied: 403 with the AB03 body, the reason and decision id as Portcullis answered, and the upstream never sees it', async () => {
    for (const [method, path, action] of [
      ['POST', '/v1/mcp-servers', 'create'],
      ['DELETE', '/v1/mcp-servers/s-1', 'delete'],
    ] as const) {
      const res = await send(method, path, 'member');
      assert.match(String(res.headers.get('x-portcullis-decision-id')), /^[0-9a-f-]{36}$/);
      const decision = await recorded(res);
      assert.deepEqual([decision?.allow, decision?.action, decision?.gatewayRequest?.method], [false, action, method]);
      await assertRefused(res, 'read_only_role', `member ${method}`);
    }
    assert.equal(seen.length, 0);
  });

  test('a member reads (header and query workspace id); no token is a 401 passed back by Traefik', async () => {
    assert.equal((await send('GET', '/v1/mcp-servers', 'member')).status, 201);
    const read = await fetch(`${base}/v1/mcp-servers?workspace_id=ws-1`, { headers: { authorization: tokens.member! } });
    assert.equal(read.status, 201);
    assert.deepEqual(
      seen.map((s) => [s.method, s.url]),
      [
        ['GET', '/v1/mcp-servers'],
        ['GET', '/v1/mcp-servers?workspace_id=ws-1'],
      ],
    );
    const anonymous = await send('POST', '/v1/mcp-servers', undefined);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('x-portcullis-reason'), 'missing_token');
    assert.equal(seen.length, 2);
  });

  test('the client adds X-Original-Method: GET and X-Original-URI naming a read to a POST or DELETE: forged_original_request, even for the owner', async () => {
    const spoofs: Record<string, string>[] = [
      { 'X-Original-Method': 'GET', 'X-Original-URI': '/v1/mcp-servers?workspace_id=ws-1' },
      { 'x-original-method': 'GET' },
      { 'x-original-uri': '/v1/mcp-servers' },
    ];
    for (const who of ['member', 'owner']) {
      for (const spoof of spoofs) {
        for (const [method, path] of [
          ['POST', '/v1/mcp-servers'],
          ['DELETE', '/v1/mcp-servers/s-1'],
        ] as const) {
          await assertRefused(await send(method, path, who, spoof), 'forged_original_request', `${who} ${method} ${JSON.stringify(spoof)}`);
        }
      }
    }
    assert.equal(seen.length, 0);
  });

  test("the client sends X-Forwarded-Method/-Uri/-Host/-Proto: Traefik replaces them, so the write is decided as the write, and the upstream gets none of the client's", async () => {
    const spoof = {
      'X-Forwarded-Method': 'GET',
      'X-Forwarded-Uri': '/v1/mcp-servers?workspace_id=ws-1',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Proto': 'gopher',
    };
    const denied = await send('POST', '/v1/mcp-servers', 'member', spoof);
    assert.equal(denied.headers.get('x-portcullis-reason'), 'read_only_role');
    const decision = await recorded(denied);
    assert.equal(decision?.gatewayRequest?.method, 'POST');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-method'], 'POST');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-uri'], '/v1/mcp-servers');
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-host'], `127.0.0.1:${port}`);
    assert.equal(decision?.gatewayRequest?.headers['x-forwarded-proto'], 'http');
    await assertRefused(denied, 'read_only_role', 'member');
    assert.equal(seen.length, 0);

    const allowed = await send('DELETE', '/v1/mcp-servers/s-1', 'owner', spoof);
    assert.equal(allowed.status, 201);
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!.method, seen[0]!.url], ['DELETE', '/v1/mcp-servers/s-1']);
    assert.equal(seen[0]!.headers['x-forwarded-method'], undefined);
    assert.equal(seen[0]!.headers['x-forwarded-uri'], undefined);
    assert.equal(seen[0]!.headers['x-forwarded-host'], `127.0.0.1:${port}`);
    assert.equal(seen[0]!.headers['x-forwarded-proto'], 'http');
  });

  test('a client-sent X-Portcullis-* header is refused, so Traefik never copies an answer header beside a client copy', async () => {
    for (const name of ['X-Portcullis-Principal', 'X-Portcullis-Decision-Id', 'X-Portcullis-Reason']) {
      await assertRefused(await send('POST', '/v1/mcp-servers', 'owner', { [name]: 'spoofed' }), 'forbidden_header', name);
    }
    assert.equal(seen.length, 0);
  });

  test('a method override header is refused: Traefik would pass it on to the upstream, which could act on another method than the one decided', async () => {
    for (const name of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']) {
      await assertRefused(await send('GET', '/v1/mcp-servers', 'member', { [name]: 'DELETE' }), 'forbidden_header', name);
    }
    assert.equal(seen.length, 0);
  });

  test('Traefik normalizes the path before it asks (%2D is -), so the path decided is the path the upstream gets; an encoded separator or delimiter is refused by Traefik', async () => {
    const denied = await send('POST', '/v1/mcp%2Dservers', 'member');
    const refusal = await recorded(denied);
    assert.deepEqual([refusal?.action, refusal?.gatewayRequest?.method, refusal?.gatewayRequest?.path], ['create', 'POST', '/v1/mcp-servers']);
    await assertRefused(denied, 'read_only_role', 'member %2D');
    assert.equal(seen.length, 0);

    const allowed = await send('POST', '/v1/mcp%2Dservers', 'owner');
    assert.equal(allowed.status, 201);
    await sidecar!.sidecar.audit.flush();
    const decision = await sidecar!.sidecar.audit.getDecision(String(seen[0]!.headers['x-portcullis-decision-id']));
    assert.equal(decision?.gatewayRequest?.path, '/v1/mcp-servers');
    assert.deepEqual(
      seen.map((s) => [s.method, s.url]),
      [['POST', '/v1/mcp-servers']],
    );

    // The example's encodedCharacters: Traefik's own 400 (Portcullis would answer 403), nothing forwarded.
    for (const path of [
      '/v1/mcp-servers%2Fs-1',
      '/v1/mcp-servers%5Cs-1',
      '/v1/mcp-servers%3Bs-1',
      '/v1/mcp-servers%25s-1',
      '/v1/mcp-servers%3Fs-1',
      '/v1/mcp-servers%23s-1',
      '/v1/mcp-servers%00s-1',
    ]) {
      const refused = await send('DELETE', path, 'owner');
      assert.equal(refused.status, 400, path);
      assert.equal(refused.headers.get('x-portcullis-reason'), null, path);
    }
    assert.equal(seen.length, 1);
  });
});

describe("Traefik behind a proxy it trusts (forwardedHeaders.insecure on the entry point): the client's X-Forwarded-* now reach the middleware", () => {
  test("trustForwardHeader: false still asks with Traefik's own method and URI, so the write is decided as the write", async () => {
    const spoof = { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/v1/mcp-servers?workspace_id=ws-1' };
    for (const [method, path, action] of [
      ['POST', '/v1/mcp-servers', 'create'],
      ['DELETE', '/v1/mcp-servers/s-1', 'delete'],
    ] as const) {
      const denied = await send(method, path, 'member', spoof, trustingBase);
      const decision = await recorded(denied);
      assert.deepEqual([decision?.action, decision?.gatewayRequest?.method, decision?.gatewayRequest?.path], [action, method, path]);
      assert.equal(decision?.gatewayRequest?.headers['x-forwarded-method'], method);
      await assertRefused(denied, 'read_only_role', `member ${method}`);
    }
    assert.equal(seen.length, 0);
  });
});
