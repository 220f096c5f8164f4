// Shared by the gateway tests: a sidecar listening on a free port with an HS256 key,
// and real signed tokens for the principals the tests need.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import type { Config } from '../../src/config.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { registerWorkspaces, testSidecar } from '../support/sidecar.ts';

export const JWT_SECRET = 'portcullis-test-secret-of-at-least-32-bytes';
const KEY = new TextEncoder().encode(JWT_SECRET);

export const PRINCIPALS = {
  manager: { sub: 'u-manager', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'manager' } },
  member: { sub: 'u-member', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'member' } },
  owner: { sub: 'u-owner', org_id: 'org-1', org_role: 'owner', workspace_roles: {} },
} satisfies Record<string, JWTPayload>;

/** An HS256 token for `claims`, valid for five minutes unless `expiresAt` says otherwise. */
export function signToken(claims: JWTPayload, options: { key?: Uint8Array; expiresAt?: number | string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? '5m')
    .sign(options.key ?? KEY);
}

export interface RunningSidecar {
  sidecar: Sidecar;
  url: string;
  close(): Promise<void>;
}

/** Workspaces the workspace directory knows in every test sidecar: the gateway decides only on these. */
export const WORKSPACES = { 'ws-1': 'org-1', 'ws-of-org-2': 'org-2' } as const;

export async function listeningSidecar(overrides: Partial<Config> = {}): Promise<RunningSidecar> {
  const sidecar = await testSidecar({ gatewayJwtSecret: JWT_SECRET, ...overrides });
  await registerWorkspaces(sidecar, WORKSPACES);
  const server: Server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    sidecar,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sidecar.close();
    },
  };
}
