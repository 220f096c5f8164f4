// The audit counters /metrics shows (implemented by metrics.ts), passed into the audit logs.
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
