// One POST /v1/permissions for 20 workspaces x every resource type x every action against
// the same cells asked as one OPA batch (POST /v1/batch/data/portkey/authz/decision): what a
// dashboard pays to render a workspace page either way. A row of `make bench` (bench/run.ts
// passes its running sidecar); alone, `node --import tsx bench/permissions.ts` measures an
// in-process sidecar on the embedded store (BENCH_SECONDS, default 5).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { createLimitedServer } from '../src/http/limits.ts';
import { createSidecar } from '../src/sidecar.ts';

export const PERMISSION_WORKSPACES = 20;
/** The batch of every cell is larger than the default body limit: the sidecar measured needs this one. */
export const PERMISSIONS_BODY_LIMIT = '1mb';
const ACTIONS = ['create', 'update', 'delete', 'read'];

export interface PermissionsRow {
  name: string;
  rps: number;
  cellsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** The two bodies: the permissions call and the batch of the same cells. */
export function permissionBodies(orgId: string, resourceTypes: readonly string[]) {
  const workspaceIds = Array.from({ length: PERMISSION_WORKSPACES }, (_, i) => `${orgId}-pws-${i}`);
  const principal = {
    id: 'bench-user',
    orgId,
    orgRole: 'member',
    workspaceRoles: Object.fromEntries(workspaceIds.map((ws, i) => [ws, ['admin', 'manager', 'member'][i % 3]])),
  };
  const inputs: Record<string, unknown> = {};
  for (const workspaceId of workspaceIds)
    for (const type of resourceTypes)
      for (const action of ACTIONS) inputs[`${workspaceId}/${type}/${action}`] = { principal, action, resource: { type, orgId, workspaceId } };
  return { workspaceIds, cells: Object.keys(inputs).length, permissions: { principal, workspaceIds }, batch: { inputs } };
}

async function measure(name: string, url: string, body: unknown, cells: number, seconds: number, connections: number): Promise<PermissionsRow> {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    name,
    rps: result.requests.average,
    cellsPerSecond: result.requests.average * cells,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Both rows against a sidecar at `base` whose directory holds the workspaces (registered here with the admin token). */
export async function permissionsRows(
  base: string,
  adminToken: string,
  resourceTypes: readonly string[],
  seconds: number,
  connections = 8,
): Promise<PermissionsRow[]> {
  const bodies = permissionBodies('org-perm', resourceTypes);
  for (const ws of bodies.workspaceIds)
    await fetch(`${base}/v1/orgs/org-perm/workspaces/${ws}`, { method: 'PUT', headers: { Authorization: `Bearer ${adminToken}` } });
  await measure('warm-up', `${base}/v1/permissions`, bodies.permissions, bodies.cells, 1, connections);
  return [
    await measure(
      `POST /v1/permissions (${PERMISSION_WORKSPACES} ws x ${resourceTypes.length} types x 4 actions = ${bodies.cells} cells)`,
      `${base}/v1/permissions`,
      bodies.permissions,
      bodies.cells,
      seconds,
      connections,
    ),
    await measure(
      `POST /v1/batch/data/.../decision (the same ${bodies.cells} cells)`,
      `${base}/v1/batch/data/portkey/authz/decision`,
      bodies.batch,
      bodies.cells,
      seconds,
      connections,
    ),
  ];
}

export function printPermissionsRows(rows: PermissionsRow[]): void {
  console.log(
    `\n${'permissions: one call vs the equivalent batch'.padEnd(72)}${'req/s'.padStart(10)}${'cells/s'.padStart(12)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'errors'.padStart(8)}`,
  );
  for (const row of rows)
    console.log(
      `${row.name.padEnd(72)}${row.rps.toFixed(1).padStart(10)}${row.cellsPerSecond.toFixed(0).padStart(12)}${row.p50.toFixed(1).padStart(10)}${row.p99.toFixed(1).padStart(10)}${String(row.errors).padStart(8)}`,
    );
  const [one, batch] = rows;
  if (one && batch) console.log(`permissions/batch cells per second: ${(one.cellsPerSecond / batch.cellsPerSecond).toFixed(2)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const adminToken = 'bench-admin-token';
  const config = loadConfig({ ADMIN_TOKEN: adminToken, LOG_LEVEL: 'silent', AUDIT_SPILL_DIR: '', BODY_LIMIT: PERMISSIONS_BODY_LIMIT });
  const sidecar = await createSidecar(config, pino({ level: 'silent' }));
  const server = createLimitedServer(sidecar.app, config).listen(0, '127.0.0.1');
  try {
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    printPermissionsRows(await permissionsRows(base, adminToken, sidecar.policy.require().families.resourceTypes, Number(process.env.BENCH_SECONDS ?? 5)));
  } finally {
    server.closeAllConnections();
    server.close();
    await sidecar.close();
  }
}
