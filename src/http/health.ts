// Health (OPA's shape), readiness, status and Prometheus metrics.
import { Router } from 'express';
import type { ActivePolicy } from '../engine/active.ts';
import type { Metrics } from '../metrics.ts';
import type { SettingsStore } from '../settings/types.ts';

export function healthRoutes(policy: ActivePolicy, store: SettingsStore, metrics: Metrics, storeKind: string): Router {
  const router = Router();
  const startedAt = new Date().toISOString();

  // Liveness as OPA answers it: 200 {} once a bundle is active (also with ?bundles).
  router.get('/health', (_req, res) => {
    if (policy.current) res.json({});
    else res.status(500).json({ error: 'no policy bundle is active yet' });
  });

  // Readiness: a bundle is active and the settings store answers.
  router.get('/health/ready', (_req, res) => {
    const checks = { bundle: policy.current !== undefined, settingsStore: store.isReady() };
    res.status(checks.bundle && checks.settingsStore ? 200 : 503).json({ ready: checks.bundle && checks.settingsStore, checks });
  });

  router.get('/v1/status', (_req, res) => {
    res.json({
      startedAt,
      bundle: policy.current ? { revision: policy.current.revision, entrypoints: policy.current.entrypoints } : null,
      settingsStore: { kind: storeKind, ready: store.isReady() },
    });
  });

  router.get('/metrics', async (_req, res) => {
    if (policy.current) metrics.wasmMemoryBytes.set(policy.current.memoryBytes);
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return router;
}
