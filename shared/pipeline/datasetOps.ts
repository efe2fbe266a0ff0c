import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Contract } from '../contracts/contract';
import { ownsPath } from '../contracts/registry';
import { resetDatasetTables } from '../db/migrate';
import { qi, quarantineTable } from '../db/schema';
import { exportGoldGroups } from '../gold/export';
import { goldGraph } from '../gold/models';
import { rebuildInTransaction } from '../gold/refresh';
import { type StepFile, writeStepFiles } from '../gold/steps';
import { FsLake } from '../lake/fsLake';
import type { Zone } from '../lake/lake';
import type { Platform } from '../platform';
import { type FileReport, ingestInTransaction } from './ingestFile';
import { lockKey } from './locks';
import { bronzePathFor } from './stagingPath';
import { scratchPrefix } from '../workDirs';

/** Locks the dataset for the caller's transaction (waits for a running ingest to commit). */
async function lockDataset(client: pg.PoolClient, dataset: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey(dataset)]);
}

export interface RebuildReport {
  dataset: string;
  files: FileReport[];
  /** Lake files of the old silver that the replay did not write again (removed after the swap). */
  removedOutputs: number;
}

type Output = { zone: string; path: string };
const key = (o: Output) => `${o.zone}/${o.path}`;

/**
 * `medallion dataset rebuild <name>`: replays every bronze file of the dataset, in the order their
 * content first landed (then new ones by name), into fresh silver and quarantine tables built from the
 * current contract, with a fresh ledger and a full gold rebuild, all in ONE transaction under the
 * dataset lock: readers see the old tables until the commit swaps the new ones in. A replayed
 * file follows the same pipeline as its first ingest, so replay equals the original ingests.
 * Lake: the replay rewrites each run's silver Parquet under the same names; old files the replay
 * did not write again are removed after the commit (or, when the rebuild fails, the new ones).
 */
