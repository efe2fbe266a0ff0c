/**
 * `npm run bench [-- --rows 2000000 --big-rows 8000000] [--lake-only | --gold-only]`: throughput and memory of the platform
 * on the local stack, each number next to its baseline measured in the same run.
 *   lake step   bronze file → silver Parquet + quarantine   vs DuckDB doing the same work
 *   PG load     silver rows into PostgreSQL (cross-file dedup) vs a plain COPY of the same rows
 *   peak RSS    of the pipeline process, at N and at 4N rows (must not grow with file size)
 * Results also go to .bench/results.json.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { numberArg } from './benchArgs';
import { table } from '../shared/cli/format';
import { startLocalStack } from '../shared/local/stack';

interface LakeCase {
  rows: number;
  bytes: number;
  rowsRead: number;
  rowsSilver: number;
  quarantined: number;
  duplicates: number;
  totalMs: number;
  lakeMs: number;
  duckMs: number;
  pgMs: number;
  copyMs: number;
  timings: Record<string, number>;
  pipelinePeakRssMb: number;
  engineMemoryLimit: string;
}


function runCase(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} ${args.join(' ')} exited with ${code}`))));
  });
}

const rate = (rows: number, ms: number) => Math.round((rows / ms) * 1000);
const check = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

async function main(): Promise<void> {
  const rows = numberArg('rows', 2_000_000);
  const bigRows = numberArg('big-rows', rows * 4);
  const work = path.resolve('.bench');
  await mkdir(work, { recursive: true });
  const home = path.join(work, 'stack');
  await rm(home, { recursive: true, force: true });
  console.log(`starting the local stack under ${home}…`);
  const stack = await startLocalStack({ home, blobPort: 0, postgresPort: 0 });
  const results: Record<string, unknown> = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version } };
  try {
    const goldOnly = process.argv.includes('--gold-only');
    if (!goldOnly) {
      const cases: LakeCase[] = [];
      for (const n of [rows, ...(bigRows > 0 ? [bigRows] : [])]) {
        console.log(`\nbronze → silver, ${n.toLocaleString('en')} rows (file generated once into .bench/)…`);
        const json = await runCase('benchLake.js', ['--rows', String(n), '--db', stack.databaseUrl, '--lake', stack.lakeConnectionString, '--work', work]);
        cases.push(JSON.parse(json.trim().split('\n').at(-1)!) as LakeCase);
      }
      results.lake = cases;
      console.log('\nbronze → silver on the local stack (Azurite + PostgreSQL), baselines measured in the same process run:');
      console.log(
        table(
          cases.map((c) => ({
            rows: c.rows.toLocaleString('en'),
            'file MB': (c.bytes / 1e6).toFixed(0),
            'lake step rows/s': rate(c.rowsRead, c.lakeMs),
            'DuckDB same work rows/s': rate(c.rowsRead, c.duckMs),
            'lake ratio (≥0.8)': (c.duckMs / c.lakeMs).toFixed(2),
            'PG load rows/s': rate(c.rowsSilver, c.pgMs),
            'plain COPY rows/s': rate(c.rowsSilver, c.copyMs),
            'PG ratio (≥0.8)': (c.copyMs / c.pgMs).toFixed(2),
            'peak RSS MB (≤1024)': c.pipelinePeakRssMb,
            'end to end rows/s': rate(c.rowsRead, c.totalMs),
          })),
        ),
      );
      console.log('\nstage timings (ms):');
      console.log(table(cases.map((c) => ({ rows: c.rows, ...c.timings }))));
      const [small, big] = cases;
      console.log('\ntargets:');
      console.log(`  lake step ≥ 0.8 × DuckDB (${small!.rows} rows): ${(small!.duckMs / small!.lakeMs).toFixed(2)}  ${check(small!.duckMs / small!.lakeMs >= 0.8)}`);
      console.log(`  PG load ≥ 0.8 × plain COPY (${small!.rows} rows): ${(small!.copyMs / small!.pgMs).toFixed(2)}  ${check(small!.copyMs / small!.pgMs >= 0.8)}`);
      for (const c of cases) console.log(`  peak RSS ≤ 1 GB (${c.rows} rows): ${c.pipelinePeakRssMb} MB  ${check(c.pipelinePeakRssMb <= 1024)}`);
      if (big) {
        const growth = big.pipelinePeakRssMb / small!.pipelinePeakRssMb;
        console.log(`  peak RSS not growing with file size (${big.rows} vs ${small!.rows} rows): ×${growth.toFixed(2)}  ${check(growth <= 1.25)}`);
      }
    }
    for (const extra of process.argv.includes('--lake-only') ? [] : goldOnly ? ['benchGold.js'] : ['benchGold.js', 'benchStream.js', 'benchExtract.js']) {
      const file = path.join(__dirname, extra);
      if (!existsSync(file)) continue;
      const mod = (await import(file)) as { runBench?: (o: { databaseUrl: string; lakeConnectionString: string; workDir: string }) => Promise<unknown> };
      if (mod.runBench) results[extra.replace('.js', '')] = await mod.runBench({ databaseUrl: stack.databaseUrl, lakeConnectionString: stack.lakeConnectionString, workDir: work });
    }
  } finally {
    await stack.stop();
  }
  await writeFile(path.join(work, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`\nresults written to ${path.join(work, 'results.json')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
