// Reads what the settings page and the what-if draft show, through the public API: the
// families (GET /v1/families) and the organization's settings per family; and, for the one
// workspace opened, its stored values and effective settings. The ETag kept is the
// organization's settings version when this was read: saves send it as If-Match.
import { api } from './api.js';

// Read one by one, so a write between two reads is possible: then the oldest version read
// is the one to send, and a save made from this view gets a 412 and a fresh read.
const oldest = (etags) => {
  const versions = etags.filter(Boolean).map((e) => Number(e.replace(/"/g, '')));
  return versions.length ? `"${Math.min(...versions)}"` : undefined;
};

/** @returns {Promise<{families: any[], org: Record<string, any>, nothingStored: boolean, etag: string | undefined}>} */
export async function loadOrg(orgId) {
  const { families } = await api.families();
  const org = {};
  const etags = [];
  let nothingStored = true;
  for (const family of families) {
    const { body, etag } = await api.orgSettings(orgId, family.name);
    const { stored, ...settings } = body;
    if (stored !== false) nothingStored = false;
    org[family.name] = settings;
    etags.push(etag);
  }
  return { families, org, nothingStored, etag: oldest(etags) };
}

/** One workspace: its stored values per family and its effective settings, with the oldest version read. */
export async function loadWorkspace(orgId, workspaceId, families) {
  /** @type {Record<string, any>} */
  const stored = {};
  const etags = [];
  for (const family of families.filter((f) => f.workspaceOverrides !== 'none')) {
    const { body, etag } = await api.workspaceSettings(orgId, workspaceId, family.name);
    const { stored: _stored, ...values } = body;
    stored[family.name] = values;
    etags.push(etag);
  }
  const { body, etag } = await api.effectiveSettings(orgId, workspaceId);
  etags.push(etag);
  return { stored, effective: body, etag: oldest(etags) };
}

/** The older of two versions read (ETags), the one a save made from both must send. */
export const olderEtag = (a, b) => oldest([a, b]);
