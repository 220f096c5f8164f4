// Health (OPA's shape) and readiness, for probes on every listener; status and Prometheus
// metrics, which go with the admin surface.
import { Router } from 'express';
import type { ActivePolicy } from '../engine/active.ts';
import type { PolicyEngine } from '../engine/engine.ts';
import type { Metrics } from '../metrics.ts';
import type { SettingsStore } from '../settings/types.ts';
import type { CallerStatus } from '../access/callers.ts';
import type { StartupWarning } from '../warnings.ts';
import { PACKAGE_VERSION } from '../package.ts';
import { metricsExposition } from '../workers/metrics.ts';

// A decision whose answer no bundle of this policy can change: an organization owner
// reading in their own organization is allowed (org_admin). Evaluated directly on the
// engine, so a readiness probe is not a decision: it is neither audited nor counted.
const CANARY_INPUT = {
  principal: { id: 'readiness-canary', orgId: 'readiness-canary', orgRole: 'owner', workspaceRoles: {} },
  action: 'read',
  resource: { type: 'integration', orgId: 'readiness-canary', workspaceId: 'readiness-canary' },
  settings: { org: {}, workspace: {} },
};

/** Whether the engine answers the canary decision, and answers it right. */
function engineAnswers(engine: PolicyEngine | undefined): boolean {
  if (!engine) return false;
  try {
    return engine.decide(CANARY_INPUT).allow === true;
  } catch {
    return false;
  }
}

export function healthRoutes(policy: ActivePolicy, store: SettingsStore): Router {
  const router = Router();

  // Liveness as OPA answers it: 200 {} once a bundle is active (also with ?bundles).
  router.get('/health', (_req, res) => {
    if (policy.current) res.json({});
    else res.status(500).json({ error: 'no policy bundle is active yet' });
  });

  // Readiness: a bundle is active, its engine answers a canary decision correctly, and
  // the settings store answers a round trip now (a paused or stalled Redis does not). Liveness above stays OPA's: it says nothing of these.
  router.get('/health/ready', async (_req, res) => {
    const settingsStore =
      store.isReady() &&
      (await store.ping().then(
        () => true,
        () => false,
      ));
    const checks = { bundle: policy.current !== undefined, engine: engineAnswers(policy.current), settingsStore };
    const ready = checks.bundle && checks.engine && checks.settingsStore;
    res.status(ready ? 200 : 503).json({ ready, checks });
  });

  return router;
}

export interface StatusFacts {
  storeKind: string;
  /** Whether the workspace directory decides a resource's organization (WORKSPACE_DIRECTORY). */
  workspaceDirectory: boolean;
  callers: CallerStatus;
  warnings: readonly StartupWarning[];
}

export function statusRoutes(policy: ActivePolicy, store: SettingsStore, metrics: Metrics, facts: StatusFacts): Router {
  const { storeKind, workspaceDirectory, callers, warnings } = facts;
  const router = Router();
  const startedAt = new Date().toISOString();

  router.get('/v1/status', (_req, res) => {
    res.json({
      version: PACKAGE_VERSION,
      startedAt,
      bundle: policy.current ? { revision: policy.current.revision, entrypoints: policy.current.entrypoints } : null,
      settingsStore: { kind: storeKind, ready: store.isReady() },
      // "off" (WORKSPACE_DIRECTORY=off): organizations are the callers' word, unchecked.
      workspaceDirectory: workspaceDirectory ? 'on' : 'off',
      // Who may ask for decisions: DECIDE_AUTH, the rate limit, the Origin and Host allow-lists.
      callers,
      // Which process answered: with WORKERS > 1, one of several.
      pid: process.pid,
      // The dangerous modes this instance runs in (checked at start), so a probe or a person can see them.
      warnings,
    });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metricsExposition(metrics.registry));
  });

  return router;
}
