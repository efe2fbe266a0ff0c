import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../shared/engine/transform';
import { readSmall } from '../shared/lake/lake';
import type { Platform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';
import { freshPlatform } from './support/platform';
import { referenceSilver, sum } from './support/reference';

/**
 * kill -9 of a real `medallion ingest` process at five points of a run, then the same command
 * again: silver in PostgreSQL AND in the lake (rows of the Parquet files) equal what one clean
 * run gives (computed by the tests' independent reader), and no ledger row is left running.
 * The points are observed from outside, the way an operator would see them: the ledger row, the
 * run's work folder, PostgreSQL's activity view.
 */
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'medallion.js');

type Point = 'upload' | 'transform' | 'publish' | 'load' | 'after-commit';

interface Observed {
  ledger?: { status: string; outputs: unknown[] };
  copying: boolean;
  transforming: boolean;
}

async function observe(p: Platform, workDir: string, bronze: string): Promise<Observed> {
  const run = await p.pool.query(`SELECT status, outputs FROM ops.file_runs WHERE path = $1 ORDER BY started_at DESC LIMIT 1`, [bronze]);
  const copy = await p.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'COPY %FROM STDIN%' AND state = 'active'`);
  const runs = existsSync(workDir) ? readdirSync(workDir).filter((d) => d.startsWith('run-')) : [];
  return { ledger: run.rows[0], copying: copy.rows[0].n > 0, transforming: runs.some((r) => existsSync(path.join(workDir, r)) && readdirSync(path.join(workDir, r)).some((d) => d.startsWith('out-'))) };
}

function reached(point: Point, o: Observed): boolean {
  switch (point) {
    case 'upload':
      return o.ledger === undefined;
    case 'transform':
      return o.ledger?.status === 'running' && o.ledger.outputs.length === 0 && o.transforming;
    case 'publish':
      return o.ledger?.status === 'running' && o.ledger.outputs.length > 0 && !o.copying;
    case 'load':
      return o.copying;
    case 'after-commit':
      return o.ledger?.status === 'succeeded';
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

/** Rows of every silver Parquet file of the dataset in the lake, counted by DuckDB. */
async function lakeSilverRows(p: Platform, dir: string): Promise<{ rows: number; ids: number }> {
  const local: string[] = [];
  for await (const f of p.lake.list('silver', 'ecommerce_events/')) {
    const file = path.join(dir, `s${local.length}.parquet`);
    await writeFile(file, await readSmall(await p.lake.read('silver', f.path), 512 * 1024 * 1024));
    local.push(file);
  }
  if (!local.length) return { rows: 0, ids: 0 };
  const { con, close } = await openEngine({ memoryLimit: '256MB', spillDir: dir });
  try {
    const r = (await con.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet([${local.map((f) => `'${f}'`).join(', ')}])`)).getRowObjects();
    return { rows: Number(r[0]!.n), ids: Number(r[0]!.ids) };
  } finally {
    close();
  }
}

describe('kill -9 during a run, then the same command again: one clean run’s result, in PostgreSQL and in the lake', () => {
  let dir: string;
  let file: string;
  let expected: ReturnType<typeof referenceSilver>;

  beforeAll(async () => {
    // The tests run the compiled CLI (as a user would): build it.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'kill9-'));
    file = path.join(dir, 'events.csv');
    await writeEcommerceSample(file, { rows: 250_000, seed: 9, duplicateRate: 0.01, badRate: 0.002, truncateLastLine: true, days: 3 });
    expected = referenceSilver(readFileSync(file, 'utf8'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  for (const point of ['upload', 'transform', 'publish', 'load', 'after-commit'] as Point[]) {
    it(`killed during ${point}`, async () => {
      const { platform, env } = await freshPlatform();
      const workDir = path.join(dir, `work-${point}`);
      const childEnv = { ...process.env, ...env, MEDALLION_WORK_DIR: workDir };
      const args = [CLI, 'ingest', file, '--dataset', 'ecommerce_events'];
      const bronze = 'ecommerce_events/events.csv';
      try {
        const child = spawn(process.execPath, args, { env: childEnv, stdio: 'ignore' });
        const done = exited(child);
        let killed = false;
        const started = Date.now();
        // Upload: the bronze write is under way when the process has run a moment and no run is claimed yet.
        if (point === 'upload') await new Promise((r) => setTimeout(r, 400));
        while (!killed && child.exitCode === null && Date.now() - started < 120_000) {
          if (reached(point, await observe(platform, workDir, bronze))) {
            child.kill('SIGKILL');
            killed = true;
          } else await new Promise((r) => setTimeout(r, 15));
        }
        await done;
        expect(killed, `the run finished before reaching '${point}'`).toBe(true);

        // The same command again, to completion.
        const again = spawn(process.execPath, args, { env: childEnv, stdio: 'ignore' });
        expect(await exited(again)).toBe(0);

        const runs = await platform.pool.query(`SELECT status, rows_read, rows_silver, rows_quarantined, redelivery_of FROM ops.file_runs WHERE path = $1`, [bronze]);
        expect(runs.rows.filter((r) => r.status === 'running')).toEqual([]);
        const landed = runs.rows.filter((r) => r.status === 'succeeded' && r.redelivery_of === null);
        expect(landed).toHaveLength(1);
        expect(Number(landed[0].rows_read)).toBe(expected.rowsRead);

        const silver = await platform.pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS ids FROM silver.ecommerce_events`);
        expect(silver.rows[0]).toEqual({ n: expected.kept.length, ids: expected.kept.length });
        const quarantine = await platform.pool.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events_quarantine`);
        expect(quarantine.rows[0].n).toBe(sum(expected.dropped) + expected.malformed);
        expect(await lakeSilverRows(platform, await mkdtemp(path.join(dir, 'pq-')))).toEqual({ rows: expected.kept.length, ids: expected.kept.length });
        const quarantineFiles: string[] = [];
        for await (const f of platform.lake.list('quarantine', 'ecommerce_events/')) quarantineFiles.push(f.path);
        expect(quarantineFiles).toHaveLength(1);
      } finally {
        await platform.close();
      }
    });
  }
});
