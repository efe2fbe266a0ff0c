import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { LakeFile } from '../lake/lake';
import { fileNameToken, printablePath, safeLakePath, UnsafePathError } from '../lake/paths';
import type { Platform } from '../platform';
import { type FileReport, ingestBronzeFile } from './ingestFile';

/** Attempts per file version before the sweeper leaves it alone (until a new version arrives; the pipeline itself gives up after MAX_FILE_ATTEMPTS). */
export const MAX_ATTEMPTS = 5;

/**
 * Ledger rows the sweeper retries: transient failures (database restarting, …) with attempts
 * left. A transient failure is one the ledger marks failure_kind = 'transient', or (rows written
 * before that column existed) whose error starts with 'transient:'. Read through to_jsonb so the
 * query also runs against a ledger without the column.
 */
const RETRY_CONDITION = `r.status = 'failed' AND (to_jsonb(r)->>'failure_kind' = 'transient' OR r.error LIKE 'transient:%') AND r.attempts < ${MAX_ATTEMPTS}`;

/**
 * What a watcher remembers between sweeps about blobs the ledger cannot hold: versions whose
 * processing threw before the ledger recorded anything, or with names that cannot be processed
 * and could not be moved aside. Keyed by path + ETag, so a new version is tried afresh.
 */
export class SweepMemory {
  readonly failures = new Map<string, number>();

  key(f: Pick<LakeFile, 'path' | 'etag'>): string {
    return `${f.path}\n${f.etag}`;
  }
}

export interface SweepOptions {
  /** Keep one across sweeps (watchBronze does) so a blob that always throws is given up on. */
  memory?: SweepMemory;
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/**
 * A blob whose name cannot be processed (control characters, '..' segments, …) is moved out of
 * bronze to quarantine/_files/_unsafe_names/ under a safe name, with an error manifest that keeps
 * the original name. The lake API takes the raw name, so this works where the pipeline cannot.
 */
async function setAsideUnsafe(p: Platform, f: LakeFile, reason: string): Promise<string> {
  const hash = createHash('sha256').update(f.path).digest('hex').slice(0, 12);
  const target = `_files/_unsafe_names/${fileNameToken(f.path.split('/').pop() ?? 'file')}-${hash}`;
  await p.lake.copy({ zone: 'bronze', path: f.path }, { zone: 'quarantine', path: target });
  const manifest = { source: `bronze/${f.path}`, etag: f.etag, rejectedAt: new Date().toISOString(), error: reason };
  await p.lake.write('quarantine', `${target}.error.json`, Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]), { contentType: 'application/json' });
  await p.lake.delete('bronze', f.path);
  return `quarantine/${target}`;
}

/**
 * One sweep of the bronze zone: every file version (path + ETag) the ledger has not seen, or
 * whose run was interrupted, goes through the pipeline. Files that failed stay failed until a
 * new version (new ETag) arrives; transient failures are retried up to five attempts. This is the
 * local stand-in for the Event Grid trigger.
 *
 * One blob never stops the sweep: a name that cannot be processed is moved aside to quarantine,
 * and any error of one blob is reported (a failed report) and the sweep goes on with the rest.
 */
export async function sweepBronze(p: Platform, onReport: (r: FileReport) => void = () => undefined, options: SweepOptions = {}): Promise<FileReport[]> {
  const memory = options.memory ?? new SweepMemory();
  const seen = new Map<string, string>();
  const res = await p.pool.query<{ path: string; etag: string; status: string }>(
    `SELECT r.path, r.etag, CASE WHEN ${RETRY_CONDITION} THEN 'retry' ELSE r.status END AS status FROM ops.file_runs r`,
  );
  for (const r of res.rows) seen.set(`${r.path}\n${r.etag}`, r.status);
  const reports: FileReport[] = [];
  const emit = (report: FileReport) => {
    reports.push(report);
    onReport(report);
  };
  for await (const f of p.lake.list('bronze', '')) {
    const key = memory.key(f);
    const status = seen.get(key);
    if (status === 'succeeded' || status === 'failed') continue;
    const tries = memory.failures.get(key) ?? 0;
    if (tries >= MAX_ATTEMPTS) continue;
    const shown = printablePath(f.path);
    let unsafe: UnsafePathError | undefined;
    try {
      safeLakePath(f.path);
    } catch (e) {
      unsafe = e instanceof UnsafePathError ? e : new UnsafePathError(errorText(e));
    }
    if (unsafe) {
      try {
        const where = await setAsideUnsafe(p, f, unsafe.message);
        emit({ path: shown, outcome: 'failed', dataset: null, message: `${unsafe.message}; moved to ${where} (rename it and upload it again)` });
      } catch (e) {
        // Cannot move it: remember it, so later sweeps skip it instead of failing on it again.
        memory.failures.set(key, MAX_ATTEMPTS);
        emit({ path: shown, outcome: 'failed', dataset: null, message: `${unsafe.message}; could not move it aside (${errorText(e)}): skipped until it changes` });
      }
      continue;
    }
    try {
      // A version another process is landing right now is left to it (reported as skipped).
      const report = await ingestBronzeFile(p, f.path, { etag: f.etag, waitForLiveMs: 0 });
      if (!(report.outcome === 'skipped' && report.ledger?.status === 'running')) emit(report);
    } catch (e) {
      // A transient error of this one file (the pipeline records it as such when it can): the
      // rest of the sweep goes on, and a later sweep retries this version a few times.
      const attempts = tries + 1;
      memory.failures.set(key, attempts);
      const next = attempts >= MAX_ATTEMPTS ? `gave up after ${attempts} attempts; a new version of the file is tried again` : 'retried on a later sweep';
      emit({ path: shown, outcome: 'failed', dataset: null, message: `transient: ${errorText(e)} (${next})` });
    }
  }
  return reports;
}

/** Resolves after `ms`, or at once when the signal aborts; leaves no listener behind either way. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Sweeps every `intervalMs` until the signal aborts. */
export async function watchBronze(p: Platform, options: { intervalMs: number; signal: AbortSignal; onReport: (r: FileReport) => void; onError: (e: unknown) => void }): Promise<void> {
  const memory = new SweepMemory();
  while (!options.signal.aborted) {
    try {
      await sweepBronze(p, options.onReport, { memory });
    } catch (e) {
      // The sweep as a whole failed (lake or database unavailable): try again next interval.
      options.onError(e);
    }
    await sleep(options.intervalMs, options.signal);
  }
}
