import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Contract } from '../../contracts/contract';
import type { ContractRegistry } from '../../contracts/registry';
import { resolveFormat } from '../../engine/compile';
import { hasControlCharacters, printablePath, safeLakePath } from '../../lake/paths';
import { ingestBronzeFile } from '../../pipeline/ingestFile';
import { bronzePathFor } from '../../pipeline/stagingPath';
import { normalizeName, parseHeader, readFirstLine } from '../../pipeline/stageInput';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport } from '../format';
import { Progress } from '../progress';


/** Picks the dataset whose required columns a CSV file's header has (any contract that can read CSV files). */
export async function inferDataset(file: string, registry: ContractRegistry): Promise<Contract | undefined> {
  // Bounded: a file whose first line never ends (a gzip of zeros) cannot be a CSV with a header.
  const first = (await readFirstLine(createReadStream(file))) ?? '';
  const names = (c: Contract) => (format: 'csv' | 'jsonl') => {
    if (format === 'csv') {
      const settings = resolveFormat(c, path.basename(file));
      const delimiter = settings.type === 'csv' ? (settings.delimiter ?? ',') : ',';
      return parseHeader(first, delimiter).map(normalizeName);
    }
    // JSON lines: the keys of the first record (JSON keys are matched as written, aliases included).
    try {
      const record = JSON.parse(first) as unknown;
      return record && typeof record === 'object' && !Array.isArray(record) ? Object.keys(record) : [];
    } catch {
      return [];
    }
  };
  const matches = registry.all().filter((c) => {
    const format = resolveFormat(c, path.basename(file)).type;
    const have = names(c)(format);
    const norm = format === 'csv' ? normalizeName : (n: string) => n;
    // CSV: every required column is in the header. JSON lines: a record may omit keys, so the
    // dataset is the one whose dedup key the first record carries.
    const wanted = format === 'csv' ? c.source.filter((s) => s.required !== false) : c.source.filter((s) => c.dedup.key.includes(s.name));
    return wanted.length > 0 && wanted.every((s) => [s.name, ...(s.aliases ?? [])].map(norm).some((n) => have.includes(n)));
  });
  return matches.length === 1 ? matches[0] : undefined;
}

/** Why a local file cannot go to bronze under `name`, checked before anything is written; undefined when it can. */
export function localFileProblem(file: string): string | undefined {
  let isFile = false;
  try {
    isFile = existsSync(file) && statSync(file).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) return 'no such file';
  const name = path.basename(file);
  if (hasControlCharacters(name)) return 'the file name contains control characters (tab, newline, …): rename the file before ingesting it';
  try {
    safeLakePath(name);
  } catch (e) {
    return `the file name cannot be a lake path: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

export const ingestCommand: CliCommand = {
  name: 'ingest',
  usage: 'medallion ingest <file>... [--dataset <name>]',
  summary: 'upload local files to bronze and run each through bronze → silver (→ gold); every file is attempted, exit 1 if any failed',
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion ingest', flags: { dataset: 'value' } });
    const files = args.positional;
    if (files.length === 0) throw new UsageError('name at least one file to ingest');
    const datasetName = stringFlag(args, 'dataset');
    return withPlatform(ctx, async (p) => {
      const known = () => p.contracts.all().map((c) => c.name).join(', ');
      const chosen = datasetName ? p.contracts.get(datasetName) : undefined;
      const broken = datasetName ? p.contracts.broken.get(datasetName) : undefined;
      if (broken) {
        // The dataset exists but its contract does not load: its files would fail as bad_contract.
        ctx.err(`✘ nothing ingested (bad_contract): ${broken}`);
        return 1;
      }
      if (datasetName && !chosen) throw new UsageError(`unknown dataset '${datasetName}'; known: ${known()}`);
      const progress = new Progress();
      let failed = 0;
      const refuse = (file: string, message: string) => {
        progress.done();
        failed++;
        ctx.out(`✘ ${printablePath(file)}: FAILED — ${message}`);
      };
      for (const [i, file] of files.entries()) {
        // Every file of the batch is attempted: a refused one is reported and the next one goes on.
        const problem = localFileProblem(file);
        if (problem) {
          refuse(file, problem);
          continue;
        }
        let uploaded = false;
        try {
          const contract = chosen ?? (await inferDataset(file, p.contracts));
          if (!contract) {
            refuse(file, `cannot tell which dataset it belongs to from its header; pass --dataset (${known()})`);
            continue;
          }
          const target = safeLakePath(bronzePathFor(contract, path.basename(file)));
          const label = `file ${i + 1} of ${files.length}: ${path.basename(file)}`;
          const size = statSync(file).size;
          const t0 = Date.now();
          progress.update(`${label}: uploading ${(size / 1e6).toFixed(1)} MB to bronze/${target}`);
          await p.lake.write('bronze', target, createReadStream(file));
          uploaded = true;
          const report = await ingestBronzeFile(p, target, {
            // `medallion dev` may have picked the upload up first: its run is this command's result.
            waitForLiveMs: 30 * 60_000,
            progress: (stage) => progress.update(`${label}: ${stage} (${((Date.now() - t0) / 1000).toFixed(1)} s)`),
          });
          const rows = report.ledger?.rows_read ?? 0;
          progress.done();
          ctx.out(describeReport(report));
          if (report.outcome === 'succeeded') ctx.out(`    ${((rows / Math.max(1, Date.now() - t0)) * 1000).toFixed(0)} rows/s end to end`);
          if (report.outcome === 'failed') failed++;
        } catch (e) {
          // A transient failure (database or storage unavailable, …): ingestBronzeFile throws those.
          const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
          refuse(file, `${message}${uploaded ? ' — the file is in bronze; run the command again (or `medallion dev`) to retry' : ''}`);
        }
      }
      if (files.length > 1) ctx.out(`${files.length - failed} of ${files.length} file(s) landed${failed ? `, ${failed} failed` : ''}`);
      return failed > 0 ? 1 : 0;
    });
  },
};
