// Shared by the cluster tests: decisions at a steady rate from several sidecars and an admin
// writing settings one change after another, both recorded with their send and answer
// times, while `during` drives an event (a failover, a resharding).
import type { Config } from '../../src/config.ts';
import { ADMIN_TOKEN, serve, testConfig, testSidecar } from '../support/sidecar.ts';

/** A sidecar on the cluster, served over HTTP on a free loopback port (in this process: no start-up race on a busy machine). */
export async function clusterSidecar(nodes: string[], overrides: Partial<Config> = {}): Promise<{ url: string; close(): Promise<void> }> {
  const config = testConfig({ redisClusterNodes: nodes.join(','), bundleWatch: false, auditFlushMs: 10, ...overrides });
  return serve(await testSidecar(config), config);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Write {
  index: number;
  /** The value written (managersWriteMcpServers): what a manager's create is answered. */
  allow: boolean;
  sentAt: number;
  answeredAt: number;
  /** 0: no answer (the request failed). */
  status: number;
  /** The settings version the answer's ETag names. */
  version?: number;
  code?: string;
}

export interface Decision {
  sentAt: number;
  answeredAt: number;
  status: number;
  allow?: boolean;
  reason?: string;
  decisionId?: string;
}

export interface LoadOptions {
  /** One function per sidecar; each is called from two loops at a steady rate. */
  decide: Array<() => Promise<{ status: number; body: Record<string, unknown> }>>;
  /** The i-th settings write. */
  write: (i: number, allow: boolean) => Promise<Response>;
  /** Runs while the load goes on; the load stops when it returns. */
  during: () => Promise<void>;
  decisionPeriodMs?: number;
  writePauseMs?: number;
}

export async function runLoad(options: LoadOptions): Promise<{ writes: Write[]; decisions: Decision[] }> {
  const period = options.decisionPeriodMs ?? 20;
  const writePause = options.writePauseMs ?? 1_000;
  const writes: Write[] = [];
  const decisions: Decision[] = [];
  let running = true;
  const decideLoops = options.decide.flatMap((decide) =>
    [0, 1].map(async () => {
      while (running) {
        const sentAt = performance.now();
        try {
          const answer = await decide();
          decisions.push({
            sentAt,
            answeredAt: performance.now(),
            status: answer.status,
            allow: answer.body.allow as boolean | undefined,
            reason: answer.body.reason as string | undefined,
            decisionId: answer.body.decisionId as string | undefined,
          });
        } catch {
          decisions.push({ sentAt, answeredAt: performance.now(), status: 0 });
        }
        await sleep(Math.max(0, period - (performance.now() - sentAt)));
      }
    }),
  );
  const writeLoop = (async () => {
    for (let index = 0; running; index++) {
      const allow = index % 2 === 1;
      const sentAt = performance.now();
      let write: Write;
      try {
        const response = await options.write(index, allow);
        const answer = (await response.json()) as { code?: string };
        const etag = response.headers.get('etag');
        write = {
          index,
          allow,
          sentAt,
          answeredAt: performance.now(),
          status: response.status,
          ...(etag ? { version: Number(etag.replaceAll('"', '')) } : {}),
          ...(answer.code ? { code: answer.code } : {}),
        };
      } catch {
        write = { index, allow, sentAt, answeredAt: performance.now(), status: 0 };
      }
      writes.push(write);
      await sleep(writePause);
    }
  })();
  try {
    await options.during();
  } finally {
    running = false;
    await Promise.all([...decideLoops, writeLoop]);
  }
  return { writes, decisions };
}

/** The organization's integration settings as stored now: their version and the value the writes toggle. */
export async function readSettings(url: string, orgId: string): Promise<{ version: number; allow: boolean }> {
  const response = await fetch(`${url}/v1/orgs/${orgId}/settings/integration-access`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`GET settings: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { managersWriteMcpServers: boolean };
  return { version: Number(response.headers.get('etag')!.replaceAll('"', '')), allow: body.managersWriteMcpServers };
}

export interface Report {
  acknowledged: number;
  unconfirmed: number;
  otherFailures: number;
  lost: number;
  lostDetail: string;
  contradictions: number;
  contradictionDetail: string;
  afterEvent: number;
  failed: number;
  failedOpen: number;
  noAnswer: number;
  finalVersion: number;
}

/** Denials that say Redis could not answer: the decision failed, closed. */
const FAILED_CLOSED = new Set(['settings_unavailable', 'directory_unavailable']);

/**
 * What a run shows. `propagationMs`: a decision sent this long after a write was
 * acknowledged must reflect it (the single-node bound of test/faults/consistency.test.ts).
 * `since`: decisions sent from then on are counted as after the event.
 */
export function analyse(writes: Write[], decisions: Decision[], final: { version: number; allow: boolean }, since: number, propagationMs: number): Report {
  const acked = writes.filter((w) => w.status === 200);
  // Writes are made one after another, so acknowledged versions must strictly increase:
  // a lost acknowledged write shows as a later write given its version number (or a lower one).
  let lost = 0;
  const lostDetail: string[] = [];
  for (let i = 1; i < acked.length; i++) {
    if (acked[i]!.version! <= acked[i - 1]!.version!) {
      lost++;
      lostDetail.push(
        `write ${acked[i]!.index} got version ${acked[i]!.version} after write ${acked[i - 1]!.index} was acknowledged with ${acked[i - 1]!.version}`,
      );
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
  // A decision sent propagationMs after write k was acknowledged, and answered before the
  // next write was sent, must answer with write k's value.
  let contradictions = 0;
  const contradictionDetail: string[] = [];
  for (const decision of decisions) {
    if (decision.status !== 200 || FAILED_CLOSED.has(String(decision.reason))) continue;
    const k = writes.findLastIndex((w) => w.answeredAt <= decision.sentAt);
    if (k < 0 || writes[k]!.status !== 200) continue;
    if (decision.sentAt < writes[k]!.answeredAt + propagationMs) continue;
    const next = writes[k + 1];
    if (next && next.sentAt <= decision.answeredAt) continue;
    if (decision.allow !== writes[k]!.allow) {
      contradictions++;
      if (contradictionDetail.length < 5)
        contradictionDetail.push(
          `decision ${decision.decisionId} sent ${(decision.sentAt - writes[k]!.answeredAt).toFixed(0)} ms after write ${k} (allow=${writes[k]!.allow}) answered allow=${decision.allow}`,
        );
    }
  }
  const failures = decisions.filter((d) => d.status !== 200 || FAILED_CLOSED.has(String(d.reason)));
  return {
    acknowledged: acked.length,
    unconfirmed: writes.filter((w) => w.status === 503).length,
    otherFailures: writes.filter((w) => w.status !== 200 && w.status !== 503).length,
    lost,
    lostDetail: lostDetail.join('\n'),
    contradictions,
    contradictionDetail: contradictionDetail.join('\n'),
    afterEvent: decisions.filter((d) => d.sentAt >= since).length,
    failed: failures.length,
    failedOpen: failures.filter((d) => d.allow === true).length,
    noAnswer: decisions.filter((d) => d.status === 0).length,
    finalVersion,
  };
}

/**
 * The audit trail of the decisions answered: every decision id looked up by id (waiting,
 * bounded, for batches the writer is still resending), and the organization's records
 * listed to count duplicates.
 */
export async function auditFigures(url: string, orgId: string, decisions: Decision[]): Promise<{ answered: number; lost: number; duplicated: number }> {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  let missing = [...new Set(decisions.flatMap((d) => (d.status === 200 && d.decisionId ? [d.decisionId] : [])))];
  const answered = missing.length;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const stillMissing: string[] = [];
    for (const id of missing) {
      const response = await fetch(`${url}/v1/audit/decisions/${id}`, { headers: auth });
      await response.arrayBuffer();
      if (response.status !== 200) stillMissing.push(id);
    }
    missing = stillMissing;
    if (missing.length === 0 || Date.now() > deadline) break;
    await sleep(500);
  }
  const seen = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const response = await fetch(`${url}/v1/audit/decisions?orgId=${orgId}&limit=500${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth });
    if (response.status !== 200) throw new Error(`audit query: ${response.status} ${await response.text()}`);
    const page = (await response.json()) as { decisions: Array<{ decisionId: string }>; nextCursor: string | null };
    for (const record of page.decisions) seen.set(record.decisionId, (seen.get(record.decisionId) ?? 0) + 1);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  const duplicated = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
  return { answered, lost: missing.length, duplicated };
}
