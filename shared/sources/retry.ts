/**
 * Retries with exponential backoff and full jitter, or an exact wait when the server names one
 * (Retry-After). The one retry helper of the API extractors (shared/sources/http.ts): the clock,
 * the sleep and the randomness are injected, so tests run a 429 storm without waiting.
 */

export interface RetryDecision {
  /** false: the error is final and is thrown as it is. */
  retry: boolean;
  /** The server's own wait (Retry-After), in ms: honoured as a floor, with a little jitter on top. */
  waitMs?: number;
  /** 429: counted against `maxRateLimited`, not `maxAttempts`. */
  rateLimited?: boolean;
}

export interface RetryOptions {
  /** Consecutive failures (5xx, network) before giving up; default 6. */
  maxAttempts?: number;
  /** Consecutive 429 answers before giving up; default 30 (a storm passes, a daily budget does not). */
  maxRateLimited?: number;
  /** First backoff, doubled each time (default 1 s), capped at maxDelayMs (default 60 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Called before each wait (to log it, to keep a heartbeat). */
  onRetry?: (info: { attempt: number; waitMs: number; error: unknown; rateLimited: boolean }) => void | Promise<void>;
}

/** The wait before retry `attempt` (1-based) without a server-named wait: full jitter over an exponential cap. */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const base = options.baseDelayMs ?? 1000;
  const cap = Math.min(options.maxDelayMs ?? 60_000, base * 2 ** Math.min(attempt - 1, 30));
  return Math.round(cap / 2 + options.random() * (cap / 2));
}

/** A server-named wait plus up to 10% (at most 1 s) of jitter, so that clients told the same time do not return together. */
export function serverWait(waitMs: number, random: () => number): number {
  return Math.ceil(waitMs + random() * Math.min(1000, waitMs * 0.1));
}

/**
 * Parses a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns ms from
 * `now`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export async function withRetry<T>(attempt: (n: number) => Promise<T>, classify: (error: unknown) => RetryDecision, options: RetryOptions): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 6;
  const maxRateLimited = options.maxRateLimited ?? 30;
  let failures = 0;
  let limited = 0;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const decision = classify(error);
      if (!decision.retry) throw error;
      if (decision.rateLimited) limited++;
      else failures++;
      if (failures >= maxAttempts || limited >= maxRateLimited) throw error;
      const waitMs =
        decision.waitMs !== undefined
          ? serverWait(decision.waitMs, options.random)
          : backoffDelay(decision.rateLimited ? limited : failures, options);
      await options.onRetry?.({ attempt: n, waitMs, error, rateLimited: decision.rateLimited === true });
      await options.sleep(waitMs);
    }
  }
}
