import type { SourceSettings } from '../config';
import { bodySnippet, ExtractError, printableUrl } from './errors';
import { parseRetryAfter, type RetryDecision, withRetry } from './retry';

/**
 * HTTP for the API extractors: authentication, pacing, retries. Nothing here logs or returns a
 * token: requests authenticate by header, and the URLs printed are path + query only.
 *
 * Provider behaviour this follows (cited where it matters):
 *  - Pipedrive authenticates an API-token integration with the `x-api-token` header
 *    (https://pipedrive.readme.io/docs/core-api-concepts-authentication). Its rate limits are a
 *    daily token budget per company plus a burst limit per 2-second window; every answer carries
 *    x-ratelimit-limit / x-ratelimit-remaining / x-ratelimit-reset, and an exceeded limit answers
 *    429 (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting). When remaining reaches
 *    0 the next request waits for the reset; a 429 waits Retry-After when given, else backs off.
 *  - Zendesk authenticates an API token with basic auth over `{email_address}/token:{api_token}`
 *    (https://developer.zendesk.com/api-reference/introduction/security-and-auth/). A 429 carries
 *    Retry-After, the seconds to wait (https://developer.zendesk.com/api-reference/introduction/rate-limits).
 *    The incremental export endpoints allow 10 requests per minute
 *    (https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/):
 *    the client paces them itself (ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE) instead of running into 429s.
 *  - 5xx and network failures are retried with exponential backoff and full jitter (retry.ts).
 *  - 401/403 are final: ExtractError 'auth', which stops the whole source; its message is one line
 *    naming the setting to fix.
 *  - A host name that does not resolve (ENOTFOUND: the DNS answered that it does not exist) is
 *    final too, not retried: ExtractError 'transient' naming the host and the base URL setting. A
 *    resolver that could not answer (EAI_AGAIN) is retried like any network failure.
 */

export interface HttpDeps {
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  signal?: AbortSignal;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
}

export interface HttpPolicy {
  /** Longest server-named wait honoured; a longer one is a 'rate_limited' failure. */
  maxWaitMs: number;
  maxAttempts?: number;
  maxRateLimited?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export type RequestClass = 'standard' | 'incremental';

export interface HttpEvent {
  type: 'request' | 'retry' | 'pace';
  url: string;
  status?: number;
  waitMs?: number;
  reason?: string;
}

export interface JsonAnswer {
  status: number;
  text: string;
  body: unknown;
}

/** An answer the client may retry (429, 5xx, network, unreadable body). */
class RetryableError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly rateLimited: boolean,
    readonly waitMs: number | undefined,
  ) {
    super(message);
  }
}

const SOURCE_LABEL = { pipedrive: 'Pipedrive', zendesk: 'Zendesk' } as const;

function authHeaders(settings: SourceSettings): Record<string, string> {
  if (settings.source === 'pipedrive') return { 'x-api-token': settings.apiToken };
  return { authorization: `Basic ${Buffer.from(`${settings.email}/token:${settings.apiToken}`, 'utf8').toString('base64')}` };
}

/**
 * The one line a refused request gives: which setting to fix. 401: the credentials are wrong (the
 * URL does not matter); 403: they are valid but may not read what GET <where> asks for.
 */
function authMessage(settings: SourceSettings, status: number, where: string): string {
  if (settings.source === 'pipedrive') {
    return status === 401
      ? 'Pipedrive refused the API token (401 Unauthorized): set PIPEDRIVE_API_TOKEN to a valid token (Personal preferences > API in Pipedrive; in Azure the Key Vault secret pipedrive-api-token)'
      : `Pipedrive refused access (403 Forbidden) at GET ${where}: the user of PIPEDRIVE_API_TOKEN may not read this; use the token of a user who can`;
  }
  return status === 401
    ? 'Zendesk refused the credentials (401 Unauthorized): check ZENDESK_EMAIL and ZENDESK_API_TOKEN (token access on in Admin Center; in Azure the Key Vault secret zendesk-api-token)'
    : `Zendesk refused access (403 Forbidden) at GET ${where}: the user ZENDESK_EMAIL names may not read this; use an agent or admin who can`;
}

