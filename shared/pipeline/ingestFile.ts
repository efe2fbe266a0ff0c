import { createHash, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { Contract } from '../contracts/contract';
import { copyCsvInto, copyQueryToFile } from '../db/copy';
import { qi, quarantineTable, silverTable } from '../db/schema';
import { loadSilverRows } from '../db/silverLoad';
import { quarantineColumns, resolveFormat, silverColumns } from '../engine/compile';
import { ExpectationFailedError, parquetToCsv, type TransformResult, transformFile } from '../engine/transform';
import type { Zone } from '../lake/lake';
import { safeLakePath } from '../lake/paths';
import type { Platform } from '../platform';
import { lockKey } from './locks';
import { claimRun, clearOutputs, completeRun, failRun, getRun, type LedgerRow, recordOutputs } from './ledger';
import { type ColumnMatch, FileRejectedError, matchColumns, parseHeader, stageInput } from './stageInput';

export type FileOutcome = 'succeeded' | 'failed' | 'skipped' | 'missing';

export interface FileReport {
  path: string;
  outcome: FileOutcome;
  dataset: string | null;
  /** Why a file failed (what to fix), or why it was skipped. */
  message?: string;
  ledger?: LedgerRow;
}

export interface IngestOptions {
  /** Only process this exact version (the ETag an event carried); default: the current one. */
  etag?: string;
  progress?: (stage: string) => void;
}

/** A short stable key of one file version: names its outputs, so a retry overwrites them. */
export function runKey(bronzePath: string, etag: string): string {
  return createHash('sha256').update(`${bronzePath}\n${etag}`).digest('hex').slice(0, 16);
}


/** Header checks of a CSV file: recognisably CSV, then every required column present. */
function checkColumns(contract: Contract, firstLine: string, delimiter = ','): ColumnMatch {
  if (/^\s*[[{]/.test(firstLine)) {
    throw new FileRejectedError(
      `the file looks like JSON, not a CSV with a header line; dataset '${contract.name}' expects CSV with columns: ${contract.source.map((s) => s.name).join(', ')}`,
    );
  }
  if (parseHeader(firstLine, delimiter).length < 2 && contract.source.length > 1) {
    throw new FileRejectedError(
      `the first line does not look like a '${delimiter}'-separated CSV header (found ${JSON.stringify(firstLine.slice(0, 120))}); ` +
        `expected columns: ${contract.source.map((s) => s.name).join(', ')}`,
    );
  }
  return matchColumns(contract.source, firstLine, delimiter);
}

const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d+)?)?([+-]\d{2}(:?\d{2})?|Z)?$/;

/** Writes silver ids whose range column lies in [min, max] to a local file (none: undefined). */
async function exportExistingIds(client: pg.PoolClient, contract: Contract, range: { min: string; max: string }, file: string): Promise<string | undefined> {
  if (!TIMESTAMP_TEXT.test(range.min) || !TIMESTAMP_TEXT.test(range.max)) {
    // Not a time range: fall back to all ids of the dataset (correct, only slower).
    await copyQueryToFile(client, `SELECT ${qi(contract.dedup.idColumn)} FROM ${silverTable(contract)}`, file);
  } else {
    const lo = client.escapeLiteral(range.min);
    const hi = client.escapeLiteral(range.max);
    await copyQueryToFile(
      client,
      `SELECT ${qi(contract.dedup.idColumn)} FROM ${silverTable(contract)} WHERE ${qi(contract.rangeColumn)} BETWEEN ${lo} AND ${hi}`,
      file,
    );
  }
  return (await stat(file)).size > 0 ? file : undefined;
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

/** Lake paths of one run's outputs. */
function silverOutputPath(contract: Contract, relative: string, key: string, index: number): string {
  const dir = path.posix.dirname(relative);
  const name = `part-${key}-${index}.parquet`;
  return dir === '.' ? `${contract.name}/${name}` : `${contract.name}/${dir}/${name}`;
}

async function deleteOutputs(p: Platform, outputs: { zone: string; path: string }[]): Promise<void> {
  for (const o of outputs) await p.lake.delete(o.zone as Zone, o.path);
}

/** Copies a rejected file to quarantine/_files/ with an error manifest next to it. */
async function quarantineFile(p: Platform, bronzePath: string, dataset: string | null, etag: string, message: string, runId: string): Promise<void> {
  const target = `_files/${dataset ?? '_unknown'}/${bronzePath}`;
  await p.lake.copy({ zone: 'bronze', path: bronzePath }, { zone: 'quarantine', path: target });
  const manifest = { source: `bronze/${bronzePath}`, etag, dataset, runId, rejectedAt: new Date().toISOString(), error: message };
  await p.lake.write('quarantine', `${target}.error.json`, Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]), { contentType: 'application/json' });
}

