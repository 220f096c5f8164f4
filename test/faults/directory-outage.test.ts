// The workspace directory and the settings while Redis cannot answer, with a real
// redis-server made slow (DEBUG SLEEP past the command timeout), paused (SIGSTOP, then
// SIGCONT) and killed (SIGKILL, then restarted on its data): on every decision path —
// /v1/authorize, the OPA data and batch API, Envoy ext_authz over HTTP and gRPC — a
// workspace the directory has not confirmed within the staleness bound is denied
// directory_unavailable, and one whose settings are not cached settings_unavailable, for
// owners, admins, managers and members alike. The caller's organization is never taken
// for the directory's. With Redis back the same requests are decided as usual, and the
// denials are in the audit. The warnings of an outage say what is denied, without stacks.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Sidecar } from '../../src/sidecar.ts';
import { envoy, grpcCheck, grpcClient, type CheckClient } from '../gateway/clients.ts';
import { JWT_SECRET, signToken } from '../gateway/support.ts';
import { RedisServer } from '../support/redis.ts';
import { serve, testSidecar } from '../support/sidecar.ts';
import { launchSidecar } from '../support/launch.ts';
import { authorize, registerWorkspace } from './support.ts';

let dataDir: string;
let redis: RedisServer;
/** Sends DEBUG SLEEP; its own connection, with no command timeout. */
let probe: Redis;
let sidecar: Sidecar;
let served: { url: string; close(): Promise<void> };
let client: CheckClient;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-directory-outage-'));
  // Its data on disk, so that a restart after SIGKILL has the directory back.
  redis = await RedisServer.start({ dataDir, args: ['--enable-debug-command', 'local'] });
  probe = new Redis(redis.url);
  // It reconnects by itself after the SIGKILL fault; a refused connection meanwhile is expected.
  probe.on('error', () => undefined);
  sidecar = await testSidecar({
    redisUrl: redis.url,
    forwardAuthHeaders: 'envoy',
    gatewayJwtSecret: JWT_SECRET,
    redisCommandTimeoutMs: 200,
    redisReconnectMaxMs: 200,
    // Long enough that a directory answer cached before a fault still serves during it on a
    // slow machine: the cases that must be denied are those never confirmed at all.
    settingsMaxStaleMs: 120_000,
    bundleWatch: false,
    auditFlushMs: 10,
  });
  served = await serve(sidecar);
  client = grpcClient(await sidecar.grpc.listen('127.0.0.1', 0));
});

