// Output of the command line: an aligned table for people, JSON or NDJSON for programs.
import type { DecisionRecord } from '../decision/record.ts';

export const FORMATS = ['table', 'json', 'ndjson'] as const;
export type Format = (typeof FORMATS)[number];

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export const DECISION_HEADERS = ['TIME', 'DECISION ID', 'API', 'PRINCIPAL', 'ACTION', 'TYPE', 'WORKSPACE', 'ALLOW', 'REASON', 'SETTING/SOURCE', 'REQUEST'];

export function decisionRow(r: DecisionRecord): string[] {
  return [
    r.timestamp,
    r.decisionId,
    r.api,
    r.principal.id,
    r.action,
    r.resource.type,
    r.workspaceId,
    r.allow ? 'allow' : 'deny',
    r.reason,
    r.setting ? `${r.setting}/${r.source ?? '-'}` : '-',
    r.gatewayRequest ? `${r.gatewayRequest.method} ${r.gatewayRequest.path}` : '-',
  ];
}

export function decisions(records: DecisionRecord[], format: Format): string {
  if (format === 'json') return JSON.stringify(records, null, 2) + '\n';
  if (format === 'ndjson') return records.map((r) => JSON.stringify(r) + '\n').join('');
  return table(DECISION_HEADERS, records.map(decisionRow));
}