/**
 * The bronze → silver pipeline for one file; every entry point (blob trigger, CLI, dev watcher,
 * tests) calls this. Idempotent per file version, crash-safe, and it never loses a row: the
 * ledger row it completes satisfies read = silver + quarantined + duplicates.
 */
export async function ingestBronzeFile(p: Platform, rawPath: string, options: IngestOptions = {}): Promise<FileReport> {
  const bronzePath = safeLakePath(rawPath);
  const progress = options.progress ?? (() => undefined);
  const info = await p.lake.stat('bronze', bronzePath);
  if (!info) return { path: bronzePath, outcome: 'missing', dataset: null, message: `bronze/${bronzePath} no longer exists` };
  if (options.etag && options.etag.replace(/"/g, '') !== info.etag) {
    return { path: bronzePath, outcome: 'skipped', dataset: null, message: `bronze/${bronzePath} was replaced since the event (ETag changed); the newer version has its own event` };
  }
  const contract = p.contracts.forPath(bronzePath);
  const runId = randomUUID();
  const claim = await claimRun(p.pool, { path: bronzePath, etag: info.etag, runId, dataset: contract?.name ?? null, size: info.size, lastModified: info.lastModified });
  if (claim.skip) {
    return { path: bronzePath, outcome: 'skipped', dataset: claim.row.dataset, message: 'this version of the file has already landed in silver', ledger: claim.row };
  }
  const started = Date.now();
  const fail = async (message: string, rowsRead?: number): Promise<FileReport> => {
    await quarantineFile(p, bronzePath, contract?.name ?? null, info.etag, message, runId);
    const row = await failRun(p.pool, bronzePath, info.etag, runId, message, rowsRead);
    p.log.warn('medallion.file', { dataset: contract?.name ?? null, path: bronzePath, status: 'failed', error: message, duration_ms: Date.now() - started });
    return { path: bronzePath, outcome: 'failed', dataset: contract?.name ?? null, message, ledger: row };
  };
  if (!contract) {
    return fail(`no dataset owns bronze path '${bronzePath}': put the file under one of ${p.contracts.describePrefixes()}`);
  }

  await mkdir(p.workRoot, { recursive: true });
  const work = await mkdtemp(path.join(p.workRoot, 'run-'));
  const lockClient = await p.pool.connect();
  let locked = false;
  const written: { zone: string; path: string }[] = [];
  try {
    progress('download');
    const t0 = Date.now();
    const staged = await stageInput(await p.lake.read('bronze', bronzePath), path.join(work, 'input'));
    const format = resolveFormat(contract, bronzePath);
    const columns = format.type === 'csv' ? checkColumns(contract, staged.firstLine, format.delimiter) : undefined;
    const tDownload = Date.now() - t0;

    // One file of a dataset at a time from here to commit: the cross-file look-up and the load
    // must see each other's results. Other datasets run in parallel.
    await lockClient.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey(contract.name)]);
    locked = true;
    const current = await getRun(lockClient, bronzePath, info.etag);
    if (!current || current.run_id !== runId) {
      return { path: bronzePath, outcome: 'skipped', dataset: contract.name, message: 'another delivery of the same file version took over', ledger: current };
    }
    if (current.outputs.length) {
      // A previous attempt died after writing some outputs: remove them before writing anew.
      await deleteOutputs(p, current.outputs);
      await clearOutputs(lockClient, bronzePath, info.etag);
    }

    progress('transform');
    const ingestedAt = new Date();
    let result: TransformResult;
    try {
      result = await transformFile(
        {
          contract,
          inputPath: staged.localPath,
          columnPositions: columns?.positions,
          headerWidth: columns?.width,
          lineage: { sourceFile: bronzePath, runId, ingestedAt },
          outDir: path.join(work, 'out'),
          existingIds: (range) => exportExistingIds(lockClient, contract, range, path.join(work, 'existing_ids.txt')),
        },
        p.engine,
      );
    } catch (e) {
      if (e instanceof ExpectationFailedError) throw new FileRejectedError(e.message);
      const msg = e instanceof Error ? e.message : String(e);
      if (/Invalid Input Error|Conversion Error|CSV Error|Malformed JSON|Invalid unicode/i.test(msg)) {
        throw new FileRejectedError(`the file could not be read as ${format.type === 'csv' ? 'CSV' : 'JSON lines'}: ${msg.split('\n')[0]}`);
      }
      throw e;
    }

    progress('upload');
    const tUpload0 = Date.now();
    const key = runKey(bronzePath, info.etag);
    const silverTargets = result.silverFiles.map((rel, i) => ({ rel, lake: silverOutputPath(contract, rel, key, i) }));
    const day = ingestedAt.toISOString().slice(0, 10);
    const quarantineTarget = result.quarantineFile ? `${contract.name}/rows/ingest_date=${day}/part-${key}.parquet` : undefined;
    const planned = [
      ...silverTargets.map((t) => ({ zone: 'silver', path: t.lake })),
      ...(quarantineTarget ? [{ zone: 'quarantine', path: quarantineTarget }] : []),
    ];
    await recordOutputs(lockClient, bronzePath, info.etag, runId, planned);
    for (const t of silverTargets) {
      written.push({ zone: 'silver', path: t.lake });
      await p.lake.writeFile('silver', t.lake, path.join(result.silverDir, t.rel), { contentType: 'application/vnd.apache.parquet' });
    }
    if (quarantineTarget && result.quarantineFile) {
      written.push({ zone: 'quarantine', path: quarantineTarget });
      await p.lake.writeFile('quarantine', quarantineTarget, result.quarantineFile, { contentType: 'application/vnd.apache.parquet' });
    }

    const tUpload = Date.now() - tUpload0;
    progress('load');
    const tLoad = Date.now();
    const silverCsv = path.join(work, 'silver.csv');
    const silverCols = silverColumns(contract).map((c) => c.name);
    const silverParquet = result.silverFiles.map((f) => path.join(result.silverDir, f));
    // 'first' datasets stream the rows: DuckDB writes CSV into a pipe while COPY reads it.
    const streamed = contract.dedup.mode === 'first' && result.silverRows > 0 && makePipe(silverCsv);
    if (!streamed && result.silverRows > 0) await parquetToCsv(silverParquet, silverCols, silverCsv, p.engine);
    const quarantineCsv = path.join(work, 'quarantine.csv');
    const qCols = quarantineColumns(contract);
    if (result.quarantineFile) await parquetToCsv([result.quarantineFile], qCols, quarantineCsv, p.engine);
    const tExport = Date.now() - tLoad;

    const tx = lockClient;
    await tx.query('BEGIN');
    try {
      await tx.query("SET LOCAL TIME ZONE 'UTC'");
      const tCopy0 = Date.now();
      const feeding = streamed ? feedPipe(silverCsv, () => parquetToCsv(silverParquet, silverCols, silverCsv, p.engine)) : Promise.resolve();
      const [silver] = await Promise.all([loadSilverRows(tx, contract, silverCsv, silverCols, result.silverRows), feeding]);
      const q = result.quarantineFile ? await copyCsvInto(tx, quarantineTable(contract), qCols, quarantineCsv) : 0;
      if (q !== result.quarantined) throw new Error(`quarantine load copied ${q} rows, expected ${result.quarantined}`);
      const tCopy = Date.now() - tCopy0;
      const tGold0 = Date.now();
      await p.hooks.afterSilverLoad?.(tx, { contract, runId, path: bronzePath });
      const timings = { download: tDownload, ...result.timingsMs, upload: tUpload, load_export: tExport, load_copy: tCopy, gold: Date.now() - tGold0 };
      const row = await completeRun(tx, bronzePath, info.etag, runId, {
        rowsRead: result.rowsRead,
        rowsSilver: silver.loaded,
        rowsQuarantined: result.quarantined,
        quarantineReasons: result.quarantineReasons,
        duplicatesInFile: result.duplicatesInFile,
        duplicatesCrossFile: result.duplicatesCrossFile + silver.superseded,
        warnings: { ...result.warnings, ...silver.warnings },
        timingsMs: timings,
      });
      await tx.query('COMMIT');
      if (p.hooks.afterCommit) {
        // The file has landed; a failure here (e.g. a gold export) is reported, not undone.
        progress('after-commit');
        try {
          await p.hooks.afterCommit({ contract, runId, path: bronzePath });
        } catch (e) {
          p.log.error('medallion.after_commit', { dataset: contract.name, path: bronzePath, error: e instanceof Error ? e.message : String(e) });
        }
      }
      p.log.info('medallion.file', {
        dataset: contract.name,
        path: bronzePath,
        status: 'succeeded',
        rows_read: row.rows_read,
        rows_silver: row.rows_silver,
        rows_quarantined: row.rows_quarantined,
        duplicates: (row.duplicates_in_file ?? 0) + (row.duplicates_cross_file ?? 0),
        duration_ms: row.duration_ms,
        latency_ms: row.latency_ms,
      });
      return { path: bronzePath, outcome: 'succeeded', dataset: contract.name, ledger: row };
    } catch (e) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } catch (e) {
    await deleteOutputs(p, written).catch(() => undefined);
    await clearOutputs(p.pool, bronzePath, info.etag).catch(() => undefined);
    if (e instanceof FileRejectedError) return await fail(e.message);
    const message = e instanceof Error ? e.message : String(e);
    await failRun(p.pool, bronzePath, info.etag, runId, `transient: ${message}`).catch(() => undefined);
    p.log.error('medallion.file', { dataset: contract.name, path: bronzePath, status: 'failed', error: message });
    throw e;
  } finally {
    if (locked) await lockClient.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey(contract.name)]).catch(() => undefined);
    lockClient.release();
    await rm(work, { recursive: true, force: true });
  }
}