after(async () => {
  client?.close();
  await served?.close();
  probe?.disconnect();
  await redis?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

type Role = 'owner' | 'admin' | 'manager' | 'member';
type Action = 'read' | 'create' | 'delete';

/** A decision request of `role` in organization `orgId`; the resource names `resourceOrgId` (the caller's claim). */
function body(role: Role, action: Action, workspaceId: string, orgId = 'org-A', resourceOrgId = orgId) {
  const orgRole = role === 'owner' || role === 'admin' ? role : 'member';
  const workspaceRoles: Record<string, string> = role === 'manager' || role === 'member' ? { [workspaceId]: role } : {};
  return {
    principal: { id: `u-${role}-${orgId}`, orgId, orgRole, workspaceRoles },
    action,
    resource: { type: 'mcp_server', orgId: resourceOrgId, workspaceId },
  };
}
type Body = ReturnType<typeof body>;

interface Answer {
  allow: boolean;
  /** null where the API answers no reason (the OPA allow rule). */
  reason: string | null;
  decisionId: string | null;
}

const GATEWAY_REQUEST: Record<Action, [string, string]> = {
  read: ['GET', '/v1/mcp-servers'],
  create: ['POST', '/v1/mcp-servers'],
  delete: ['DELETE', '/v1/mcp-servers/s-1'],
};

async function post(path: string, payload: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(served.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  const answer = (await response.json()) as Record<string, unknown>;
  assert.ok(response.status === 200 || response.status === 207, `${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** The gateways' token for the principal of `b`: its organization is the token's claim. */
const tokenOf = (b: Body) =>
  signToken({ sub: b.principal.id, org_id: b.principal.orgId, org_role: b.principal.orgRole, workspace_roles: b.principal.workspaceRoles });

/** Every path that decides, each asked the same request its own way. */
const PATHS: Record<string, (b: Body) => Promise<Answer>> = {
  authorize: async (b) => {
    const answer = await post('/v1/authorize', b);
    return { allow: answer.allow as boolean, reason: answer.reason as string, decisionId: answer.decisionId as string };
  },
  opa_allow: async (b) => {
    const answer = await post('/v1/data/portkey/authz/allow', { input: b });
    return { allow: answer.result as boolean, reason: null, decisionId: answer.decision_id as string };
  },
  opa_decision: async (b) => {
    const answer = await post('/v1/data/portkey/authz/decision', { input: b });
    const result = answer.result as { allow: boolean; reason: string };
    return { allow: result.allow, reason: result.reason, decisionId: answer.decision_id as string };
  },
  opa_batch: async (b) => {
    const answer = await post('/v1/batch/data/portkey/authz/decision', { inputs: { one: b } });
    const one = (answer.responses as Record<string, { result: { allow: boolean; reason: string }; decision_id: string }>).one!;
    return { allow: one.result.allow, reason: one.result.reason, decisionId: one.decision_id };
  },
  ext_authz_http: async (b) => {
    const [method, path] = GATEWAY_REQUEST[b.action as Action];
    const answer = await envoy(served, method, path, [
      ['authorization', `Bearer ${await tokenOf(b)}`],
      ['x-portkey-workspace-id', b.resource.workspaceId],
    ]);
    assert.ok(answer.status === 200 || answer.status === 403, `ext_authz: ${answer.status} ${answer.body}`);
    return { allow: answer.status === 200, reason: answer.reason, decisionId: answer.decisionId };
  },
  ext_authz_grpc: async (b) => {
    const [method, path] = GATEWAY_REQUEST[b.action as Action];
    const answer = await grpcCheck(client, {
      method,
      path,
      headers: [
        ['authorization', `Bearer ${await tokenOf(b)}`],
        ['x-portkey-workspace-id', b.resource.workspaceId],
      ],
    });
    assert.equal(answer.grpcError, null, 'a gRPC error, not an answer');
    const { code, reason, decisionId } = answer as { code: number; reason: string | null; decisionId: string | null };
    return { allow: code === 0, reason, decisionId };
  },
};

interface Case {
  what: string;
  body: Body;
  /** The reason every path that names one must answer: always a denial. */
  reason: string;
}

/** Asks every case on every path at once (a fault lasts a bounded time); the answers by case and path. */
async function askAll(cases: Case[]): Promise<Array<{ c: Case; path: string; answer: Answer }>> {
  return Promise.all(cases.flatMap((c) => Object.entries(PATHS).map(async ([path, ask]) => ({ c, path, answer: await ask(c.body) }))));
}

async function readyAgain(): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${served.url}/health/ready`)).status !== 200) {
    assert.ok(Date.now() < deadline, 'not ready 30 s after Redis came back');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ROLE_ACTIONS: Array<[Role, Action]> = [
  ['owner', 'delete'],
  ['admin', 'delete'],
  ['manager', 'read'],
  ['manager', 'create'],
  ['member', 'read'],
];

let sleeping: Promise<unknown> | undefined;
const FAULTS = [
  {
    name: 'slow: DEBUG SLEEP answers later than REDIS_COMMAND_TIMEOUT_MS',
    start: async () => {
      sleeping = probe.call('DEBUG', 'SLEEP', '8');
      // Time for the probe's command to reach the server: what is sent after it waits.
      await new Promise((r) => setTimeout(r, 200));
    },
    end: async () => {
      await sleeping;
    },
  },
  { name: 'paused: SIGSTOP, then SIGCONT', start: async () => redis.pause(), end: async () => redis.resume() },
  { name: 'killed: SIGKILL, then restarted', start: () => redis.stop(), end: () => redis.start() },
];

describe('Redis cannot answer: every decision path denies what it cannot place', () => {
  for (const [i, fault] of FAULTS.entries()) {
    test(fault.name, async (t) => {
      // Fresh workspaces per fault: none of them decided before, unless the case says so.
      const own = `ws-own-${i}`;
      const victim = `ws-victim-${i}`;
      const settingsOnly = `ws-set-${i}`;
      // Written straight into Redis, with no change message: a message that arrived after the
      // probe below would make the store forget the directory answer it caches.
      for (const [workspaceId, orgId] of [
        [own, 'org-A'],
        [victim, 'org-B'],
        [settingsOnly, 'org-A'],
      ] as const)
        await probe.set(`portcullis:directory:{${workspaceId}}`, orgId);
      // An org-B owner asking in org-A's workspace is cross_org: the directory's answer is now
      // cached, and no settings were read for it.
      assert.equal((await PATHS.authorize!(body('owner', 'read', settingsOnly, 'org-B'))).reason, 'cross_org');

      const cases: Case[] = [
        ...ROLE_ACTIONS.map(
          ([role, action]): Case => ({ what: `${role} ${action} in its own workspace`, body: body(role, action, own), reason: 'directory_unavailable' }),
        ),
        // The reproduction: an org-A owner names its own organization on org-B's workspace.
        {
          what: "org-A owner deletes in org-B's workspace naming org-A",
          body: body('owner', 'delete', victim, 'org-A', 'org-A'),
          reason: 'directory_unavailable',
        },
        ...ROLE_ACTIONS.map(
          ([role, action]): Case => ({
            what: `${role} ${action} where only the directory is cached`,
            body: body(role, action, settingsOnly),
            reason: 'settings_unavailable',
          }),
        ),
      ];

      await fault.start();
      let answers: Awaited<ReturnType<typeof askAll>>;
      try {
        answers = await askAll(cases);
      } finally {
        await fault.end();
      }
      for (const { c, path, answer } of answers) {
        assert.equal(answer.allow, false, `${path}: ${c.what} was allowed during the outage`);
        if (answer.reason !== null) assert.equal(answer.reason, c.reason, `${path}: ${c.what}`);
        assert.ok(answer.decisionId, `${path}: ${c.what} has a decision id`);
      }
      t.diagnostic(`${answers.length} answers during the fault, none allowed`);

      await readyAgain();
      const healthy: Array<[string, Body, boolean, string]> = [
        ['the reproduction', body('owner', 'delete', victim, 'org-A', 'org-A'), false, 'cross_org'],
        ['an owner in its own workspace', body('owner', 'delete', own), true, 'org_admin'],
        ['a member reading where only the directory was cached', body('member', 'read', settingsOnly), true, 'workspace_read'],
      ];
      for (const [what, request, allow, reason] of healthy) {
        for (const [path, ask] of Object.entries(PATHS)) {
          const answer = await ask(request);
          assert.equal(answer.allow, allow, `${path}: ${what} with Redis back`);
          if (answer.reason !== null) assert.equal(answer.reason, reason, `${path}: ${what} with Redis back`);
        }
      }

      // Every denial was recorded; those the directory did not place say so.
      await sidecar.audit.flush();
      for (const { c, path, answer } of answers) {
        const record = await sidecar.audit.getDecision(answer.decisionId!);
        assert.ok(record, `${path}: ${c.what} recorded`);
        assert.deepEqual([record.allow, record.reason], [false, c.reason], `${path}: ${c.what}`);
        assert.equal(record.orgUnverified, c.reason === 'directory_unavailable' ? true : undefined, `${path}: ${c.what}`);
        assert.equal(record.orgId, 'org-A', "recorded in the principal's organization");
      }
    });
  }
});

test('an unregistered workspace is unknown_workspace on every path, recorded as unverified', async () => {
  const answers = await askAll([
    { what: 'an owner in a workspace nobody registered', body: body('owner', 'delete', 'ws-nobody-registered'), reason: 'unknown_workspace' },
  ]);
  await sidecar.audit.flush();
  for (const { path, answer } of answers) {
    assert.equal(answer.allow, false, path);
    if (answer.reason !== null) assert.equal(answer.reason, 'unknown_workspace', path);
    const record = await sidecar.audit.getDecision(answer.decisionId!);
    assert.deepEqual([record?.reason, record?.orgUnverified], ['unknown_workspace', true], path);
  }
});

test("the outage warnings say what is denied, with the error's message and code and no stack", async (t) => {
  const own = await RedisServer.start();
  t.after(() => own.stop());
  const process = await launchSidecar({ REDIS_URL: own.url, REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_RECONNECT_MAX_MS: '200' }, { readyPath: '/health/ready' });
  t.after(async () => {
    own.resume();
    await process.stop();
  });
  await registerWorkspace(process.url, 'org-A', 'ws-logged');
  own.pause();
  const answer = await authorize(process.url, body('owner', 'delete', 'ws-logged'));
  assert.deepEqual([answer.status, answer.body.allow, answer.body.reason], [200, false, 'directory_unavailable']);
  own.resume();
  // The log line reaches this process through a pipe, possibly after the answer.
  const warningIn = () =>
    process
      .output()
      .split('\n')
      .filter((line) => line.includes('(directory_unavailable)'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)[0];
  const deadline = Date.now() + 10_000;
  while (!warningIn() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const warning = warningIn();
  assert.ok(warning, `no directory warning in:\n${process.output()}`);
  assert.match(String(warning.msg), /denying/);
  assert.deepEqual(
    Object.keys(warning.error as object)
      .sort()
      .filter((key) => key !== 'code'),
    ['message'],
  );
  assert.ok(!/"stack"|\n\s+at |ioredis/.test(JSON.stringify(warning)), JSON.stringify(warning));
});
