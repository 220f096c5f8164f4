// Failover under load on a real 3+3 Redis Cluster: two sidecar processes decide at a steady
// rate while an admin writes the organization's settings through them, and the master that
// holds the organization's slot is SIGKILLed; its replica is promoted by the cluster.
// Measured and asserted: acknowledged settings writes lost = 0; decisions that contradict
// an acknowledged write = 0; decisions that failed meanwhile are counted, and every one of
// them failed closed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRedisCluster, type RedisCluster } from '../support/cluster.ts';
import { decisionRequest } from '../support/sidecar.ts';
import { authorize, putSettings, startSidecarProcess, tempDir, type SidecarProcess } from '../faults/support.ts';
import { readSettings, runLoad, sleep, type Decision, type Write } from './load.ts';

const ORG = 'org-failover';
const SETTINGS_KEY = `portcullis:settings:{${ORG}}`;
const REVALIDATE_MS = 1_000;
/** A decision sent this long after a write was acknowledged must reflect it (as on one node: test/faults/consistency.test.ts). */
const PROPAGATION_MS = REVALIDATE_MS / 2;

let cluster: RedisCluster;
const sidecars: SidecarProcess[] = [];

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 });
});
after(async () => {
  await Promise.all(sidecars.map((sidecar) => sidecar.stop()));
  await cluster?.stop();
});

test('failover under load: the master of the organization\'s slot is SIGKILLed while two sidecars decide and an admin writes', async (t) => {
  for (let i = 0; i < 2; i++) {
    sidecars.push(
      await startSidecarProcess({
        REDIS_CLUSTER_NODES: cluster.nodes.join(','),
        SETTINGS_REVALIDATE_MS: String(REVALIDATE_MS),
        BUNDLE_WATCH: 'false',
        AUDIT_SPILL_DIR: await tempDir(t),
        AUDIT_FLUSH_MS: '10',
      }),
    );
  }
  const [a, b] = sidecars as [SidecarProcess, SidecarProcess];
  const body = decisionRequest({ orgId: ORG });
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
  const report = analyse(result.writes, result.decisions, await readSettings(b.url, ORG), killedAt[0]!);
  const line =
    `failover: ${result.writes.length} settings writes (${report.acknowledged} acknowledged, ${report.unconfirmed} answered 503, ${report.otherFailures} other failures), ` +
    `acknowledged writes lost: ${report.lost}; ${result.decisions.length} decisions (${report.afterFailover} after the kill), ` +
    `contradicting an acknowledged write: ${report.contradictions}, failed (closed): ${report.failed}, failed open: ${report.failedOpen}, errors (no answer): ${report.noAnswer}; ` +
    `final settings version ${report.finalVersion}`;
  t.diagnostic(line);
  console.log(line);
  assert.equal(report.lost, 0, report.lostDetail);
  assert.equal(report.contradictions, 0, report.contradictionDetail);
  assert.equal(report.failedOpen, 0);
  // Counts that prove the load went on (low: a loaded machine decides slowly).
  assert.ok(report.acknowledged >= 3, 'the admin kept writing through the failover');
  assert.ok(report.afterFailover >= 20, 'the sidecars kept deciding after the failover');
});

interface Report {
  acknowledged: number;
  unconfirmed: number;
  otherFailures: number;
  lost: number;
  lostDetail: string;
  contradictions: number;
  contradictionDetail: string;
  afterFailover: number;
  failed: number;
  failedOpen: number;
  noAnswer: number;
  finalVersion: number;
}

function analyse(writes: Write[], decisions: Decision[], final: { version: number; allow: boolean }, killedAt: number): Report {
  const acked = writes.filter((w) => w.status === 200);
  // Writes are made one after another, so acknowledged versions must strictly increase:
  // a lost acknowledged write shows as a later write given its version number (or a lower one).
  let lost = 0;
  const lostDetail: string[] = [];
  for (let i = 1; i < acked.length; i++) {
    if (acked[i]!.version! <= acked[i - 1]!.version!) {
      lost++;
      lostDetail.push(`write ${acked[i]!.index} got version ${acked[i]!.version} after write ${acked[i - 1]!.index} was acknowledged with ${acked[i - 1]!.version}`);
    }
  }
  const last = writes.at(-1)!;
  const finalVersion = final.version;
  if (acked.length > 0 && finalVersion < acked.at(-1)!.version!) {
    lost++;
    lostDetail.push(`the stored version ${finalVersion} is below the last acknowledged ${acked.at(-1)!.version}`);
  }
  if (last.status === 200 && final.allow !== last.allow) {
    lost++;
    lostDetail.push(`the stored value ${final.allow} is not the last acknowledged write's ${last.allow}`);
  }
  // A decision sent PROPAGATION_MS after write k was acknowledged, and answered before the
  // next write was sent, must answer with write k's value.
  let contradictions = 0;
  const contradictionDetail: string[] = [];
  for (const decision of decisions) {
    if (decision.status !== 200 || decision.reason === 'settings_unavailable') continue;
    const k = writes.findLastIndex((w) => w.answeredAt <= decision.sentAt);
    if (k < 0 || writes[k]!.status !== 200) continue;
    if (decision.sentAt < writes[k]!.answeredAt + PROPAGATION_MS) continue;
    const next = writes[k + 1];
    if (next && next.sentAt <= decision.answeredAt) continue;
    if (decision.allow !== writes[k]!.allow) {
      contradictions++;
      if (contradictionDetail.length < 5) contradictionDetail.push(`decision ${decision.decisionId} sent ${(decision.sentAt - writes[k]!.answeredAt).toFixed(0)} ms after write ${k} (allow=${writes[k]!.allow}) answered allow=${decision.allow}`);
    }
  }
  const failures = decisions.filter((d) => d.status !== 200 || d.reason === 'settings_unavailable');
  return {
    acknowledged: acked.length,
    unconfirmed: writes.filter((w) => w.status === 503).length,
    otherFailures: writes.filter((w) => w.status !== 200 && w.status !== 503).length,
    lost,
    lostDetail: lostDetail.join('\n'),
    contradictions,
    contradictionDetail: contradictionDetail.join('\n'),
    afterFailover: decisions.filter((d) => d.sentAt >= killedAt).length,
    failed: failures.length,
    failedOpen: failures.filter((d) => d.allow === true).length,
    noAnswer: decisions.filter((d) => d.status === 0).length,
    finalVersion,
  };
}
