// Failover under load on a real 3+3 Redis Cluster: two sidecars decide at a steady
// rate while an admin writes the organization's settings through them, and the master that
// holds the organization's slot is SIGKILLed; its replica is promoted by the cluster.
// Measured and asserted: acknowledged settings writes lost = 0; decisions that contradict
// an acknowledged write = 0; audit records lost = 0 and duplicated = 0 (every decision id
// answered is looked up); decisions that failed meanwhile are counted, and every one of
// them failed closed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { managerInOwnWorkspace, ownWorkspace } from '../support/sidecar.ts';
import { authorize, putSettings, registerWorkspace, tempDir } from '../faults/support.ts';
import { analyse, auditFigures, clusterSidecar, readSettings, runLoad, sleep } from './load.ts';

const ORG = 'org-failover';
const SETTINGS_KEY = `portcullis:settings:{${ORG}}`;
const REVALIDATE_MS = 1_000;

let cluster: RedisCluster;
const sidecars: Array<{ url: string; close(): Promise<void> }> = [];

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
});
after(async () => {
  await Promise.all(sidecars.map((sidecar) => sidecar.close()));
  await cluster?.stop();
});

test("failover under load: the master of the organization's slot is SIGKILLed while two sidecars decide and an admin writes", async (t) => {
  for (let i = 0; i < 2; i++) {
    sidecars.push(await clusterSidecar(cluster.nodes, { settingsRevalidateMs: REVALIDATE_MS, auditSpillDir: await tempDir(t) }));
  }
  const [a, b] = [sidecars[0]!, sidecars[1]!];
  await registerWorkspace(a.url, ORG, ownWorkspace(ORG));
  const body = managerInOwnWorkspace(ORG);
  const killedAt: number[] = [];
  const result = await runLoad({
    decide: [a, b].map((sidecar) => () => authorize(sidecar.url, body)),
    write: (i, allow) => putSettings([a, b][i % 2]!.url, ORG, { managersWriteMcpServers: allow }),
    during: async () => {
      await sleep(3_000);
      killedAt.push(performance.now());
      const killed = await cluster.killMaster(SETTINGS_KEY);
      await cluster.waitHealthy();
      const promoted = await cluster.masterFor(SETTINGS_KEY);
      t.diagnostic(`killed master :${killed.port}; :${promoted.port} serves the slot ${((performance.now() - killedAt[0]!) / 1000).toFixed(1)} s later`);
      assert.notEqual(promoted.port, killed.port);
      await sleep(4_000);
    },
  });
  const report = analyse(result.writes, result.decisions, await readSettings(b.url, ORG), killedAt[0]!, REVALIDATE_MS / 2);
  const audit = await auditFigures(a.url, ORG, result.decisions);
  const line =
    `failover: ${result.writes.length} settings writes (${report.acknowledged} acknowledged, ${report.unconfirmed} answered 503, ${report.otherFailures} other failures), ` +
    `acknowledged writes lost: ${report.lost}; ${result.decisions.length} decisions (${report.afterEvent} after the kill), ` +
    `contradicting an acknowledged write: ${report.contradictions}, failed (closed): ${report.failed}, failed open: ${report.failedOpen}, errors (no answer): ${report.noAnswer}; ` +
    `audit records of ${audit.answered} decisions answered: lost ${audit.lost}, duplicated ${audit.duplicated}; final settings version ${report.finalVersion}`;
  t.diagnostic(line);
  console.log(line);
  assert.equal(report.lost, 0, report.lostDetail);
  assert.equal(report.contradictions, 0, report.contradictionDetail);
  assert.equal(report.failedOpen, 0);
  assert.equal(audit.lost, 0, 'audit records lost');
  assert.equal(audit.duplicated, 0, 'audit records duplicated');
  // Counts that prove the load went on (low: a loaded machine decides slowly).
  assert.ok(report.acknowledged >= 3, 'the admin kept writing through the failover');
  assert.ok(report.afterEvent >= 20, 'the sidecars kept deciding after the failover');
});
