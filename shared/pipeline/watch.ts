import type { Platform } from '../platform';
import { type FileReport, ingestBronzeFile } from './ingestFile';

/**
 * One sweep of the bronze zone: every file version (path + ETag) the ledger has not seen, or
 * whose run was interrupted, goes through the pipeline. Files that failed stay failed until a
 * new version (new ETag) arrives; transient failures are retried up to five attempts. This is the
 * local stand-in for the Event Grid trigger.
 */
export async function sweepBronze(p: Platform, onReport: (r: FileReport) => void = () => undefined): Promise<FileReport[]> {
  const seen = new Map<string, string>();
  // Transient failures (database restarting, …) are retried a few times; file-level ones wait for a new version.
  const res = await p.pool.query<{ path: string; etag: string; status: string }>(
    `SELECT path, etag, CASE WHEN status = 'failed' AND error LIKE 'transient:%' AND attempts < 5 THEN 'retry' ELSE status END AS status FROM ops.file_runs`,
  );
  for (const r of res.rows) seen.set(`${r.path}\n${r.etag}`, r.status);
  const reports: FileReport[] = [];
  for await (const f of p.lake.list('bronze', '')) {
    const status = seen.get(`${f.path}\n${f.etag}`);
    if (status === 'succeeded' || status === 'failed') continue;
    const report = await ingestBronzeFile(p, f.path, { etag: f.etag });
    reports.push(report);
    onReport(report);
  }
  return reports;
}

/** Sweeps every `intervalMs` until the signal aborts. */
export async function watchBronze(p: Platform, options: { intervalMs: number; signal: AbortSignal; onReport: (r: FileReport) => void; onError: (e: unknown) => void }): Promise<void> {
  while (!options.signal.aborted) {
    try {
      await sweepBronze(p, options.onReport);
    } catch (e) {
      options.onError(e);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, options.intervalMs);
      options.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
}
