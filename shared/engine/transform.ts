import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Reference } from '../contracts/contract';
import {
  type CompileInput,
  countsQuery,
  crossFileCountQuery,
  dupRecsQuery,
  engineRejectCountQuery,
  quarantineSelect,
  referenceKeysTable,
  silverSelect,
  stagedQuery,
  warningsQuery,
} from './compile';
import { ident, literal } from './sql';
import { scratchPrefix } from '../workDirs';

/** Input size from which the engine database is file-backed rather than in memory. */
export const FILE_BACKED_FROM_BYTES = 512 * 1024 * 1024;

export class ExpectationFailedError extends Error {
  override name = 'ExpectationFailedError';
}

export interface EngineOptions {
  memoryLimit: string;
  threads?: number;
  /** Spill directory for DuckDB (bounded memory whatever the file size). */
  spillDir: string;
}

export interface TransformPlan extends CompileInput {
  /** Local folder the outputs go to. */
  outDir: string;
  /** What the staging pass saw: data records (rows_read) and the lines it refused, by reason. */
  staging: { rowsRead: number; rejected: number; rejectReasons: Record<string, number> };
  /**
   * Returns a local file of silver ids (one per line, no header) whose range column lies in
   * [min, max], or undefined when there are none. Only called for 'first' dedup.
   */
  existingIds?: (range: { min: string; max: string }) => Promise<string | undefined>;
  /**
   * Returns a local file of the current keys of the contract's `i`-th reference (lines
   * of referenceKeyLine), or undefined when there are none (the referenced table does not exist
   * yet: every non-NULL value is unresolved).
   */
  referenceKeys?: (reference: Reference, i: number) => Promise<string | undefined>;
}

/**
 * The PostgreSQL expression of one line of a reference-keys file for the key column `column`
 * (quoted): 'x' and the key's UTF-8 bytes in hex, so any text survives the trip and an empty key
 * is not a blank line. Compared with the referencing column's text in the engine.
 */
export function referenceKeyLine(column: string): string {
  return `'x' || encode(convert_to(${column}::text, 'UTF8'), 'hex')`;
}

export interface TransformResult {
  rowsRead: number;
  parsed: number;
  malformed: number;
  quarantined: number;
  quarantineReasons: Record<string, number>;
  warnings: Record<string, number>;
  duplicatesInFile: number;
  duplicatesCrossFile: number;
  silverRows: number;
  range?: { min: string; max: string };
  /** Silver Parquet files, relative to `silverDir` (hive folders of the partition columns). */
  silverDir: string;
  silverFiles: string[];
  /** Quarantine Parquet file (absent when nothing was quarantined). */
  quarantineFile?: string;
  timingsMs: Record<string, number>;
}

/**
 * Options for a COPY … (FORMAT PARQUET) of data holding a float negative zero: no dictionaries.
 * DuckDB's Parquet writer files -0.0 and +0.0 under one dictionary entry (they compare equal), so
 * every zero of a dictionary-encoded column takes the sign of the first one written: the file is
 * wrong, silently (duckdb/duckdb#25781, open on 1.5.5; found here by an attack: `0` and `-0`
 * prices swapped signs in silver). Only files that hold a negative zero give up dictionaries.
 */
export function keepSignedZeros(negativeZeros: boolean): string {
  return negativeZeros ? ', DICTIONARY_SIZE_LIMIT 0' : '';
}

async function scalarRows(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjects() as Record<string, unknown>[];
}

function num(v: unknown): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  if (v === null || v === undefined) return 0;
  return Number(v);
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, base)));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out.sort();
}

/**
 * A DuckDB instance with the platform's settings (memory limit, threads…) and a spill folder of
 * its own under `options.spillDir` (`duckdb-<pid>-…`): instances, in one process or several, must
 * not share a temp directory (they overwrite each other's files). `close()` removes the folder;
 * `sweepDeadWork` (shared/workDirs.ts) removes those of processes that died.
 */
