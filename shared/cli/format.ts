import type { LakeWriteConflictError } from '../lake/lake';
import { printablePath } from '../lake/paths';
import type { FileReport } from '../pipeline/ingestFile';

/**
 * A json/jsonb value exactly as PostgreSQL printed it: parsing it into JavaScript would round
 * numbers to doubles (1500.00 → 1500, ids beyond 2^53 changed, 1e400 → null).
 */
export class ExactJson {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Rows as a pretty-printed JSON array; ExactJson values are spliced in verbatim. */
export function jsonRows(rows: Record<string, unknown>[]): string {
  const raw: string[] = [];
  const body = JSON.stringify(rows, (_key, v: unknown) => (v instanceof ExactJson ? `\u0000${raw.push(v.text) - 1}\u0000` : v), 2);
  return body.replace(/"\\u0000(\d+)\\u0000"/g, (_m, i: string) => raw[Number(i)]!);
}

/**
 * Renders rows as an aligned text table. Control characters in values are shown escaped (\n,
 * \t, \r, \u0001…) so a value never breaks its row; a value wider than `maxWidth` (default 110)
 * is cut with … on a terminal (default 110; piped output keeps every value whole).
 */
export function table(rows: Record<string, unknown>[], columns?: string[], options: { maxWidth?: number } = {}): string {
  if (rows.length === 0) return '(no rows)';
  const maxWidth = options.maxWidth ?? (process.stdout.isTTY ? 110 : Infinity);
  const cols = columns ?? Object.keys(rows[0]!);
  const text = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (v instanceof Date) return v.toISOString();
    if (v instanceof ExactJson) return visible(v.text);
    if (typeof v === 'object') return visible(JSON.stringify(v));
    return visible(String(v));
  };
  const cells = rows.map((r) => cols.map((c) => text(r[c])));
  const widths = cols.map((c, i) => Math.min(maxWidth, Math.max(c.length, ...cells.map((row) => row[i]!.length))));
  const fmt = (vals: string[]) => vals.map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(cols), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n');
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r' };

/** Control characters as escapes (--json prints the exact text). */
function visible(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) ? s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : s;
}

function reasons(r: Record<string, number>): string {
  const entries = Object.entries(r).filter(([, n]) => n > 0);
  return entries.length ? entries.map(([k, n]) => `${k} ${n}`).join(', ') : 'none';
}

/** The per-file accounting line(s) the CLI prints. */
export function describeReport(report: FileReport): string {
  // A name with a tab or newline must not break the one-line-per-file output.
  const r = { ...report, path: printablePath(report.path) };
  const l = r.ledger;
  if (r.outcome === 'succeeded' && l?.redelivery_of) {
    return `✔ ${r.path} → ${r.dataset}: re-delivery of content that already landed (run ${l.redelivery_of}): ${l.rows_read} rows, all counted as duplicates; nothing added`;
  }
  if (r.outcome === 'succeeded' && l) {
    return [
      `✔ ${r.path} → ${r.dataset}: read ${l.rows_read} = silver ${l.rows_silver} + quarantined ${l.rows_quarantined} + duplicates ${(l.duplicates_in_file ?? 0) + (l.duplicates_cross_file ?? 0)} (in file ${l.duplicates_in_file}, already in silver ${l.duplicates_cross_file}) in ${l.duration_ms} ms`,
      `    quarantined: ${reasons(l.quarantine_reasons)}; warnings (kept): ${reasons(l.warnings)}`,
      ...(l.blank_lines ? [`    blank lines (not rows): ${l.blank_lines}`] : []),
      ...(l.unknown_columns?.length ? [`    columns not in the contract (kept in _rescued unless the contract ignores them): ${l.unknown_columns.join(', ')}`] : []),
    ].join('\n');
  }
  if (r.outcome === 'skipped') return `• ${r.path}: skipped — ${r.message}`;
  if (r.outcome === 'missing') return `? ${r.path}: ${r.message}`;
  const kind = r.failureKind ?? l?.failure_kind;
  return `✘ ${r.path}: FAILED${kind ? ` (${kind})` : ''} — ${(r.message ?? l?.error ?? 'unknown error').split('\n')[0]}`;
}

/** Two uploads of one lake path at once: the other one landed, this one did not; running again uploads it. */
export function writeConflictLine(e: LakeWriteConflictError): string {
  return `another upload to ${e.zone}/${printablePath(e.path)} was in progress at the same time and landed instead: run the command again`;
}
