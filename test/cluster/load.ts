// Shared by the cluster tests: decisions at a steady rate from several sidecars and an admin
// writing settings one change after another, both recorded with their send and answer
// times, while `during` drives an event (a failover, a resharding).
import { ADMIN_TOKEN } from '../support/sidecar.ts';

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
        write = { index, allow, sentAt, answeredAt: performance.now(), status: response.status, ...(etag ? { version: Number(etag.replaceAll('"', '')) } : {}), ...(answer.code ? { code: answer.code } : {}) };
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