export async function engineInstance(options: EngineOptions, databasePath = ':memory:'): Promise<{ instance: DuckDBInstance; spill: string; close: () => void }> {
  await mkdir(options.spillDir, { recursive: true });
  const spill = await mkdtemp(scratchPrefix(options.spillDir, 'duckdb'));
  const config: Record<string, string> = {
    memory_limit: options.memoryLimit,
    temp_directory: spill,
    preserve_insertion_order: 'false',
    enable_external_access: 'true',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    // Partitioned Parquet writes buffer rows per partition; cap that so memory does not grow with
    // the number of partitions (days) a file spans.
    partitioned_write_flush_threshold: '100000',
    partitioned_write_max_open_files: '16',
  };
  if (options.threads) config.threads = String(options.threads);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(databasePath, config);
  } catch (e) {
    rmSync(spill, { recursive: true, force: true });
    throw e;
  }
  return {
    instance,
    spill,
    close: () => {
      instance.closeSync();
      rmSync(spill, { recursive: true, force: true });
    },
  };
}

export async function openEngine(options: EngineOptions, databasePath = ':memory:'): Promise<{ con: DuckDBConnection; close: () => void }> {
  const { instance, close } = await engineInstance(options, databasePath);
  const con = await instance.connect();
  await con.run("SET TimeZone = 'UTC'");
  return {
    con,
    close: () => {
      con.closeSync();
      close();
    },
  };
}

/**
 * Runs one bronze file through the contract: one staging pass over the file, counts, in-file
 * dedup, cross-file look-up, silver Parquet (partitioned) and quarantine Parquet, all on local
 * files, in bounded memory.
 */
