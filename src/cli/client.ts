// The sidecar's audit API as the command line uses it. The paths come from the route table
// the sidecar serves (GET /v1/admin-api), not from copies kept here.
import type { DecisionFilter, DecisionRecord } from '../decision/record.ts';

/** Where the sidecar serves its admin route table: the one admin path written here. */
const ADMIN_API = '/v1/admin-api';

export class ApiCallError extends Error {
  override name = 'ApiCallError';
}

/** The filters of GET /v1/audit/decisions, the same as the audit log's own. */
export type DecisionQuery = DecisionFilter;

export class AuditClient {
  /** The served route paths by name, asked once. */
  private paths: Promise<Record<string, string>> | undefined;

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
    return this.get(`${await this.path('auditDecisions')}?${params}`);
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
    return this.get(await this.path('auditDecision', { decisionId }));
  }

  /** An admin route's path by its name in the served table, its `:name` parameters filled in. */
  private async path(name: string, params: Record<string, string> = {}): Promise<string> {
    this.paths ??= this.get<{ paths: Record<string, string> }>(ADMIN_API).then((served) => served.paths);
    const template = (await this.paths)[name];
    if (template === undefined) throw new ApiCallError(`the sidecar at ${this.baseUrl} serves no admin route named ${name}`);
    return template.replace(/:(\w+)/g, (_match, key: string) => encodeURIComponent(params[key] ?? ''));
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