/** The setting that names the host a request went to. */
const BASE_URL_SETTING = { pipedrive: 'PIPEDRIVE_BASE_URL', zendesk: 'ZENDESK_BASE_URL' } as const;

/**
 * What one account's limits allow next, shared by every request to that account in a run (the
 * limits are per account or per token, not per endpoint call).
 */
export class Pacer {
  /** No request before this time (a Pipedrive window with nothing remaining). */
  notBefore = 0;
  /** Time of the last Zendesk incremental export request. */
  lastIncremental = Number.NEGATIVE_INFINITY;
}

export class SourceHttpClient {
  private readonly headers: Record<string, string>;
  requests = 0;
  retries = 0;

  constructor(
    private readonly settings: SourceSettings,
    private readonly deps: HttpDeps,
    private readonly policy: HttpPolicy,
    private readonly onEvent: (e: HttpEvent) => void | Promise<void> = () => undefined,
    private readonly pacer: Pacer = new Pacer(),
  ) {
    this.headers = { accept: 'application/json', 'user-agent': 'medallion-extract/1', ...authHeaders(settings) };
  }

  /** GET a JSON answer, retrying what can be retried. Throws ExtractError. */
  async getJson(url: URL, cls: RequestClass = 'standard'): Promise<JsonAnswer> {
    const label = SOURCE_LABEL[this.settings.source];
    const where = printableUrl(url);
    const classify = (e: unknown): RetryDecision => {
      if (e instanceof RetryableError) {
        if (e.waitMs !== undefined && e.waitMs > this.policy.maxWaitMs) return { retry: false };
        return { retry: true, rateLimited: e.rateLimited, waitMs: e.waitMs };
      }
      return { retry: false };
    };
    try {
      return await withRetry(
        () => this.once(url, cls),
        classify,
        {
          maxAttempts: this.policy.maxAttempts,
          maxRateLimited: this.policy.maxRateLimited,
          baseDelayMs: this.policy.baseDelayMs,
          maxDelayMs: this.policy.maxDelayMs,
          sleep: (ms) => this.sleep(ms),
          random: this.deps.random,
          onRetry: async ({ waitMs, error }) => {
            this.retries++;
            const e = error as RetryableError;
            await this.onEvent({ type: 'retry', url: where, status: e.status, waitMs, reason: e.message });
          },
        },
      );
    } catch (e) {
      if (e instanceof ExtractError) throw e;
      if (e instanceof RetryableError) {
        if (e.rateLimited) {
          const asked = e.waitMs !== undefined && e.waitMs > this.policy.maxWaitMs;
          throw new ExtractError(
            'rate_limited',
            asked
              ? `${label} asked to wait ${Math.ceil(e.waitMs! / 1000)} s (Retry-After) at GET ${where}, longer than EXTRACT_MAX_WAIT_SECONDS (${Math.round(this.policy.maxWaitMs / 1000)} s)${this.settings.source === 'pipedrive' ? '; the daily token budget may be used up' : ''}: the next run continues from the watermark`
              : `${label} kept answering 429 Too Many Requests at GET ${where}: the next run continues from the watermark`,
            429,
          );
        }
        if (e.status !== undefined && e.status < 300) throw new ExtractError('bad_response', `${label} answered GET ${where} with a body that is not JSON, ${this.retries} times in a row`, e.status);
        throw new ExtractError('transient', `${label} failed at GET ${where} after ${this.retries} retries: ${e.message}`, e.status);
      }
      if (this.deps.signal?.aborted) throw new ExtractError('interrupted', `interrupted during GET ${where}`);
      throw e;
    }
  }