export async function transformFile(plan: TransformPlan, engine: EngineOptions): Promise<TransformResult> {
  const { contract } = plan;
  const timings: Record<string, number> = {};
  let t = Date.now();
  const lap = (name: string) => {
    const now = Date.now();
    timings[name] = (timings[name] ?? 0) + now - t;
    t = now;
  };
  // The staged table lives in an in-memory engine database (fastest) for files up to
  // FILE_BACKED_FROM_BYTES, in a file-backed one next to the outputs beyond that: with 8M rows
  // (1.1 GB) the in-memory variant peaked at 1,026 MB RSS, the file-backed one at 715 MB.
  await mkdir(plan.outDir, { recursive: true });
  const inputBytes = (await stat(plan.inputPath)).size;
  const { con, close } = await openEngine(engine, inputBytes >= FILE_BACKED_FROM_BYTES ? path.join(plan.outDir, 'engine.duckdb') : ':memory:');
  try {
    // The one pass over the file: typed, checked, id'd; lines DuckDB cannot parse (rare: the
    // staging pass sends well-formed records only) land in its rejects table.
    await con.run(stagedQuery(plan));
    const engineRejects = num((await scalarRows(con, engineRejectCountQuery()))[0]?.n);
    const input: CompileInput = plan;
    lap('stage');

    const counts = (await scalarRows(con, countsQuery(input)))[0] ?? {};
    for (const e of contract.expectations.filter((x) => x.action === 'fail')) {
      const n = num(counts[`x_${e.name}`]);
      if (n > 0) {
        const first = await scalarRows(con, `SELECT min(__line) AS r FROM staged WHERE ${ident(`__x_${e.name}`)}`);
        throw new ExpectationFailedError(
          `expectation '${e.name}' (${e.description}) failed on ${n} row(s), first at line ${num(first[0]?.r)}; ` +
            `the file is rejected as a whole: fix the export and drop it into bronze again`,
        );
      }
    }
    const quarantineReasons: Record<string, number> = { ...plan.staging.rejectReasons };
    const addReason = (r: string, n: number) => (quarantineReasons[r] = (quarantineReasons[r] ?? 0) + n);
    for (const r of await scalarRows(con, `SELECT __reason AS reason, count(*) AS n FROM staged WHERE __reason IS NOT NULL GROUP BY 1 ORDER BY 1`)) {
      addReason(String(r.reason), num(r.n));
    }
    if (engineRejects > 0) addReason('malformed_row', engineRejects);
    const malformed = plan.staging.rejected + engineRejects;
    const dropped = num(counts.dropped);
    const parsed = num(counts.parsed);
    // A derived float column is computed in the silver SELECT only: its zeros' signs are not counted.
    const negativeZeros = num(counts.negative_zeros) > 0 || contract.derived.some((c) => c.type === 'double');
    const range = counts.range_min != null && counts.range_max != null ? { min: String(counts.range_min), max: String(counts.range_max) } : undefined;
    lap('profile');

    await con.run(dupRecsQuery(input));
    const duplicatesInFile = num((await scalarRows(con, 'SELECT count(*) AS n FROM dup_recs'))[0]?.n);
    lap('dedup');

    let withExisting = false;
    if (contract.dedup.mode === 'first' && range && plan.existingIds) {
      const idsFile = await plan.existingIds(range);
      if (idsFile) {
        await con.run(
          `CREATE OR REPLACE TABLE existing_ids AS SELECT DISTINCT id FROM read_csv(${literal(idsFile)}, header = false, columns = {'id': 'VARCHAR'}, auto_detect = false)`,
        );
        withExisting = true;
      }
    }
    lap('existing');
    const duplicatesCrossFile = withExisting ? num((await scalarRows(con, crossFileCountQuery()))[0]?.n) : 0;
    lap('crossfile');

    // Pass 3: silver Parquet, partitioned, with the partition columns kept inside each file.
    const silverDir = path.join(plan.outDir, 'silver');
    await mkdir(silverDir, { recursive: true });
    const partition = contract.partitionBy.length
      ? `, PARTITION_BY (${contract.partitionBy.map(ident).join(', ')}), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true, FILENAME_PATTERN 'part_{i}'`
      : '';
    const target = contract.partitionBy.length ? silverDir : path.join(silverDir, 'part_0.parquet');
    const written = await scalarRows(
      con,
      `COPY (${silverSelect(input, withExisting)}) TO ${literal(target)} (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 122880${partition}${keepSignedZeros(negativeZeros)})`,
    );
    const silverRows = num(Object.values(written[0] ?? {})[0]);
    lap('silver');

    let quarantineFile: string | undefined;
    const quarantined = dropped + malformed;
    if (quarantined > 0) {
      quarantineFile = path.join(plan.outDir, 'quarantine.parquet');
      const origins = { staged: dropped > 0, lineRejects: plan.staging.rejected > 0, engineRejects: engineRejects > 0 };
      await con.run(`COPY (${quarantineSelect(input, origins)}) TO ${literal(quarantineFile)} (FORMAT PARQUET, COMPRESSION ZSTD)`);
    }
    lap('quarantine');

    for (const [i, reference] of (contract.references ?? []).entries()) {
      const keysFile = await plan.referenceKeys?.(reference, i);
      await con.run(
        keysFile
          ? `CREATE OR REPLACE TABLE ${referenceKeysTable(i)} AS SELECT DISTINCT decode(unhex(substr(h, 2))) AS key FROM read_csv(${literal(keysFile)}, header = false, columns = {'h': 'VARCHAR'}, delim = chr(0), quote = '', escape = '', auto_detect = false) WHERE h LIKE 'x%'`
          : `CREATE OR REPLACE TABLE ${referenceKeysTable(i)} (key VARCHAR)`,
      );
    }
    lap('references');

    const warnings: Record<string, number> = {};
    const wq = warningsQuery(input, withExisting);
    if (wq) for (const [k, v] of Object.entries((await scalarRows(con, wq))[0] ?? {})) warnings[k] = num(v);
    lap('warnings');

    if (parsed + malformed !== plan.staging.rowsRead || parsed !== dropped + duplicatesInFile + duplicatesCrossFile + silverRows) {
      throw new Error(
        `row accounting does not balance for ${plan.lineage.sourceFile}: read ${plan.staging.rowsRead} lines, parsed ${parsed} + malformed ${malformed}; ` +
          `parsed ${parsed} != dropped ${dropped} + duplicates ${duplicatesInFile}+${duplicatesCrossFile} + silver ${silverRows}`,
      );
    }
    return {
      rowsRead: plan.staging.rowsRead,
      parsed,
      malformed,
      quarantined,
      quarantineReasons,
      warnings,
      duplicatesInFile,
      duplicatesCrossFile,
      silverRows,
      range,
      silverDir,
      silverFiles: silverRows > 0 ? await listFiles(silverDir) : [],
      quarantineFile,
      timingsMs: timings,
    };
  } finally {
    close();
  }
}

/**
 * Writes Parquet files as one PostgreSQL-ready CSV (COPY ... CSV): columns in `columns` order,
 * NULL as an empty unquoted field, empty strings quoted.
 */
export async function parquetToCsv(files: string[], columns: string[], csvPath: string, engine: EngineOptions): Promise<void> {
  const { con, close } = await openEngine(engine);
  try {
    const list = `[${files.map(literal).join(', ')}]`;
    await con.run(
      `COPY (SELECT ${columns.map(ident).join(', ')} FROM read_parquet(${list}, hive_partitioning = false)) TO ${literal(csvPath)} (FORMAT CSV, HEADER false, QUOTE '"', ESCAPE '"')`,
    );
  } finally {
    close();
  }
}

