// The gateway requests both gateway benches send (`make bench-gateway`, and the gRPC rows of
// `make bench`): JWTs signed with one HS256 secret, for calls the sidecar allows given the
// settings of examples/settings.yaml's org-1 and its workspaces ws-1 and ws-2 in the directory.
import { SignJWT } from 'jose';

export const JWT_SECRET = 'bench-secret-of-at-least-thirty-two-bytes';

export interface GatewayCall {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export async function gatewayCalls(): Promise<GatewayCall[]> {
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
  const owner = `Bearer ${await sign({ sub: 'u-owner', org_id: 'org-1', org_role: 'owner' })}`;
  const manager = `Bearer ${await sign({ sub: 'u-manager', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'manager', 'ws-2': 'manager' } })}`;
  const member = `Bearer ${await sign({ sub: 'u-member', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'member' } })}`;
  // examples/settings.yaml: org-1 turned MCP servers off for managers, ws-2 overrides it back on.
  return [
    { method: 'POST', path: '/v1/mcp-servers', headers: { authorization: owner, 'x-portkey-workspace-id': 'ws-1' } },
    { method: 'POST', path: '/v1/mcp-servers', headers: { authorization: manager, 'x-portkey-workspace-id': 'ws-2' } },
    { method: 'PATCH', path: '/v1/integrations/i-1', headers: { authorization: manager, 'x-portkey-workspace-id': 'ws-1' } },
    { method: 'GET', path: '/v1/mcp-integrations?workspace_id=ws-1', headers: { authorization: member } },
  ];
}
