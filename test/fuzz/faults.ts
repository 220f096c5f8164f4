// The fuzzer under faults: hostile decision requests flow through every decision path of a
// sidecar on a real redis-server that is paused (SIGSTOP) and resumed (SIGCONT) at random
// points. The invariant: no answer given during the faults allows what the same request is
// denied with Redis healthy. Every request allowed during the run is asked again once Redis
// is back, and must still be allowed; no 5xx, no gRPC INTERNAL/UNKNOWN, no allow for a
// malformed request, as in the healthy run.
import { Agent } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { random } from '../support/random.ts';
import { RedisServer } from '../support/redis.ts';
import { registerWorkspaces } from '../support/sidecar.ts';
import { generate, type Api, type Case } from './grammar.ts';
import { check, describe, judgeHttp, parse, send, startTarget, stopTarget, tokenPool, WORKSPACES, type Target, type Violation } from './run.ts';

/** The APIs that decide (the admin and audit APIs are left out: settings must not change between the two askings). */
const DECISION_APIS: readonly Api[] = ['authorize', 'opa_allow', 'opa_decision', 'opa_batch', 'gateway_envoy', 'gateway_nginx', 'gateway_grpc'];
/** Reasons that say a dependency could not answer. */
const OUTAGE_REASONS = new Set(['directory_unavailable', 'settings_unavailable']);

export interface FaultReport {
  requests: number;
  /** How many times Redis was paused during the run. */
  pauses: number;
  /** Requests allowed (a whole answer, or one batch item) while Redis came and went: each asked again with Redis healthy. */
  allowedDuringFaults: number;
  /** Answers that named an outage reason (directory_unavailable, settings_unavailable). */
  outageDenials: number;
  violations: Violation[];
  seconds: number;
}

interface Answered {
  /** What was allowed: "*" for a whole answer, else the batch keys. */
  allowed: string[];
  /** Reasons the answer names (one per batch item). */
  reasons: string[];
  /** The status as reported, and the text for a violation. */
  status: string;
  text: string;
  invariants: string[];
}

/** Asks one case and reads what it allowed. */
async function ask(target: Target, agent: Agent, c: Case): Promise<Answered> {
  if (c.transport === 'grpc') {
    const { code, response } = await check(target, c.request);
    const status = code === grpc.status.OK ? `OK/${response?.status?.code ?? 0}` : (grpc.status[code] ?? String(code));
    const invariants =
      code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN || code === grpc.status.DEADLINE_EXCEEDED ? ['no gRPC INTERNAL/UNKNOWN/no answer'] : [];
    const allowed = code === grpc.status.OK && response?.httpResponse === 'okResponse';
    return { allowed: allowed ? ['*'] : [], reasons: [], status, text: '', invariants };
  }
  const answer = await send(agent, target.url, c);
  const body = parse(answer.text);
  const found = { allowed: [] as string[], reasons: [] as string[], status: String(answer.status), text: answer.text, invariants: judgeHttp(c, answer) };
  if (answer.status !== 200 && answer.status !== 207) return found;
  const { judge } = c;
  if (judge.kind === 'gateway') {
    if (answer.status === 200) found.allowed.push('*');
  } else if (judge.kind === 'decision') {
    const result = judge.result === 'authorize' ? body : judge.result === 'decision' ? body?.result : undefined;
    const allowed = judge.result === 'allow' ? body?.result === true : result?.allow === true;
    if (allowed) found.allowed.push('*');
    if (typeof result?.reason === 'string') found.reasons.push(result.reason);
  } else if (judge.kind === 'batch') {
    const responses = (body?.responses ?? {}) as Record<string, { result?: unknown }>;
    for (const [key, item] of Object.entries(responses)) {
      const result = item?.result as { allow?: unknown; reason?: unknown } | boolean | undefined;
      if (result === true || (typeof result === 'object' && result?.allow === true)) found.allowed.push(key);
      if (typeof result === 'object' && typeof result?.reason === 'string') found.reasons.push(result.reason);
    }
  }
  return found;
}

export async function fuzzUnderFaults(options: { requests: number; seed: number; concurrency?: number }): Promise<FaultReport> {
  const started = performance.now();
  const redis = await RedisServer.start();
  const report: FaultReport = { requests: 0, pauses: 0, allowedDuringFaults: 0, outageDenials: 0, violations: [], seconds: 0 };
  let target: Target | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let chaos: Promise<void> | undefined;
  let running = true;
  try {
    const tokens = await tokenPool(options.seed);
    // A short command timeout and staleness bound, so that pauses outlast both.
    target = await startTarget(
      'redis, paused at random',
      'jwt',
      { redisUrl: redis.url, auditFlushMs: 10, redisCommandTimeoutMs: 100, redisReconnectMaxMs: 100, settingsMaxStaleMs: 400, settingsRevalidateMs: 100 },
      tokens,
    );
    await registerWorkspaces(target.sidecar, WORKSPACES);
    const violation = (c: Case, invariant: string, status: string, text: string) =>
      report.violations.push({ api: c.api, target: target!.name, invariant, status, input: describe(c), answer: text.slice(0, 300) });

    const rng = random(options.seed);
    const chaosRng = random(options.seed ^ 0xfa17);
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    chaos = (async () => {
      while (running) {
        await wait(20 + chaosRng.int(300));
        if (!running) break;
        redis.pause();
        report.pauses++;
        await wait(50 + chaosRng.int(700));
        redis.resume();
      }
    })();

    const allowedDuring: Array<{ c: Case; allowed: string[] }> = [];
    let issued = 0;
    const worker = async () => {
      while (issued < options.requests) {
        issued++;
        const c = generate(rng.pick(DECISION_APIS), { rng, identity: 'jwt', tokens });
        let answered: Answered;
        try {
          answered = await ask(target!, agent, c);
        } catch (error) {
          violation(c, 'an answer for every request', 'none', String(error));
          continue;
        }
        report.requests++;
        for (const invariant of answered.invariants) violation(c, invariant, answered.status, answered.text);
        report.outageDenials += answered.reasons.filter((reason) => OUTAGE_REASONS.has(reason)).length;
        if (answered.allowed.length > 0) allowedDuring.push({ c, allowed: answered.allowed });
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
    running = false;
    await chaos;
    redis.resume();

    // Redis healthy again: wait until the sidecar says so, then ask what was allowed once more.
    const deadline = Date.now() + 30_000;
    while ((await send(agent, target.url, { method: 'GET', path: '/health/ready', headers: {} }).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new Error('the sidecar is not ready 30 s after Redis was resumed');
      await wait(100);
    }
    for (const { c, allowed } of allowedDuring) {
      report.allowedDuringFaults += allowed.length;
      // Ready says Redis answers; a read still in flight from the last pause may yet name an
      // outage, which is a denial of its own, not the healthy answer: ask until it is one.
      let healthy = await ask(target, agent, c);
      while (healthy.reasons.some((reason) => OUTAGE_REASONS.has(reason)) && Date.now() < deadline + 30_000) {
        await wait(100);
        healthy = await ask(target, agent, c);
      }
      const denied = allowed.filter((key) => !healthy.allowed.includes(key));
      if (denied.length > 0)
        violation(
          c,
          `no allow under a fault that healthy Redis denies (${denied.join(', ').slice(0, 60)}: ${healthy.reasons.join(', ')})`,
          healthy.status,
          healthy.text,
        );
    }
  } finally {
    running = false;
    await chaos;
    redis.resume();
    agent.destroy();
    if (target) await stopTarget(target);
    await redis.stop();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
