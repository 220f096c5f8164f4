// `make profile` companion for a noisy machine: the CPU time of one decision in-process,
// without sockets (parse the body, decide with the settings in memory, serialise the
// answer), with the decision cache off and on (the inputs repeat, so with it on every decision
// after the first of each input is a hit), and of the policy evaluation alone. CPU time per operation, the minimum over
// batches, is what other processes on the machine disturb least. Printed, never asserted.
//   node --import tsx bench/decide-cost.ts
import pino from 'pino';
import { parseAuthorizeRequest } from '../src/decision/request.ts';
import { newDecisionId } from '../src/audit/keys.ts';
import { Decider } from '../src/decision/decider.ts';
import { ActivePolicy } from '../src/engine/active.ts';
import { readBundleFile } from '../src/engine/bundle.ts';
import { PolicyEngine } from '../src/engine/engine.ts';
import { Metrics } from '../src/metrics.ts';
import { MemorySettingsStore } from '../src/settings/memory.ts';

const BATCHES = 8;
const PER_BATCH = 20_000;

const engine = await PolicyEngine.load(await readBundleFile('bundles/portkey.tar.gz'));
const policy = new ActivePolicy();
policy.activate(engine);
const store = new MemorySettingsStore();
const decider = (decisionCacheMax: number) =>
  new Decider(policy, store, { record: () => undefined }, newDecisionId, new Metrics(), pino({ level: 'silent' }), { decisionCacheMax });

const roles = [
  ['member', 'manager', 'create'],
  ['member', 'manager', 'delete'],
  ['member', 'member', 'read'],
  ['member', 'admin', 'update'],
  ['owner', undefined, 'delete'],
] as const;
const inputs = Array.from({ length: 20 }, (_, o) => `org-${o}`).flatMap((orgId, o) =>
  roles.map(([orgRole, wsRole, action]) => ({
    principal: { id: `u-${o}`, orgId, orgRole, workspaceRoles: wsRole ? { [`${orgId}-ws-1`]: wsRole } : {} },
    action,
    resource: { type: o % 2 ? 'mcp_server' : 'integration', orgId, workspaceId: `${orgId}-ws-1` },
  })),
);
const bodies = inputs.map((input) => JSON.stringify({ input }));
// Each organization's workspace in the directory, so that the policy decides every input.
for (const { resource } of inputs) await store.registerWorkspace(resource.orgId, resource.workspaceId);
const withSettings = inputs.map((input, i) => ({
  ...input,
  settings: { org: { managersWriteMcpServers: i % 3 !== 0, allowWorkspaceOverrides: { managersWriteMcpServers: true } }, workspace: {} },
}));

async function measure(name: string, op: (i: number) => unknown): Promise<void> {
  let best = Infinity;
  for (let batch = 0; batch < BATCHES; batch++) {
    const start = process.cpuUsage();
    for (let i = 0; i < PER_BATCH; i++) {
      const result = op(i);
      if (result instanceof Promise) await result;
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / PER_BATCH);
  }
  console.log(`${name.padEnd(58)} ${best.toFixed(2)} µs CPU (min of ${BATCHES} batches of ${PER_BATCH})`);
}

await measure('policy evaluation alone (engine.decide)', (i) => engine.decide(withSettings[i % 100]!));
for (const [name, cacheMax] of [
  ['decision cache off', 0],
  ['decision cache on', 10_000],
] as const) {
  const deciding = decider(cacheMax);
  await measure(`parse body + decide + serialise answer (no sockets), ${name}`, async (i) => {
    const body = JSON.parse(bodies[i % 100]!) as { input: unknown };
    const answer = await deciding.decide(parseAuthorizeRequest(body.input, engine.families.resourceTypes, 'input.'), 'opa_data', {
      requestedBy: '127.0.0.1:40000',
      path: 'portkey/authz/allow',
    });
    return JSON.stringify({ result: answer.allow, decision_id: answer.decisionId });
  });
}
