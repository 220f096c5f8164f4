// The decision inputs every benchmark sends: per organization, managers writing (a setting
// decides), a member reading, an admin-role manager updating, an owner deleting.

export type Body = { principal: object; action: string; resource: { orgId: string } };

/** Each organization's own workspace: a workspace id belongs to one organization (the workspace directory). */
export const workspaceOf = (orgId: string) => `${orgId}-ws-1`;

export function requestsFor(orgIds: string[]): Body[] {
  return orgIds.flatMap((orgId, o) =>
    (
      [
        ['member', 'manager', 'create'],
        ['member', 'manager', 'delete'],
        ['member', 'member', 'read'],
        ['member', 'admin', 'update'],
        ['owner', undefined, 'delete'],
      ] as const
    ).map(([orgRole, wsRole, action]) => ({
      principal: { id: `u-${o}`, orgId, orgRole, workspaceRoles: wsRole ? { [workspaceOf(orgId)]: wsRole } : {} },
      action,
      resource: { type: o % 2 ? 'mcp_server' : 'integration', orgId, workspaceId: workspaceOf(orgId) },
    })),
  );
}