  private async sleep(ms: number): Promise<void> {
    if (this.deps.signal?.aborted) throw new ExtractError('interrupted', 'interrupted');
    await this.deps.sleep(ms);
    if (this.deps.signal?.aborted) throw new ExtractError('interrupted', 'interrupted');
  }

  /** Waits for the pacing of this request class and for a rate-limit reset the last answer announced. */
  private async pace(url: URL, cls: RequestClass): Promise<void> {
    let wait = this.pacer.notBefore - this.deps.now();
    if (cls === 'incremental' && this.settings.source === 'zendesk') {
      const interval = 60_000 / this.settings.incrementalRequestsPerMinute;
      wait = Math.max(wait, this.pacer.lastIncremental + interval - this.deps.now());
    }
    if (wait > 0) {
      await this.onEvent({ type: 'pace', url: printableUrl(url), waitMs: Math.ceil(wait) });
      await this.sleep(Math.ceil(wait));
    }
    if (cls === 'incremental') this.pacer.lastIncremental = this.deps.now();
  }

  private async once(url: URL, cls: RequestClass): Promise<JsonAnswer> {
    await this.pace(url, cls);
    this.requests++;
    const label = SOURCE_LABEL[this.settings.source];
    const where = printableUrl(url);
    const timeout = AbortSignal.timeout(this.deps.timeoutMs ?? 120_000);
    const signal = this.deps.signal ? AbortSignal.any([this.deps.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.deps.fetch(url, { headers: this.headers, signal, redirect: 'error' });
      text = await response.text();
    } catch (e) {
      if (this.deps.signal?.aborted) throw new ExtractError('interrupted', `interrupted during GET ${where}`);
      const cause = (e as { cause?: { code?: string; message?: string; hostname?: string } }).cause;
      const reason = timeout.aborted ? 'timed out' : cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
      await this.onEvent({ type: 'request', url: where, reason });
      if (!timeout.aborted && cause?.code === 'ENOTFOUND') {
        const host = cause.hostname ?? url.hostname;
        throw new ExtractError('transient', `${label} host '${host}' was not found (ENOTFOUND, DNS): check ${BASE_URL_SETTING[this.settings.source]} (${this.settings.source === 'pipedrive' ? 'https://<company>.pipedrive.com' : 'https://<subdomain>.zendesk.com'})`);
      }
      throw new RetryableError(`network: ${reason} (${url.host})`, undefined, false, undefined);
    }
    const status = response.status;
    await this.onEvent({ type: 'request', url: where, status });
    this.notePipedriveBudget(response);
    if (status === 401 || status === 403) {
      throw new ExtractError('auth', authMessage(this.settings, status, where), status);
    }
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'), this.deps.now());
    if (status === 429) throw new RetryableError(`429 Too Many Requests`, status, true, retryAfter);
    if (status >= 500) throw new RetryableError(`${status} ${response.statusText}: ${bodySnippet(text)}`, status, false, retryAfter);
    if (status < 200 || status >= 300) {
      throw new ExtractError('bad_response', `${label} answered ${status} at GET ${where}: ${bodySnippet(text)}`, status);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // A cut-off or garbled body is worth another try; the same garbage again is final.
      throw new RetryableError(`${status} with a body that is not JSON: ${bodySnippet(text, 80)}`, status, false, undefined);
    }
    return { status, text, body };
  }

  /** Pipedrive: remaining 0 in this window → the next request waits for x-ratelimit-reset (seconds). */
  private notePipedriveBudget(response: Response): void {
    if (this.settings.source !== 'pipedrive') return;
    const remaining = response.headers.get('x-ratelimit-remaining');
    const reset = Number(response.headers.get('x-ratelimit-reset'));
    if (remaining !== null && Number(remaining) <= 0 && Number.isFinite(reset) && reset > 0) {
      this.pacer.notBefore = Math.max(this.pacer.notBefore, this.deps.now() + Math.min(reset * 1000, this.policy.maxWaitMs));
    }
  }
}