export async function rebuildDataset(p: Platform, contract: Contract, progress: (line: string) => void = () => undefined): Promise<RebuildReport> {
  const client = await p.pool.connect();
  const files: FileReport[] = [];
  let oldOutputs: Output[] = [];
  let newOutputs: Output[] = [];
  let committed = false;
  let stepFiles: StepFile[] = [];
  try {
    await client.query('BEGIN');
    await lockDataset(client, contract.name);
    const old = await client.query<LedgerVersion & { outputs: Output[] }>(
      `SELECT path, etag, outputs, status, content_hash, redelivery_of IS NOT NULL AS redelivery, finished_at FROM ops.file_runs WHERE dataset = $1`,
      [contract.name],
    );
    oldOutputs = old.rows.flatMap((r) => r.outputs);
    const found: { path: string; etag: string }[] = [];
    for await (const f of p.lake.list('bronze', contract.bronzePrefix)) if (ownsPath(contract, f.path)) found.push(f);
    const bronze = replayOrder(found, old.rows);

    await resetDatasetTables(client, contract);
    await client.query('DELETE FROM ops.file_runs WHERE dataset = $1', [contract.name]);
    for (const [i, f] of bronze.entries()) {
      progress(`replaying ${i + 1} of ${bronze.length}: bronze/${f}`);
      const report = await ingestInTransaction(p, f, client);
      files.push(report);
    }
    const written = await client.query<{ outputs: Output[] }>(`SELECT outputs FROM ops.file_runs WHERE dataset = $1`, [contract.name]);
    newOutputs = written.rows.flatMap((r) => r.outputs);
    if (goldGraph(p.contracts.all()).downstreamOf([contract.name]).length) {
      progress('rebuilding gold');
      stepFiles = (await rebuildInTransaction(client, p.contracts, [contract.name]))?.files ?? [];
    }
    await client.query('COMMIT');
    committed = true;
    p.blockedDatasets.delete(contract.name);
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    const before = new Set(oldOutputs.map(key));
    for (const f of files) for (const o of f.ledger?.outputs ?? []) if (!before.has(key(o))) await p.lake.delete(o.zone as Zone, o.path).catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
  const keep = new Set(newOutputs.map(key));
  const stale = oldOutputs.filter((o) => !keep.has(key(o)));
  if (committed) {
    for (const o of stale) await p.lake.delete(o.zone as Zone, o.path);
    await writeStepFiles(p.lake, stepFiles);
    const graph = goldGraph(p.contracts.all());
    const rebuilt = graph.downstreamOf([contract.name]).map((m) => m.table);
    if (rebuilt.length) await exportGoldGroups({ lake: p.lake, pool: p.pool, engine: p.engine, workRoot: p.workRoot }, graph, rebuilt, { force: true });
  }
  return { dataset: contract.name, files, removedOutputs: stale.length };
}

/** A ledger row as the replay order reads it. */
interface LedgerVersion {
  path: string;
  etag: string;
  status: string;
  content_hash: string | null;
  redelivery: boolean;
  finished_at: Date | null;
}

/**
 * The order a rebuild replays bronze in: by when each file's CONTENT first landed, which is what
 * decides the dataset's state (a newer version of a key wins in 'latest' datasets, the first one in
 * 'first' ones). Ordering by path is not enough: a path holds only its newest version, and a copy of
 * an older version under another name (a re-delivery then) stands in for the version the path lost:
 * replayed at the time that content landed, before the newer version, it gives the original state
 * again (an attack found the copy replayed after the newer version, putting the old values back).
 * On a tie (the same content twice in bronze) the file that landed it goes first, the copy is a
 * re-delivery again. Files never ingested come last, by name.
 */
export function replayOrder(files: { path: string; etag: string }[], ledger: LedgerVersion[]): string[] {
  const landed = new Map<string, number>();
  for (const r of ledger) {
    if (r.status !== 'succeeded' || !r.content_hash || !r.finished_at) continue;
    landed.set(r.content_hash, Math.min(landed.get(r.content_hash) ?? Infinity, r.finished_at.getTime()));
  }
  const version = new Map(ledger.filter((r) => r.status === 'succeeded').map((r) => [`${r.path}\u0000${r.etag}`, r]));
  const keyOf = (f: { path: string; etag: string }) => {
    const r = version.get(`${f.path}\u0000${f.etag}`);
    // A ledger row of a version without a content hash (written before hashes were kept): its own landing.
    const at = (r?.content_hash ? landed.get(r.content_hash) : undefined) ?? r?.finished_at?.getTime();
    return { at: at ?? Infinity, copy: r?.redelivery ? 1 : 0, path: f.path };
  };
  return files
    .map(keyOf)
    .sort((a, b) => a.at - b.at || a.copy - b.copy || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((k) => k.path);
}

export interface CheckReport {
  contract: Contract;
  report: FileReport;
  /** The contract differs from silver in a breaking way: the check ran on tables built from the contract. */
  freshTables: boolean;
  samples: { source_line: number; quarantine_reason: string; quarantine_detail: string | null; raw_line: string | null }[];
  gold: { table: string; rows: number }[];
}

/**
 * `medallion dataset check <file>`: runs a local file through the whole pipeline (staging,
 * transform, load, gold) inside a transaction that is rolled back, with a throwaway lake in a
 * temporary folder: the report is what ingesting the file would do, and nothing real changes.
 * Against a contract that silver does not match yet (a breaking edit), the check runs on tables
 * built from the contract, inside the same rolled-back transaction.
 */
export async function checkFile(p: Platform, contract: Contract, localFile: string): Promise<CheckReport> {
  const dir = await mkdtemp(scratchPrefix(p.workRoot, 'check'));
  const lake = new FsLake(path.join(dir, 'lake'));
  await lake.ensureZones();
  const target = bronzePathFor(contract, path.basename(localFile));
  await lake.write('bronze', target, createReadStream(localFile));
  await mkdir(path.join(dir, 'work'), { recursive: true });
  const scratch: Platform = { ...p, lake, workRoot: path.join(dir, 'work'), hooks: { afterSilverLoad: p.hooks.afterSilverLoad }, close: async () => undefined };
  const client = await p.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SET LOCAL lock_timeout = '30s'");
    await lockDataset(client, contract.name);
    const freshTables = p.blockedDatasets.has(contract.name);
    if (freshTables) await resetDatasetTables(client, contract);
    const report = await ingestInTransaction(scratch, target, client);
    const samples = report.ledger
      ? (
          await client.query(
            `SELECT source_line::int, quarantine_reason, quarantine_detail, raw_line FROM ${quarantineTable(contract)} WHERE ingestion_run_id = $1 ORDER BY source_line LIMIT 10`,
            [report.ledger.run_id],
          )
        ).rows
      : [];
    const gold: CheckReport['gold'] = [];
    const graph = goldGraph(p.contracts.all());
    // The dataset's own table, then every gold and core table built from it.
    const own = await client.query(`SELECT count(*)::int AS n FROM ${graph.datasetTable(contract.name)}`).catch(() => undefined);
    if (own) gold.push({ table: graph.datasetTable(contract.name).replace(/"/g, ''), rows: own.rows[0].n });
    for (const m of graph.downstreamOf([contract.name]).filter((x) => x.schema === 'gold' || x.schema === 'core')) {
      const r = await client.query(`SELECT count(*)::int AS n FROM ${qi(m.schema)}.${qi(m.table)}`).catch(() => undefined);
      if (r) gold.push({ table: `${m.schema}.${m.table}`, rows: r.rows[0].n });
    }
    return { contract, report, freshTables, samples, gold };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    await rm(dir, { recursive: true, force: true });
  }
}
