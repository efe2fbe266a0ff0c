import { createHash, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { Contract, Reference } from '../contracts/contract';
import { referenceProblems } from '../contracts/validate';
import { copyCsvInto, copyQueryToFile } from '../db/copy';
import { qi, quarantineTable, SILVER_SCHEMA, silverTable } from '../db/schema';
import { loadSilverRows } from '../db/silverLoad';
import { csvSettings, type ExtractLineage, quarantineColumns, resolveFormat, silverColumns } from '../engine/compile';
import { ExpectationFailedError, parquetToCsv, referenceKeyLine, type TransformResult, transformFile } from '../engine/transform';
import type { LakeFile, Zone } from '../lake/lake';
import { safeLakePath } from '../lake/paths';
import type { Platform } from '../platform';
import { BadContractError, BadFileError, classifyDatabaseError, classifyEngineError, type FailureKind, failureKindOf, GaveUpError } from './failures';
import { lockKey } from './locks';
import {
  abandonUnfinished,
  beatWhileRunning,
  claimRun,
  clearOutputs,
  completeRun,
  failRun,
  findLanded,
  finishTimings,
  getRun,
  type LedgerRow,
  recordOutputs,
  recordRedelivery,
} from './ledger';
import { type ColumnMatch, matchColumns, parseHeader, type StagedInput, stageInput } from './stageInput';
import { extractLineage, unownedSourcePath } from './stagingPath';
import { scratchPrefix } from '../workDirs';

export type FileOutcome = 'succeeded' | 'failed' | 'skipped' | 'missing';

export interface FileReport {
  path: string;
  outcome: FileOutcome;
  dataset: string | null;
  /** Why a file failed (what to fix), or why it was skipped. */
  message?: string;
  /** Why it failed, as a kind: only 'transient' is worth retrying. */
  failureKind?: FailureKind;
  ledger?: LedgerRow;
}

export interface IngestOptions {
  /** Only process this exact version (the ETag an event carried); default: the current one. */
  etag?: string;
  progress?: (stage: string) => void;
  /**
   * When another process is landing this version right now (its run beats): how long to wait for
   * it before reporting it as skipped (default 120 s; the sweeper passes 0, `medallion ingest`
   * waits longer). Its result is then this call's; if it dies, this call takes the run over.
   */
  waitForLiveMs?: number;
}

const LIVE_POLL_MS = 1_000;

/** A short stable key of one file version: names its outputs, so a retry overwrites them. */
export function runKey(bronzePath: string, etag: string): string {
  return createHash('sha256').update(`${bronzePath}\n${etag}`).digest('hex').slice(0, 16);
}

/** Header checks of a CSV file: recognisably CSV, no duplicate names, every required column, the unknown-columns policy. */
function checkColumns(contract: Contract, header: string | undefined, delimiter: string, quote: string): ColumnMatch {
  const firstLine = header ?? '';
  const expected = contract.source.map((s) => s.name).join(', ');
  if (/^\s*[[{]/.test(firstLine)) {
    throw new BadFileError(`the file looks like JSON, not a CSV with a header line; dataset '${contract.name}' expects CSV with columns: ${expected}`);
  }
  if (parseHeader(firstLine, delimiter, quote).length < 2 && contract.source.length > 1) {
    throw new BadFileError(
      `the first line does not look like a '${delimiter}'-separated CSV header (found ${JSON.stringify(firstLine.slice(0, 120))}); expected columns: ${expected}`,
    );
  }
  const match = matchColumns(contract.source, firstLine, delimiter, quote);
  if (match.unknown.length && contract.unknownColumns === 'fail') {
    throw new BadFileError(
      `column(s) ${match.unknown.map((u) => `'${u.name}'`).join(', ')} are not in the contract of '${contract.name}', which refuses unknown columns; ` +
        `add them to the contract (or set unknownColumns: 'rescue') and drop the file again`,
    );
  }
  return match;
}

const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z)?$/;

/** Writes silver ids whose range column lies in [min, max] to a local file (none: undefined). */
async function exportExistingIds(client: pg.PoolClient, contract: Contract, range: { min: string; max: string }, file: string): Promise<string | undefined> {
  if (contract.dedup.mode !== 'first') throw new Error(`'${contract.name}' has no cross-file id look-up (dedup mode '${contract.dedup.mode}')`);
  if (!TIMESTAMP_TEXT.test(range.min) || !TIMESTAMP_TEXT.test(range.max)) {
    // Not a time range: fall back to all ids of the dataset (correct, only slower).
    await copyQueryToFile(client, `SELECT ${qi(contract.dedup.idColumn)} FROM ${silverTable(contract)}`, file);
  } else {
    // The bounds are UTC wall-clock text: said so explicitly, so the look-up is right whatever
    // the session's time zone (this query runs outside a transaction, maybe through PgBouncer).
    const utc = (t: string) => (/([+-]\d{2}(:?\d{2})?|Z)$/.test(t) || !/\d{2}:\d{2}/.test(t) ? t : `${t}+00`);
    const lo = client.escapeLiteral(utc(range.min));
    const hi = client.escapeLiteral(utc(range.max));
    await copyQueryToFile(
      client,
      `SELECT ${qi(contract.dedup.idColumn)} FROM ${silverTable(contract)} WHERE ${qi(contract.rangeColumn)} BETWEEN ${lo} AND ${hi}`,
      file,
    );
  }
  return (await stat(file)).size > 0 ? file : undefined;
}

/**
 * Writes the current keys of a reference's dataset (its silver table as of now) to a local file,
 * one line each (referenceKeyLine); undefined when there are none, or the table or its key column
 * does not exist (e.g. the dataset's contract never loaded): then every reference is unresolved.
 */
async function exportReferenceKeys(client: pg.PoolClient, reference: Reference, file: string): Promise<string | undefined> {
  const found = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`, [
    SILVER_SCHEMA,
    reference.dataset,
    reference.key,
  ]);
  if (!found.rowCount) return undefined;
  const key = qi(reference.key);
  await copyQueryToFile(client, `SELECT DISTINCT ${referenceKeyLine(key)} FROM ${qi(SILVER_SCHEMA)}.${qi(reference.dataset)} WHERE ${key} IS NOT NULL`, file);
  return (await stat(file)).size > 0 ? file : undefined;
}

/** The contract's references against the loaded datasets: an unknown dataset or key is the contract's fault. */
function checkReferences(p: Platform, contract: Contract): void {
  const problems = referenceProblems(contract, (name) => p.contracts.get(name), p.contracts.all().map((c) => c.name), new Set(p.contracts.broken.keys()));
  if (problems.length) throw new BadContractError(`contract '${contract.name}': ${problems.join('; ')}; fix shared/datasets/${contract.name}/contract.ts, then replay the file`);
}

/** A named pipe (Linux, macOS); false where there is none (then a plain file is used). */
function makePipe(file: string): boolean {
  try {
    execFileSync('mkfifo', ['-m', '600', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs the writer of a pipe; if it fails, ends the pipe so the reader sees EOF instead of waiting forever. */
async function feedPipe(pipe: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (e) {
    const fd = await open(pipe, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
    await fd?.close();
    throw e;
  }
}

/** Opens and closes the reading end of a named pipe, so a writer blocked on it fails instead of waiting forever. */
async function releasePipe(pipe: string): Promise<void> {
  const fd = await open(pipe, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  await fd?.close();
}

/** Lake paths of one run's outputs. */
function silverOutputPath(contract: Contract, relative: string, key: string, index: number): string {
  const dir = path.posix.dirname(relative);
  const name = `part-${key}-${index}.parquet`;
  return dir === '.' ? `${contract.name}/${name}` : `${contract.name}/${dir}/${name}`;
}

type Output = { zone: string; path: string };

async function deleteOutputs(p: Platform, outputs: Output[]): Promise<void> {
  for (const o of outputs) await p.lake.delete(o.zone as Zone, o.path);
}

/** Copies a rejected file to quarantine/_files/ with an error manifest next to it. */
async function quarantineFile(p: Platform, bronzePath: string, dataset: string | null, etag: string, message: string, runId: string): Promise<void> {
  const target = `_files/${dataset ?? '_unknown'}/${bronzePath}`;
  await p.lake.copy({ zone: 'bronze', path: bronzePath }, { zone: 'quarantine', path: target });
  const manifest = { source: `bronze/${bronzePath}`, etag, dataset, runId, rejectedAt: new Date().toISOString(), error: message };
  await p.lake.write('quarantine', `${target}.error.json`, Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]), { contentType: 'application/json' });
}

/** The state one run carries from stage to stage. */
interface Run {
  p: Platform;
  path: string;
  file: LakeFile;
  contract: Contract;
  runId: string;
  work: string;
  progress: (stage: string) => void;
  started: number;
  timings: Record<string, number>;
  /** Lake outputs written so far (removed if the run fails before commit). */
  written: Output[];
  /** Transform-and-load attempt (a load conflict redoes the transform). */
  attempt: number;
  /** Set when the run is part of a caller's transaction (a dataset rebuild, a dry run): no own transaction, lock or after-commit. */
  nested?: pg.PoolClient;
  /** Staging (dedup.mode 'line') datasets: the account and extraction run the file's path names. */
  extract?: ExtractLineage;
}

function lap(run: Run, name: string, since: number): void {
  run.timings[name] = (run.timings[name] ?? 0) + Date.now() - since;
}

/** Stage 1, download + staging pass: the file to local records, header checked. */
async function stageFile(run: Run): Promise<{ staged: StagedInput; columns?: ColumnMatch }> {
  run.progress('download');
  const t0 = Date.now();
  const format = resolveFormat(run.contract, run.path);
  const settings = csvSettings(format);
  const strictJson = run.contract.dedup.mode === 'line' && format.type === 'jsonl';
  const staged = await stageInput(await run.p.lake.read('bronze', run.path), path.join(run.work, 'input'), { type: format.type, ...settings, strictJson });
  const columns = format.type === 'csv' ? checkColumns(run.contract, staged.header, settings.delimiter, settings.quote) : undefined;
  lap(run, 'download', t0);
  return { staged, columns };
}

/** Outputs an earlier attempt of this file version recorded (removed once this attempt lands, unless rewritten). */
function staleOutputs(previous: Output[], written: Output[]): Output[] {
  const now = new Set(written.map((o) => `${o.zone}/${o.path}`));
  return previous.filter((o) => !now.has(`${o.zone}/${o.path}`));
}

/** Runs `fn` with a pooled connection held only for its duration (the connection budget). */
async function withClient<T>(p: Platform, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await p.pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

/** Stage 2, transform: DuckDB types, checks and dedups the staged records into local Parquet (no lock, no connection held). */
async function transform(run: Run, staged: StagedInput, columns: ColumnMatch | undefined, ingestedAt: Date): Promise<TransformResult> {
  run.progress('transform');
  // The ids silver already holds in the file's time range, read once (a short COPY): a file of
  // the same dataset committing meanwhile is caught at load time (see load) and the run redone.
  const existingIds = (range: { min: string; max: string }) =>
    run.nested
      ? exportExistingIds(run.nested, run.contract, range, path.join(run.work, 'existing_ids.txt'))
      : withClient(run.p, (c) => exportExistingIds(c, run.contract, range, path.join(run.work, 'existing_ids.txt')));
  // The keys of each referenced dataset as silver holds them now (a short COPY each): references
  // not among them are counted as unresolved (kept in silver).
  checkReferences(run.p, run.contract);
  const referenceKeys = (reference: Reference, i: number) => {
    const file = path.join(run.work, `reference_keys_${i}.txt`);
    return run.nested ? exportReferenceKeys(run.nested, reference, file) : withClient(run.p, (c) => exportReferenceKeys(c, reference, file));
  };
  try {
    return await transformFile(
      {
        contract: run.contract,
        inputPath: staged.localPath,
        rejectsPath: staged.rejectsPath,
        columnPositions: columns?.positions,
        headerWidth: columns?.width,
        unknownColumns: columns?.unknown,
        lineage: { sourceFile: run.path, runId: run.runId, ingestedAt, sourceHash: staged.contentHash, extract: run.extract },
        staging: { rowsRead: staged.rowsRead, rejected: staged.rejected, rejectReasons: staged.rejectReasons },
        outDir: path.join(run.work, `out-${ingestedAt.getTime()}`),
        existingIds,
        referenceKeys,
      },
      run.p.engine,
    );
  } catch (e) {
    if (e instanceof ExpectationFailedError) throw new BadFileError(e.message);
    throw classifyEngineError(e, run.contract.name);
  }
}

/** Stage 3, publish: silver and quarantine Parquet into the lake (recorded in the ledger before written). */
async function publish(run: Run, result: TransformResult, ingestedAt: Date): Promise<void> {
  run.progress('upload');
  const t0 = Date.now();
  const key = runKey(run.path, run.file.etag);
  const silverTargets = result.silverFiles.map((rel, i) => ({ rel, lake: silverOutputPath(run.contract, rel, key, i) }));
  const day = ingestedAt.toISOString().slice(0, 10);
  const quarantineTarget = result.quarantineFile ? `${run.contract.name}/rows/ingest_date=${day}/part-${key}.parquet` : undefined;
  const planned = [...silverTargets.map((t) => ({ zone: 'silver', path: t.lake })), ...(quarantineTarget ? [{ zone: 'quarantine', path: quarantineTarget }] : [])];
  await recordOutputs(run.nested ?? run.p.pool, run.path, run.file.etag, run.runId, planned);
  for (const t of silverTargets) {
    run.written.push({ zone: 'silver', path: t.lake });
    await run.p.lake.writeFile('silver', t.lake, path.join(result.silverDir, t.rel), { contentType: 'application/vnd.apache.parquet' });
  }
  if (quarantineTarget && result.quarantineFile) {
    run.written.push({ zone: 'quarantine', path: quarantineTarget });
    await run.p.lake.writeFile('quarantine', quarantineTarget, result.quarantineFile, { contentType: 'application/vnd.apache.parquet' });
  }
  lap(run, 'upload', t0);
}

/** Quarantine rows into PostgreSQL, keyed by (source hash, line): rows that are already there are not added again. */
async function loadQuarantine(tx: pg.PoolClient, contract: Contract, csvPath: string): Promise<number> {
  const cols = quarantineColumns(contract);
  const stage = qi(`${contract.name}__quarantine_load`);
  await tx.query(`CREATE TEMP TABLE ${stage} (LIKE ${quarantineTable(contract)}) ON COMMIT DROP`);
  const copied = await copyCsvInto(tx, stage, cols, csvPath);
  const list = cols.map(qi).join(', ');
  await tx.query(`INSERT INTO ${quarantineTable(contract)} (${list}) SELECT ${list} FROM ${stage} ON CONFLICT (source_hash, source_line) DO NOTHING`);
  await tx.query(`DROP TABLE ${stage}`);
  return copied;
}

/** A file of the same dataset landed rows of this file between its transform and its load: transform again. */
class LoadConflict extends Error {
  override name = 'LoadConflict';
}

/** What the load transaction decided. */
type Landed =
  | { kind: 'landed'; row: LedgerRow; stale: Output[] }
  | { kind: 'redelivery'; row: LedgerRow; of: LedgerRow; stale: Output[] }
  | { kind: 'superseded'; row?: LedgerRow };

/**
 * Stage 4, load: ONE transaction, holding the dataset lock (transaction-scoped) only for its own
 * duration: the claim is checked, earlier unfinished runs of the path are closed as abandoned,
 * a re-delivery is recognised, then silver, quarantine, the gold increment and the ledger row
 * commit together. Lake files to remove are returned, removed after the commit.
 */
async function load(run: Run, tx: pg.PoolClient, staged: StagedInput, columns: ColumnMatch | undefined, result: TransformResult): Promise<Landed> {
  run.progress('load');
  const { contract, p } = run;
  const t0 = Date.now();
  const silverCsv = path.join(run.work, `silver-${run.attempt}.csv`);
  const silverCols = silverColumns(contract).map((c) => c.name);
  const silverParquet = result.silverFiles.map((f) => path.join(result.silverDir, f));
  const quarantineCsv = path.join(run.work, 'quarantine.csv');
  if (result.quarantineFile) await parquetToCsv([result.quarantineFile], quarantineColumns(contract), quarantineCsv, p.engine);
  lap(run, 'load_export', t0);

  // The version of the file in bronze now: runs of it elsewhere are alive and newer, never abandoned.
  const currentEtag = (await p.lake.stat('bronze', run.path))?.etag;
  if (!run.nested) await tx.query('BEGIN');
  try {
    // Every connection runs in UTC; set again here for a pooled (PgBouncer) connection.
    await tx.query("SET LOCAL TIME ZONE 'UTC'");
    if (!run.nested) await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey(contract.name)]);
    const current = await getRun(tx, run.path, run.file.etag);
    if (!current || current.run_id !== run.runId || current.status !== 'running') {
      if (!run.nested) await tx.query('ROLLBACK');
      return { kind: 'superseded', row: current };
    }
    const abandoned = await abandonUnfinished(tx, { path: run.path, keepRunId: run.runId, currentEtag: currentEtag === run.file.etag ? undefined : currentEtag });
    const stale = [...abandoned.flatMap((a) => a.outputs), ...staleOutputs(current.outputs, run.written)];
    // Staging (line) datasets never take the shortcut: their rows are the file's own lines at its
    // path, so a copy stages its own lines, and a version of a path that returns to earlier bytes
    // must restore them (the upsert counts unchanged lines as duplicates and writes nothing).
    const landed = run.extract ? undefined : await findLanded(tx, contract.name, staged.contentHash, run.runId);
    if (landed) {
      const row = await recordRedelivery(tx, run.path, run.file.etag, run.runId, { rowsRead: staged.rowsRead, contentHash: staged.contentHash, of: landed, blankLines: staged.blankLines });
      await clearOutputs(tx, run.path, run.file.etag);
      if (!run.nested) await tx.query('COMMIT');
      return { kind: 'redelivery', row, of: landed, stale: [...stale, ...run.written] };
    }
    const t1 = Date.now();
    // 'first' datasets stream the rows: DuckDB writes CSV into a pipe while COPY reads it.
    const streamed = contract.dedup.mode === 'first' && result.silverRows > 0 && makePipe(silverCsv);
    if (!streamed && result.silverRows > 0) await parquetToCsv(silverParquet, silverCols, silverCsv, p.engine);
    const feeding = streamed ? feedPipe(silverCsv, () => parquetToCsv(silverParquet, silverCols, silverCsv, p.engine)) : Promise.resolve();
    let silver: Awaited<ReturnType<typeof loadSilverRows>>;
    try {
      [silver] = await Promise.all([loadSilverRows(tx, contract, silverCsv, silverCols, result.silverRows, { path: run.path, scope: run.extract?.scope }), feeding]);
    } catch (e) {
      // The writer of the pipe may be waiting for a reader that will never come (COPY failed):
      // open and close the reading end so it gets EOF/EPIPE and ends.
      if (streamed) await releasePipe(silverCsv);
      await feeding.catch(() => undefined);
      // A unique violation on silver's key: another file of the dataset committed some of these rows after our look-up.
      if ((e as { code?: string }).code === '23505' && contract.dedup.mode === 'first') throw new LoadConflict((e as Error).message);
      throw e;
    }
    const q = result.quarantineFile ? await loadQuarantine(tx, contract, quarantineCsv) : 0;
    if (q !== result.quarantined) throw new Error(`quarantine load copied ${q} rows, expected ${result.quarantined}`);
    lap(run, 'load_copy', t1);
    const t2 = Date.now();
    await p.hooks.afterSilverLoad?.(tx, { contract, runId: run.runId, path: run.path, silverFiles: silverParquet });
    lap(run, 'gold', t2);
    const row = await completeRun(tx, run.path, run.file.etag, run.runId, {
      rowsRead: result.rowsRead,
      rowsSilver: silver.loaded,
      rowsQuarantined: result.quarantined,
      quarantineReasons: result.quarantineReasons,
      duplicatesInFile: result.duplicatesInFile,
      duplicatesCrossFile: result.duplicatesCrossFile + silver.superseded,
      warnings: { ...result.warnings, ...silver.warnings },
      timingsMs: { ...run.timings, ...result.timingsMs },
      contentHash: staged.contentHash,
      blankLines: staged.blankLines,
      unknownColumns: columns?.unknown.map((u) => u.name) ?? [],
    });
    if (!run.nested) await tx.query('COMMIT');
    return { kind: 'landed', row, stale };
  } catch (e) {
    if (!run.nested) await tx.query('ROLLBACK').catch(() => undefined);
    if (e instanceof LoadConflict) throw e;
    throw classifyDatabaseError(e, `loading ${run.path} into silver '${contract.name}'`);
  }
}

/** Stage 5, after commit: lake exports and other work that must not hold the transaction open. */
async function afterCommit(run: Run): Promise<void> {
  if (!run.p.hooks.afterCommit) return;
  // The file has landed; a failure here (e.g. a gold export) is reported, not undone.
  run.progress('after-commit');
  const t0 = Date.now();
  try {
    await run.p.hooks.afterCommit({ contract: run.contract, runId: run.runId, path: run.path });
  } catch (e) {
    run.p.log.error('medallion.after_commit', { dataset: run.contract.name, path: run.path, error: e instanceof Error ? e.message : String(e) });
  }
  lap(run, 'after_commit', t0);
}

function logLanded(run: Run, row: LedgerRow): void {
  run.p.log.info('medallion.file', {
    dataset: run.contract.name,
    path: run.path,
    status: 'succeeded',
    rows_read: row.rows_read,
    rows_silver: row.rows_silver,
    rows_quarantined: row.rows_quarantined,
    duplicates: (row.duplicates_in_file ?? 0) + (row.duplicates_cross_file ?? 0),
    redelivery_of: row.redelivery_of,
    duration_ms: row.duration_ms,
    latency_ms: row.latency_ms,
  });
}

/** Transform, publish and load; a load conflict (a concurrent file of the dataset) redoes the transform, a few times. */
const LOAD_ATTEMPTS = 4;

async function transformAndLoad(run: Run, staged: StagedInput, columns: ColumnMatch | undefined): Promise<FileReport> {
  const { p, contract } = run;
  for (let attempt = 1; ; attempt++) {
    run.attempt = attempt;
    const ingestedAt = new Date();
    const result = await transform(run, staged, columns, ingestedAt);
    await publish(run, result, ingestedAt);
    let outcome: Landed | undefined;
    for (let tries = 1; !outcome; tries++) {
      try {
        outcome = run.nested ? await load(run, run.nested, staged, columns, result) : await withClient(p, (tx) => load(run, tx, staged, columns, result));
      } catch (e) {
        // A deadlock or serialization failure rolled the load back: run it again as it is.
        const code = (e as { code?: unknown }).code;
        if (!run.nested && (code === '40P01' || code === '40001') && tries < LOAD_ATTEMPTS) continue;
        if (!(e instanceof LoadConflict) || attempt >= LOAD_ATTEMPTS) throw e;
        p.log.info('medallion.load_conflict', { dataset: contract.name, path: run.path, attempt });
        break;
      }
    }
    if (!outcome) continue;
    if (outcome.kind === 'superseded') {
      await deleteOutputs(p, run.written);
      const message =
        outcome.row?.status === 'abandoned'
          ? `bronze/${run.path} was replaced while this run read it; the run of the newer version lands instead (${outcome.row.error ?? ''})`
          : 'another delivery of the same file version took over';
      return { path: run.path, outcome: 'skipped', dataset: contract.name, message, ledger: outcome.row };
    }
    run.written = [];
    await deleteOutputs(p, outcome.stale).catch(() => undefined);
    if (outcome.kind === 'redelivery') {
      logLanded(run, outcome.row);
      return { path: run.path, outcome: 'succeeded', dataset: contract.name, message: `same content as ${outcome.of.path} (already landed): every row counted as a duplicate`, ledger: outcome.row };
    }
    return { path: run.path, outcome: 'succeeded', dataset: contract.name, ledger: outcome.row };
  }
}

/** Records a failed run: bad files are copied to quarantine/_files; only transient failures are thrown (retried). */
async function failed(
  p: Platform,
  args: { path: string; file: LakeFile; dataset: string | null; runId: string; started: number; nested?: pg.PoolClient },
  e: unknown,
): Promise<FileReport> {
  const kind = failureKindOf(e);
  const message = e instanceof Error ? e.message : String(e);
  if (kind === 'bad_file') await quarantineFile(p, args.path, args.dataset, args.file.etag, message, args.runId);
  const row = await failRun(args.nested ?? p.pool, args.path, args.file.etag, args.runId, message, kind).catch(() => undefined);
  const log = kind === 'transient' ? p.log.error : p.log.warn;
  log('medallion.file', { dataset: args.dataset, path: args.path, status: 'failed', failure_kind: kind, error: message, duration_ms: Date.now() - args.started });
  if (kind === 'transient' && !(e instanceof GaveUpError)) throw e;
  return { path: args.path, outcome: 'failed', dataset: args.dataset, message, failureKind: kind, ledger: row };
}

/** A dataset whose silver tables do not match its contract (a breaking change waiting for a rebuild). */
function blockedMessage(p: Platform, dataset: string): string | undefined {
  return p.blockedDatasets.get(dataset);
}

/**
 * The bronze → silver pipeline for one file; every entry point (blob trigger, CLI, dev watcher,
 * tests) calls this. Named stages: claim, stage (download + staging pass), reconcile (under the
 * dataset lock), transform, publish, load (one transaction), after-commit. Idempotent per file
 * version and per content, crash-safe, and it never loses a row: the ledger row it completes
 * satisfies read = silver + quarantined + duplicates. Bad files and bad contracts are reported
 * (not thrown); transient failures are thrown so the host retries them.
 */
export async function ingestBronzeFile(p: Platform, rawPath: string, options: IngestOptions = {}): Promise<FileReport> {
  return runFile(p, rawPath, options);
}

/**
 * The same pipeline inside the caller's transaction `tx`, which holds the dataset lock (a
 * dataset rebuild, a dry run): each file is a savepoint, so a bad file costs only itself; there
 * is no after-commit stage (the caller refreshes and exports gold once, after its commit).
 */
export async function ingestInTransaction(p: Platform, rawPath: string, tx: pg.PoolClient, options: IngestOptions = {}): Promise<FileReport> {
  await tx.query('SAVEPOINT medallion_file');
  try {
    const report = await runFile(p, rawPath, options, tx);
    await tx.query('RELEASE SAVEPOINT medallion_file');
    return report;
  } catch (e) {
    await tx.query('ROLLBACK TO SAVEPOINT medallion_file');
    throw e;
  }
}

async function runFile(p: Platform, rawPath: string, options: IngestOptions, nested?: pg.PoolClient): Promise<FileReport> {
  const bronzePath = safeLakePath(rawPath);
  const file = await p.lake.stat('bronze', bronzePath);
  if (!file) return { path: bronzePath, outcome: 'missing', dataset: null, message: `bronze/${bronzePath} no longer exists` };
  if (options.etag && options.etag.replace(/"/g, '') !== file.etag) {
    return { path: bronzePath, outcome: 'skipped', dataset: null, message: `bronze/${bronzePath} was replaced since the event (ETag changed); the newer version has its own event` };
  }
  const contract = p.contracts.forPath(bronzePath);
  const runId = randomUUID();
  const db = nested ?? p.pool;
  const claimArgs = { path: bronzePath, etag: file.etag, runId, dataset: contract?.name ?? null, size: file.size, lastModified: file.lastModified };
  // A rebuild (nested) replays every file of the dataset: it takes any unfinished run over.
  let claim = await claimRun(db, claimArgs, { takeOver: nested !== undefined });
  const waitUntil = Date.now() + (options.waitForLiveMs ?? 120_000);
  let waited = false;
  while (claim.kind === 'live' && Date.now() < waitUntil) {
    waited = true;
    options.progress?.(`waiting: another process${claim.row.host ? ` (${claim.row.host}, pid ${claim.row.pid})` : ''} is landing this version`);
    await new Promise((r) => setTimeout(r, LIVE_POLL_MS));
    claim = await claimRun(db, claimArgs);
  }
  if (claim.kind === 'live') {
    const who = claim.row.host ? ` (${claim.row.host}, pid ${claim.row.pid})` : '';
    return { path: bronzePath, outcome: 'skipped', dataset: claim.row.dataset, message: `another process${who} is landing this version right now (run ${claim.row.run_id}); its result will be in medallion status`, ledger: claim.row };
  }
  if (claim.kind === 'landed') {
    // Landed by the run this call waited for: that result is this call's.
    if (waited) return { path: bronzePath, outcome: 'succeeded', dataset: claim.row.dataset, ledger: claim.row };
    return { path: bronzePath, outcome: 'skipped', dataset: claim.row.dataset, message: 'this version of the file has already landed in silver', ledger: claim.row };
  }
  const stopBeating = nested ? () => undefined : beatWhileRunning(p.pool, bronzePath, file.etag, runId);
  try {
    return await claimedRun(p, { bronzePath, file, contract, runId, claim: claim.row, options, nested });
  } finally {
    stopBeating();
  }
}

async function claimedRun(
  p: Platform,
  a: { bronzePath: string; file: LakeFile; contract: Contract | undefined; runId: string; claim: LedgerRow; options: IngestOptions; nested?: pg.PoolClient },
): Promise<FileReport> {
  const { bronzePath, file, contract, runId, options, nested } = a;
  const db = nested ?? p.pool;
  const claimed = a.claim;
  const started = Date.now();
  const ids = { path: bronzePath, file, dataset: contract?.name ?? null, runId, started, nested };
  if (!contract) {
    const broken = p.contracts.brokenFor(bronzePath);
    if (broken) return failed(p, ids, new BadContractError(broken));
    const api = unownedSourcePath(bronzePath);
    if (api) return failed(p, ids, new BadFileError(`no dataset owns bronze path '${bronzePath}': ${api}`));
    return failed(p, ids, new BadFileError(`no dataset owns bronze path '${bronzePath}': put the file under one of ${p.contracts.describePrefixes()}`));
  }
  const blocked = nested ? undefined : blockedMessage(p, contract.name);
  if (blocked) return failed(p, ids, new BadContractError(blocked));
  if (claimed.attempts > p.maxFileAttempts) {
    // The host keeps redelivering a version that fails for a passing reason (database down, …):
    // past the limit it is given up on, visibly (ledger + health check), until `medallion replay`.
    const last = claimed.error ? `: ${claimed.error.split('\n')[0]}` : '';
    return failed(p, ids, new GaveUpError(`gave up after ${claimed.attempts - 1} attempts${last}; fix the cause, then run \`medallion replay ${bronzePath}\``));
  }

  let extract: ExtractLineage | undefined;
  try {
    if (contract.dedup.mode === 'line') extract = extractLineage(bronzePath);
  } catch (e) {
    return failed(p, ids, e);
  }

  await mkdir(p.workRoot, { recursive: true });
  const run: Run = {
    p,
    path: bronzePath,
    file,
    contract,
    runId,
    work: await mkdtemp(scratchPrefix(p.workRoot, 'run')),
    progress: options.progress ?? (() => undefined),
    started,
    timings: {},
    written: [],
    attempt: 0,
    nested,
    extract,
  };
  if (nested) await nested.query('SAVEPOINT medallion_stages');
  try {
    const { staged, columns } = await stageFile(run);
    const report = await transformAndLoad(run, staged, columns);
    if (nested) await nested.query('RELEASE SAVEPOINT medallion_stages');
    if (report.outcome === 'succeeded' && !report.ledger?.redelivery_of && !nested) {
      await afterCommit(run);
      report.ledger = (await finishTimings(p.pool, bronzePath, file.etag, runId, run.timings)) ?? report.ledger;
      logLanded(run, report.ledger!);
    }
    return report;
  } catch (e) {
    if (nested) await nested.query('ROLLBACK TO SAVEPOINT medallion_stages');
    await deleteOutputs(p, run.written).catch(() => undefined);
    await clearOutputs(db, bronzePath, file.etag).catch(() => undefined);
    return await failed(p, ids, e);
  } finally {
    await rm(run.work, { recursive: true, force: true });
  }
}
