// Where the audit log keeps a record in Redis, and how a decision id says where.
//
// Every key of one organization's append is in one hash slot, so its script call works on
// Redis Cluster as on a single node (where one call carries every organization's records):
//   portcullis:audit:{<org>}:decisions           STREAM  one entry per decision (query.ts)
//   portcullis:audit:{<org>}:settings-changes    STREAM  one entry per settings change
//   portcullis:audit:{<org>}:<stream>:max-lag    STRING  maxLagMs of that stream (query.ts)
//   portcullis:audit:{<tag>}:ids:<hour>          HASH    record id -> "<streamId> <orgId>"
//   portcullis:audit-unverified:{u}:decisions    STREAM  the unverified bucket: decisions whose
//                                                        organization the directory did not confirm
//   portcullis:audit-unverified:{u}:ids:<hour>   HASH    its id index ("<streamId> ")
// <org> is the organization id with `%`, `{` and `}` escaped (a brace in an id would
// otherwise move its keys to other slots); <tag> is a short string that hashes to the
// organization's slot, so the id index lives beside the streams; <hour> is hours since
// the epoch. The id index is both the dedupe check (a record whose id is in it is not
// appended again) and the lookup by id. One hash per slot and hour instead of a key per
// record: Redis keeps a field, not a key with its own expiry, per record, and the hour's
// hash expires as a whole once everything in it is past the retention.
//
// The lookup by id knows neither the organization nor the time, so a decision id carries
// both the slot and the hour: it is a UUIDv7 (RFC 9562: 48-bit ms timestamp, version 7,
// variant 10) whose rand_a holds the slot's high 12 bits and whose two variant-free bits
// after the variant hold the low 2, with 60 random bits left. It is still an opaque string
// to every API.
import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';

export type StreamKind = 'decisions' | 'settings-changes';

export const HOUR_MS = 3_600_000;
const SLOTS = 16_384;

const escapeOrg = (orgId: string) => orgId.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const streamKey = (orgId: string, kind: StreamKind) => `portcullis:audit:{${escapeOrg(orgId)}}:${kind}`;
export const lagKey = (stream: string) => `${stream}:max-lag`;
export const idIndexKey = (slot: number, hour: number) => `portcullis:audit:{${slotTag(slot)}}:ids:${hour}`;
// Apart from every organization's keys (another prefix), so no organization id can name them:
// made-up organizations cost one stream, its lag key and one index hash per hour, whatever their number.
export const UNVERIFIED_STREAM = 'portcullis:audit-unverified:{u}:decisions';
export const unverifiedIndexKey = (hour: number) => `portcullis:audit-unverified:{u}:ids:${hour}`;
/** The slot of the unverified bucket's keys. */
export const UNVERIFIED_SLOT = calculateSlot(UNVERIFIED_STREAM);

/** The slot of an organization's audit keys. Cached: the decider asks for every decision. */
const orgSlots = new Map<string, number>();
export function orgSlot(orgId: string): number {
  let slot = orgSlots.get(orgId);
  if (slot === undefined) {
    slot = calculateSlot(streamKey(orgId, 'decisions'));
    if (orgSlots.size >= 10_000) orgSlots.clear();
    orgSlots.set(orgId, slot);
  }
  return slot;
}

/** For every slot the shortest base-36 counter that hashes to it (about 170,000 CRC16s, once, in ~50 ms). */
let tags: string[] | undefined;
function slotTag(slot: number): string {
  if (!tags) {
    const found: string[] = new Array(SLOTS);
    let missing = SLOTS;
    for (let n = 0; missing > 0; n++) {
      const candidate = n.toString(36);
      const at = calculateSlot(candidate);
      if (found[at] === undefined) {
        found[at] = candidate;
        missing--;
      }
    }
    tags = found;
  }
  return tags[slot]!;
}

// ---- decision ids ----

/** A new decision id for a record kept in `orgId`'s audit log (see the top of this file). */
export function newDecisionId(orgId: string, nowMs = Date.now()): string {
  const slot = orgSlot(orgId);
  const time = nowMs.toString(16).padStart(12, '0');
  const random = randomUUID(); // 122 random bits; 60 of them are used
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${(slot >> 2).toString(16).padStart(3, '0')}-${(8 | (slot & 3)).toString(16)}${random.slice(0, 3)}-${random.slice(24)}`;
}

const DECISION_ID = /^([0-9a-f]{8})-([0-9a-f]{4})-7([0-9a-f]{3})-([89ab])[0-9a-f]{3}-[0-9a-f]{12}$/;

/** The slot and time a decision id carries, or undefined for an id not made by newDecisionId. */
export function placeOfDecisionId(id: string): { slot: number; ms: number } | undefined {
  const match = DECISION_ID.exec(id);
  if (!match) return undefined;
  return { slot: (parseInt(match[3]!, 16) << 2) | (parseInt(match[4]!, 16) & 3), ms: parseInt(match[1]! + match[2]!, 16) };
}
