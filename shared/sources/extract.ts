import path from 'node:path';
import type pg from 'pg';
import type { ExtractSettings, SourceName, SourceSettings } from '../config';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import { BronzePartWriter, type PartWritten, runIdFor } from './bronze';
import { ENTITIES, type EntitySpec, entityNames, type JsonObject } from './entities';
import { ExtractError, type FailureKind } from './errors';
import { type HttpEvent, Pacer, SourceHttpClient } from './http';
import { rawArrayElements } from './rawJson';
import { abandonDeadRuns, failRun, heartbeat, readWatermark, recordProgress, type RunCounters, type RunKey, type RunMode, startRun } from './runs';
import { ensureExtractSchema } from './schema';

/**
 * The extraction core shared by the timer functions (functions/extractPipedrive.ts,
 * functions/extractZendesk.ts) and `medallion extract`: for each entity of a source, page
 * through the API from the entity's watermark (minus the overlap), write the records as they
 * came into size-capped bronze parts, and move the watermark.
 *
 * Watermark rules (ops.extract_watermarks; tables in schema.ts):
 *  - An incremental run asks from `watermark - EXTRACT_OVERLAP_MINUTES`: a record updated while a
 *    page was being read, or stamped a little out of order, is read again by the next run rather
 *    than missed; the duplicates land in bronze and silver's dedup absorbs them.
 *  - The watermark moves only in the transaction that records a bronze part as written
 *    (runs.ts recordProgress), never before the upload. A run killed at any point leaves its
 *    uploaded parts (complete files) and a watermark no later than what they hold: the next run
 *    reads from there again and loses nothing.
 *  - It moves to min(newest record time written, start of the run, down to its second). Records
 *    come in update-time order, so every change older than the newest record written is in
 *    bronze; and a record changed after the run started carries a time no earlier than the
 *    run's start second, so the next run sees it even if this run read its page before the
 *    change. (The overlap must also cover any clock difference between this host and the API.) Two runs of one entity at once are
 *    therefore safe too (each one's watermark is justified by its own parts; GREATEST keeps the
 *    later), only wasteful.
 *  - It never moves backwards, and not at all for a --since run that started after it (data
 *    between the watermark and --since was not read). Snapshot entities (read whole each run)
 *    keep their newest record time as watermark for information.
 *  - A 401/403 stops the whole source at once, records the run as failed (kind auth) and leaves
 *    the watermark where the last written part put it.
 */

export interface ExtractDeps {
  lake: Lake;
  pool: pg.Pool;
  log: Logger;
  /** Local scratch folder (parts are built there before upload). */
  workRoot: string;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  signal?: AbortSignal;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
  onEvent?: (e: ExtractEvent) => void;
}

export interface ExtractOptions {
  /** Entities to extract (default: all, in ENTITIES order). */
  entities?: string[];
  /** Read incremental entities from the beginning (the watermark still only moves forward). */
  full?: boolean;
  /** Read incremental entities from this time (ms) instead of the watermark. */
  since?: number;
}

export type ExtractEvent =
  | { type: 'entity'; source: SourceName; entity: string; mode: RunMode; since?: number; runId: string }
  | { type: 'page'; source: SourceName; entity: string; records: number; total: number }
  | { type: 'part'; source: SourceName; entity: string; path: string; records: number }
  | { type: 'http'; source: SourceName; entity: string; event: HttpEvent }
  | { type: 'done'; report: EntityReport };

export interface EntityReport extends RunCounters {
  source: SourceName;
  scope: string;
  entity: string;
  runId?: string;
  mode: RunMode;
  status: 'succeeded' | 'failed' | 'skipped';
  failureKind?: FailureKind;
  error?: string;
  windowStart?: number;
  watermarkBefore?: number;
  watermarkAfter?: number;
  /** Why the watermark stayed (a --since run after it). */
  watermarkNote?: string;
  ms: number;
}

export interface SourceReport {
  source: SourceName;
  scope: string;
  status: 'succeeded' | 'failed';
  entities: EntityReport[];
  /** Set when the source stopped early (auth, interrupted): the message that says what to do. */
  stopped?: { kind: FailureKind; message: string };
}

