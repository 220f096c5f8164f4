// The embedded audit log (no Redis): the newest `capacity` records, oldest dropped first.
import type { AuditSink, DecisionRecord } from './record.ts';

export class MemoryAuditLog implements AuditSink {
  private readonly records: DecisionRecord[] = [];

  constructor(private readonly capacity: number) {}

  record(record: DecisionRecord): void {
    this.records.push(record);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
  }

  /** Newest first. */
  newest(limit: number): DecisionRecord[] {
    return this.records.slice(-limit).reverse();
  }
}
