// The counters /metrics shows for the audit log and the decision-log uploader: implemented by
// metrics.ts, passed into those writers (which so never import the metrics registry).
export interface AuditStats {
  /** A decision was handed to the audit log. */
  recorded(): void;
  /** Records newly stored (a duplicate decision id is not counted again). */
  written(count: number): void;
  /** Records already stored, skipped by the idempotency check. */
  duplicates(count: number): void;
  /** Records waiting in memory for the store. */
  buffered(count: number): void;
  /** Records appended to the spill file while the store was away. */
  spilled(count: number): void;
  /** Records read back from a spill file and stored. */
  replayed(count: number): void;
  /** Records lost: the spill file could not be written. */
  dropped(count: number): void;
  /** Bytes of records the audit log holds in memory (the memory log: what it keeps; the Redis log: what waits for Redis). */
  heldBytes(bytes: number): void;
}

export const NO_AUDIT_STATS: AuditStats = {
  recorded: () => undefined,
  written: () => undefined,
  duplicates: () => undefined,
  buffered: () => undefined,
  spilled: () => undefined,
  replayed: () => undefined,
  dropped: () => undefined,
  heldBytes: () => undefined,
};

/** The decision-log uploader's counters. */
export interface DecisionLogStats {
  /** Events accepted by the service. */
  uploaded(count: number): void;
  /** Events whose upload failed; they are uploaded again later. */
  retried(count: number): void;
  /** Events written to the spill file. */
  spilled(count: number): void;
  /** Events lost (and logged): the spill file failed or is absent, or an event exceeds the size limit. */
  dropped(count: number): void;
  /** Events waiting in memory. */
  buffered(count: number): void;
  /** Bytes of the events waiting in memory. */
  bufferedBytes(bytes: number): void;
}