function abortableSleep(signal?: AbortSignal): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new ExtractError('interrupted', 'interrupted'));
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(new ExtractError('interrupted', 'interrupted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}

/** How long a running run may stay silent before the next run of its entity calls it abandoned. */
function staleAfterMs(extract: ExtractSettings): number {
  return Math.max(15 * 60_000, extract.maxWaitSeconds * 1000 + 5 * 60_000);
}

export function unknownEntities(source: SourceName, entities: string[]): string[] {
  const known = new Set(entityNames(source));
  return entities.filter((e) => !known.has(e));
}

/** Extracts the entities of one source (all by default). Never throws for an API failure: see the report. */
export async function extractSource(deps: ExtractDeps, settings: SourceSettings, extract: ExtractSettings, options: ExtractOptions = {}): Promise<SourceReport> {
  const source = settings.source;
  const unknown = unknownEntities(source, options.entities ?? []);
  if (unknown.length) throw new RangeError(`unknown ${source} entit${unknown.length > 1 ? 'ies' : 'y'} ${unknown.map((e) => `'${e}'`).join(', ')} (known: ${entityNames(source).join(', ')})`);
  await ensureExtractSchema(deps.pool);
  const specs = options.entities?.length ? ENTITIES[source].filter((e) => options.entities!.includes(e.name)) : ENTITIES[source];
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? abortableSleep(deps.signal);
  const reports: EntityReport[] = [];
  const pacer = new Pacer();
  let stopped: SourceReport['stopped'];
  for (const spec of specs) {
    if (stopped) {
      reports.push(skipped(settings, spec, stopped.kind));
      continue;
    }
    const report = await extractEntity({ ...deps, now, sleep }, settings, extract, spec, options, pacer);
    reports.push(report);
    deps.onEvent?.({ type: 'done', report });
    const line = {
      source,
      scope: settings.scope,
      entity: spec.name,
      run_id: report.runId,
      status: report.status,
      failure_kind: report.failureKind ?? null,
      mode: report.mode,
      records: report.records,
      parts: report.parts.length,
      requests: report.requests,
      retries: report.retries,
      watermark_before: report.watermarkBefore === undefined ? null : new Date(report.watermarkBefore).toISOString(),
      watermark_after: report.watermarkAfter === undefined ? null : new Date(report.watermarkAfter).toISOString(),
      duration_ms: report.ms,
      error: report.error ?? null,
    };
    if (report.status === 'failed') deps.log.warn('medallion.extract', line);
    else deps.log.info('medallion.extract', line);
    if (report.failureKind === 'auth' || report.failureKind === 'interrupted') stopped = { kind: report.failureKind, message: report.error ?? report.failureKind };
  }
  return { source, scope: settings.scope, status: reports.some((r) => r.status !== 'succeeded') ? 'failed' : 'succeeded', entities: reports, stopped };
}

function skipped(settings: SourceSettings, spec: EntitySpec, why: FailureKind): EntityReport {
  return {
    source: settings.source,
    scope: settings.scope,
    entity: spec.name,
    mode: spec.mode === 'snapshot' ? 'snapshot' : 'incremental',
    status: 'skipped',
    error: why === 'auth' ? 'not attempted: the source refused the credentials' : 'not attempted: interrupted',
    records: 0,
    bytes: 0,
    pages: 0,
    requests: 0,
    retries: 0,
    parts: [],
    ms: 0,
  };
}

type Resolved = ExtractDeps & { now: () => number; sleep: (ms: number) => Promise<void> };

async function extractEntity(deps: Resolved, settings: SourceSettings, extract: ExtractSettings, spec: EntitySpec, options: ExtractOptions, pacer: Pacer): Promise<EntityReport> {
  const started = performance.now();
  const { pool } = deps;
  const source = settings.source;
  const t0 = deps.now();
  const before = await readWatermark(pool, source, settings.scope, spec.name);
  const overlapMs = extract.overlapMinutes * 60_000;

  let mode: RunMode;
  let since: number | undefined;
  if (spec.mode === 'snapshot') mode = 'snapshot';
  else if (options.full) mode = 'full';
  else if (options.since !== undefined) {
    mode = 'since';
    since = options.since;
  } else {
    mode = 'incremental';
    since = before.watermark === undefined ? undefined : before.watermark - overlapMs;
  }
  // Whether the run reads everything from the watermark on (may move it, and counts as fresh).
  const covers = mode !== 'since' || before.watermark === undefined || options.since! <= before.watermark;

  const base = { source, scope: settings.scope, entity: spec.name };
  await abandonDeadRuns(pool, base, t0, staleAfterMs(extract));
  const { runId } = await startRun(pool, base, { runId: runIdFor, startMs: t0, mode, windowStart: since, watermarkBefore: before.watermark });
  const key: RunKey = { ...base, runId };
  deps.onEvent?.({ type: 'entity', source, entity: spec.name, mode, since, runId });

  const counters: RunCounters = { records: 0, bytes: 0, pages: 0, requests: 0, retries: 0, parts: [] };
  const client = new SourceHttpClient(
    settings,
    { fetch: deps.fetch ?? fetch, now: deps.now, sleep: deps.sleep, random: deps.random ?? Math.random, signal: deps.signal, timeoutMs: deps.timeoutMs },
    { maxWaitMs: extract.maxWaitSeconds * 1000 },
    async (event) => {
      deps.onEvent?.({ type: 'http', source, entity: spec.name, event });
      if (event.type === 'retry') await heartbeat(pool, key, deps.now(), sync()).catch(() => undefined);
    },
    pacer,
  );
  const sync = (): RunCounters => {
    counters.requests = client.requests;
    counters.retries = client.retries;
    return counters;
  };

  let writtenMax: number | undefined;
  let watermarkAfter = before.watermark;
  // Both APIs stamp changes in whole seconds: a change in the run's first second may carry a
  // stamp just before t0, so the bound is the start of that second.
  const t0Second = Math.floor(t0 / 1000) * 1000;
  const advanceFor = (newest: number | undefined): number | undefined => (newest === undefined || !covers ? undefined : Math.min(newest, t0Second));
  const writer = new BronzePartWriter(deps.lake, path.join(deps.workRoot, 'extract'), key, extract.partMaxBytes, async (p: PartWritten) => {
    counters.parts.push(p.path);
    counters.records += p.records;
    counters.bytes += p.bytes;
    deps.onEvent?.({ type: 'part', source, entity: spec.name, path: p.path, records: p.records });
    if (p.maxTimestamp !== undefined && (writtenMax === undefined || p.maxTimestamp > writtenMax)) writtenMax = p.maxTimestamp;
    // Mid-run checkpoint (incremental entities only: their records come in update-time order).
    const advanceTo = spec.mode === 'incremental' ? advanceFor(writtenMax) : undefined;
    const after = await recordProgress(pool, key, deps.now(), sync(), { advanceTo });
    if (after !== undefined) watermarkAfter = after;
  });

  let newest: number | undefined;
  let read = 0;
  let lastBeat = deps.now();
  try {
    let url: URL | undefined = spec.first(settings.baseUrl, since, deps.now());
    while (url) {
      const answer = await client.getJson(url, spec.requestClass);
      if (answer.body === null || typeof answer.body !== 'object' || Array.isArray(answer.body)) {
        throw new ExtractError('bad_response', `${spec.name}: the answer is not a JSON object`);
      }
      const body = answer.body as JsonObject;
      const records = body[spec.recordsKey];
      if (!Array.isArray(records)) throw new ExtractError('bad_response', `${spec.name}: the answer has no '${spec.recordsKey}' array`);
      let raw = rawArrayElements(answer.text, spec.recordsKey);
      if (!raw || raw.length !== records.length) {
        deps.log.warn(`${source}/${spec.name}: could not take the records' source text; writing them re-serialised`);
        raw = records.map((r) => JSON.stringify(r));
      }
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        const t = r !== null && typeof r === 'object' ? spec.timestamp(r as JsonObject) : undefined;
        if (t !== undefined && (newest === undefined || t > newest)) newest = t;
        await writer.add(raw[i]!, t);
      }
      read += records.length;
      if (records.length) counters.pages++;
      deps.onEvent?.({ type: 'page', source, entity: spec.name, records: records.length, total: read });
      if (deps.now() - lastBeat > 10_000) {
        lastBeat = deps.now();
        await heartbeat(pool, key, lastBeat, sync());
      }
      url = spec.next(url, body);
    }
    await writer.flush();
    const advanceTo = spec.mode === 'snapshot' ? newest : advanceFor(newest);
    const after = await recordProgress(pool, key, deps.now(), sync(), { advanceTo, succeeded: true, fresh: covers });
    if (after !== undefined) watermarkAfter = after;
    return report('succeeded');
  } catch (e) {
    await writer.discard();
    const kind: FailureKind = e instanceof ExtractError ? e.kind : deps.signal?.aborted ? 'interrupted' : 'transient';
    const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    await failRun(pool, key, deps.now(), sync(), kind, message);
    return report('failed', kind, message);
  }

  function report(status: 'succeeded' | 'failed', failureKind?: FailureKind, error?: string): EntityReport {
    return {
      ...base,
      runId,
      mode,
      status,
      failureKind,
      error,
      records: counters.records,
      bytes: counters.bytes,
      pages: counters.pages,
      requests: client.requests,
      retries: client.retries,
      parts: [...counters.parts],
      windowStart: since,
      watermarkBefore: before.watermark,
      watermarkAfter,
      watermarkNote: covers ? undefined : 'kept: --since is later than the watermark, so the data between them was not read',
      ms: Math.round(performance.now() - started),
    };
  }
}
