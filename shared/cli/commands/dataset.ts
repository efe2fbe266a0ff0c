import path from 'node:path';
import { checkFile, rebuildDataset } from '../../pipeline/datasetOps';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport, table } from '../format';
import { Progress } from '../progress';
import { loadedDataset } from './datasetName';
import { inferDataset, localFileProblem } from './ingest';

export const datasetCommand: CliCommand = {
  name: 'dataset',
  usage: 'medallion dataset check <file> [--dataset <name>] | medallion dataset rebuild <name>',
  summary:
    'check: run a local file through staging, transform, load and gold in a rolled-back transaction and a throwaway lake, and print what would land (nothing real changes). ' +
    'rebuild: replay every bronze file of a dataset into fresh silver and gold built from its current contract, swapped in atomically (what a breaking contract change needs)',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub !== 'check' && sub !== 'rebuild') throw new UsageError(`usage: ${datasetCommand.usage}`);
    const args = parseArgs(rest, { command: `medallion dataset ${sub}`, flags: sub === 'check' ? { dataset: 'value' } : {} });
    if (sub === 'check') {
      const file = args.positional[0];
      if (!file || args.positional.length > 1) throw new UsageError('name one local file to check');
      const problem = localFileProblem(file, 'name one file in it to check');
      if (problem) throw new UsageError(`${file}: ${problem}`);
      const name = stringFlag(args, 'dataset');
      return withPlatform(ctx, async (p) => {
        const contract = name ? loadedDataset(name, p.contracts) : await inferDataset(file, p.contracts);
        if (!contract) throw new UsageError(`cannot tell which dataset ${file} belongs to from its header; pass --dataset (${p.contracts.all().map((c) => c.name).join(', ')})`);
        const r = await checkFile(p, contract, path.resolve(file));
        ctx.out(`dataset check of ${file} as '${contract.name}' (rolled back: nothing was written)`);
        if (r.freshTables) ctx.out(`  silver does not match the contract yet (${p.blockedDatasets.get(contract.name)}); checked against tables built from the contract`);
        ctx.out(describeReport(r.report));
        if (r.samples.length) {
          ctx.out('\nquarantined rows (first 10):');
          ctx.out(table(r.samples.map((s) => ({ line: s.source_line, reason: s.quarantine_reason, detail: s.quarantine_detail ?? '', raw: (s.raw_line ?? '').slice(0, 100) }))));
        }
        if (r.gold.length) ctx.out(`\ntables after this file: ${r.gold.map((g) => `${g.table} ${g.rows} rows`).join(', ')}`);
        return r.report.outcome === 'failed' ? 1 : 0;
      });
    }
    if (sub === 'rebuild') {
      const name = args.positional[0];
      if (!name || args.positional.length > 1) throw new UsageError('name one dataset to rebuild');
      return withPlatform(ctx, async (p) => {
        const contract = loadedDataset(name, p.contracts);
        const progress = new Progress();
        const r = await rebuildDataset(p, contract, (line) => progress.update(line));
        progress.done();
        for (const f of r.files) ctx.out(describeReport(f));
        const failed = r.files.filter((f) => f.outcome === 'failed').length;
        ctx.out(`rebuilt '${name}' from ${r.files.length} bronze file(s)${failed ? `, ${failed} failed (see above)` : ''}; ${r.removedOutputs} stale lake file(s) removed`);
        return failed ? 1 : 0;
      });
    }
    throw new UsageError(`usage: ${datasetCommand.usage}`);
  },
};
