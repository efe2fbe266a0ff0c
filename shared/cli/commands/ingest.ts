import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Contract } from '../../contracts/contract';
import type { ContractRegistry } from '../../contracts/registry';
import { resolveFormat } from '../../engine/compile';
import { ingestBronzeFile, type FileReport } from '../../pipeline/ingestFile';
import { normalizeName, parseHeader } from '../../pipeline/stageInput';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport } from '../format';
import { Progress } from '../progress';

async function firstLine(file: string): Promise<string> {
  const raw = createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    rl.close();
    raw.destroy();
    return line.replace(/^\uFEFF/, '');
  }
  return '';
}

/** Picks the dataset whose required columns a CSV file's header has (any contract that can read CSV files). */
export async function inferDataset(file: string, registry: ContractRegistry): Promise<Contract | undefined> {
  const header = parseHeader(await firstLine(file)).map(normalizeName);
  const matches = registry.all().filter((c) => {
    if (resolveFormat(c, path.basename(file)).type !== 'csv') return false;
    return c.source.filter((s) => s.required !== false).every((s) => [s.name, ...(s.aliases ?? [])].map(normalizeName).some((n) => header.includes(n)));
  });
  return matches.length === 1 ? matches[0] : undefined;
}

export const ingestCommand: CliCommand = {
  name: 'ingest',
  usage: 'medallion ingest <file>... [--dataset <name>]',
  summary: 'upload local files to bronze and run each through bronze → silver (→ gold); exit 1 if any file failed',
  async run(argv, ctx) {
    const args = parseArgs(argv);
    const files = args.positional;
    if (files.length === 0) throw new UsageError('name at least one file to ingest');
    for (const f of files) if (!existsSync(f) || !statSync(f).isFile()) throw new UsageError(`no such file: ${f}`);
    const datasetName = stringFlag(args, 'dataset');
    return withPlatform(ctx, async (p) => {
      const progress = new Progress();
      let failed = 0;
      const reports: FileReport[] = [];
      for (const [i, file] of files.entries()) {
        const contract = datasetName ? p.contracts.get(datasetName) : await inferDataset(file, p.contracts);
        if (!contract) {
          const known = p.contracts.all().map((c) => c.name).join(', ');
          throw new UsageError(
            datasetName ? `unknown dataset '${datasetName}'; known: ${known}` : `cannot tell which dataset ${file} belongs to from its header; pass --dataset (${known})`,
          );
        }
        const target = `${contract.bronzePrefix}${path.basename(file)}`;
        const label = `file ${i + 1} of ${files.length}: ${path.basename(file)}`;
        const size = statSync(file).size;
        const t0 = Date.now();
        progress.update(`${label}: uploading ${(size / 1e6).toFixed(1)} MB to bronze/${target}`);
        await p.lake.write('bronze', target, createReadStream(file));
        const report = await ingestBronzeFile(p, target, {
          progress: (stage) => progress.update(`${label}: ${stage} (${((Date.now() - t0) / 1000).toFixed(1)} s)`),
        });
        const rows = report.ledger?.rows_read ?? 0;
        progress.done();
        reports.push(report);
        ctx.out(describeReport(report));
        if (report.outcome === 'succeeded') ctx.out(`    ${((rows / Math.max(1, Date.now() - t0)) * 1000).toFixed(0)} rows/s end to end`);
        if (report.outcome === 'failed') failed++;
      }
      if (files.length > 1) ctx.out(`${files.length - failed} of ${files.length} file(s) landed${failed ? `, ${failed} failed` : ''}`);
      return failed > 0 ? 1 : 0;
    });
  },
};
