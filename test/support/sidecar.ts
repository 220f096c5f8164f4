// Builds a sidecar for a test exactly as main.ts does, with a silent logger and the
// committed bundle; options override the config.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLimitedServer } from '../../src/http/limits.ts';
import { familiesFromData } from '../../src/engine/families.ts';
import { createSidecar, type Sidecar } from '../../src/sidecar.ts';

export const ADMIN_TOKEN = 'test-admin-token';

/** The resource types of the committed policy's families table (policies/data.json), for parsing requests outside a sidecar. */
export const RESOURCE_TYPES: readonly string[] = familiesFromData(
  JSON.parse(readFileSync('policies/data.json', 'utf8')) as Record<string, unknown>,
).resourceTypes;

export function testConfig(overrides: Partial<Config> = {}): Config {
  // No shared audit spill directory: a test that needs one passes its own auditSpillDir.
  return { ...loadConfig({ ADMIN_TOKEN, SETTINGS_FILE: '', LOG_LEVEL: 'silent', AUDIT_SPILL_DIR: '' }), ...overrides };
}

export async function testSidecar(overrides: Partial<Config> = {}): Promise<Sidecar> {
  return createSidecar(testConfig(overrides), pino({ level: 'silent' }));
}

/**
 * Registers workspaces (workspace id -> organization) in the sidecar's workspace directory:
 * a decision about a workspace the directory does not know is denied unknown_workspace. The
 * embedded store already knows those of examples/settings.yaml (ws-1, ws-2 of org-1; ws-30,
 * ws-31 of org-3); a Redis store starts empty.
 */
export async function registerWorkspaces(sidecar: Pick<Sidecar, 'store'>, workspaces: Readonly<Record<string, string>>): Promise<void> {
  for (const [workspaceId, orgId] of Object.entries(workspaces)) await sidecar.store.registerWorkspace(orgId, workspaceId);
}

/** The workspaces of the embedded store's example settings, for a Redis-backed test sidecar that decides on them. */
export const EXAMPLE_WORKSPACES = { 'ws-1': 'org-1', 'ws-2': 'org-1', 'ws-30': 'org-3', 'ws-31': 'org-3' } as const;

/** Serves a sidecar on a free loopback port with the server limits, as main.ts does; close() stops both. */
export async function serve(sidecar: Sidecar, config: Config = testConfig()): Promise<{ url: string; close(): Promise<void> }> {
  const server = createLimitedServer(sidecar.app, config).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await sidecar.close();
    },
  };
}

/** A test sidecar, set up by `setUp` before it serves: `{sidecar, url, close}`. */
export async function servedTestSidecar(setUp: (sidecar: Sidecar) => Promise<unknown> = async () => undefined) {
  const sidecar = await testSidecar();
  await setUp(sidecar);
  return { sidecar, ...(await serve(sidecar)) };
}

/** A decision request body; `over` replaces fields of it. */
export function decisionRequest(
  over: {
    orgRole?: string;
    workspaceRoles?: Record<string, string>;
    action?: string;
    type?: string;
    orgId?: string;
    workspaceId?: string;
    principalOrgId?: string;
  } = {},
) {
  return {
    principal: {
      id: 'u-1',
      orgId: over.principalOrgId ?? over.orgId ?? 'org-1',
      orgRole: over.orgRole ?? 'member',
      workspaceRoles: over.workspaceRoles ?? { 'ws-1': 'manager' },
    },
    action: over.action ?? 'create',
    resource: { type: over.type ?? 'mcp_server', orgId: over.orgId ?? 'org-1', workspaceId: over.workspaceId ?? 'ws-1' },
  };
}

/** The workspace of organization `orgId` in tests that give each organization its own: ws-<orgId>. */
export const ownWorkspace = (orgId: string) => `ws-${orgId}`;

/** A manager's create of an MCP server in its organization's own workspace (registered by the test). */
export const managerInOwnWorkspace = (orgId: string) =>
  decisionRequest({ orgId, workspaceId: ownWorkspace(orgId), workspaceRoles: { [ownWorkspace(orgId)]: 'manager' } });
