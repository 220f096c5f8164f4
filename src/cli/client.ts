// The sidecar's audit API as the command line uses it.
import type { DecisionFilter, DecisionRecord } from '../decision/record.ts';

export class ApiCallError extends Error {
  override name = 'ApiCallError';
}

/** The filters of GET /v1/audit/decisions, the same as the audit log's own. */
export type DecisionQuery = DecisionFilter;

export class AuditClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async page(query: DecisionQuery, limit: number, cursor?: string): Promise<{ decisions: DecisionRecord[]; nextCursor: string | null }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      params.set(key, key === 'from' || key === 'to' ? new Date(value as number).toISOString() : String(value));
    }
    params.set('limit', String(limit));
    if (cursor) params.set('cursor', cursor);
    return this.get(`/v1/audit/decisions?${params}`);
  }

  /** Every matching record, newest first, a page at a time; `onPage` sees the running count. */
  async *all(query: DecisionQuery, pageSize = 1000, onPage?: (count: number) => void): AsyncGenerator<DecisionRecord> {
    let cursor: string | undefined;
    let count = 0;
    do {
      const page = await this.page(query, pageSize, cursor);
      count += page.decisions.length;
      onPage?.(count);
      yield* page.decisions;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async decision(decisionId: string): Promise<DecisionRecord> {
    return this.get(`/v1/audit/decisions/${encodeURIComponent(decisionId)}`);
  }

  private async get<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl.replace(/\/+$/, '') + path, { headers: { authorization: `Bearer ${this.token}` } });
    } catch (error) {
      throw new ApiCallError(`cannot reach the sidecar at ${this.baseUrl}: ${(error as Error).cause ?? (error as Error).message}`);
    }
    const body = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
    if (!res.ok) throw new ApiCallError(`${res.status} ${body?.code ?? ''}: ${body?.message ?? res.statusText}`);
    return body as T;
  }
}
