/**
 * Why an extraction run failed, as recorded in ops.extract_runs.failure_kind:
 *   auth          401/403: the token, e-mail or account is wrong or lacks rights. The whole source
 *                 stops (every later request would be refused too); fix the setting, run again.
 *   rate_limited  the API kept answering 429, or asked to wait longer than EXTRACT_MAX_WAIT_SECONDS
 *                 (Pipedrive's daily token budget used up); the next scheduled run continues.
 *   transient     5xx or network failures that outlasted the retries, or a host name the DNS says
 *                 does not exist (ENOTFOUND: not retried; check the base URL); the next run continues.
 *   bad_response  an answer the extractor cannot use (4xx other than 401/403/429, not JSON, no
 *                 records array, a cursor that does not move on).
 *   interrupted   the process was asked to stop (Ctrl-C, SIGTERM).
 * None of them moves a watermark past data that is not in bronze (see shared/sources/extract.ts).
 */
export type FailureKind = 'auth' | 'rate_limited' | 'transient' | 'bad_response' | 'interrupted';

export const FAILURE_KINDS: readonly FailureKind[] = ['auth', 'rate_limited', 'transient', 'bad_response', 'interrupted'];

export class ExtractError extends Error {
  override name = 'ExtractError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The first line of a response body, shortened, for messages (bodies carry no credentials). */
export function bodySnippet(text: string, max = 160): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** A URL as it may be printed: path and query only, any token-like parameter masked. */
export function printableUrl(url: URL): string {
  const u = new URL(url.toString());
  for (const key of [...u.searchParams.keys()]) {
    if (/token|key|secret|password/i.test(key)) u.searchParams.set(key, '***');
  }
  return `${u.pathname}${u.search ? decodeURIComponent(u.search) : ''}`;
}
