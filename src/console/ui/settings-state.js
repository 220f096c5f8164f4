// Reads everything the settings page and the what-if draft show for one organization,
// through the public API: the families (GET /v1/families), the organization's settings per
// family, its workspaces with their stored values and their effective settings. The ETag
// kept is the organization's settings version when this was read: saves send it as If-Match.
import { api } from './api.js';

/** @returns {Promise<{families: any[], org: Record<string, any>, workspaces: string[], stored: Record<string, Record<string, any>>, effective: Record<string, any>, etag: string | undefined}>} */
export async function loadOrg(orgId) {
  const { families } = await api.families();
  const org = {};
  const etags = [];
  for (const family of families) {
    const { body, etag } = await api.orgSettings(orgId, family.name);
    const { stored: _stored, ...settings } = body;
    org[family.name] = settings;
    etags.push(etag);
  }
  const workspaces = (await api.workspaces(orgId)).sort();
  /** @type {Record<string, Record<string, any>>} */
  const stored = {};
  const effective = {};
  for (const workspaceId of workspaces) {
    stored[workspaceId] = {};
    for (const family of families.filter((f) => f.workspaceOverrides !== 'none')) {
      const { body, etag } = await api.workspaceSettings(orgId, workspaceId, family.name);
      const { stored: _stored, ...values } = body;
      stored[workspaceId][family.name] = values;
      etags.push(etag);
    }
    const { body, etag } = await api.effectiveSettings(orgId, workspaceId);
    effective[workspaceId] = body;
    etags.push(etag);
  }
  // Read one by one, so a write between two reads is possible: then the oldest version
  // read is the one to send, and a save made from this view gets a 412 and a fresh read.
  const versions = etags.filter(Boolean).map((e) => Number(e.replace(/"/g, '')));
  const etag = versions.length ? `"${Math.min(...versions)}"` : undefined;
  return { families, org, workspaces, stored, effective, etag };
}
