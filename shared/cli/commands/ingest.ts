import { createReadStream, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Contract } from '../../contracts/contract';
import type { ContractRegistry } from '../../contracts/registry';
import { resolveFormat } from '../../engine/compile';
import { LakeWriteConflictError } from '../../lake/lake';
import { hasControlCharacters, printablePath, safeLakePath } from '../../lake/paths';
import { ingestBronzeFile } from '../../pipeline/ingestFile';
import { bronzePathFor } from '../../pipeline/stagingPath';
import { normalizeName, parseHeader, readFirstLine } from '../../pipeline/stageInput';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { describeReport, writeConflictLine } from '../format';
import { Progress } from '../progress';
import { unknownDataset } from './datasetName';


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

/** What is at a local path: statSync follows links, a missing or unreadable path is 'missing'. */
function localKind(file: string): 'file' | 'directory' | 'other' | 'missing' {
  try {
    const s = statSync(file);
    return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

/** How to ingest the files of a folder: the CLI takes files, and the shell expands a pattern into them. */
function directoryHint(dir: string): string {
  return `name its files instead, e.g. medallion ingest ${printablePath(dir.replace(/[\\/]+$/, ''))}/*.csv (the shell expands the pattern)`;
}

/**
 * Why a local file cannot go to bronze under its name, checked before anything is written;
 * undefined when it can. `inDirectory` says what to do when the path is a folder.
 */
export function localFileProblem(file: string, inDirectory: string = directoryHint(file)): string | undefined {
  const kind = localKind(file);
  if (kind === 'missing') return 'no such file';
  if (kind === 'directory') return `is a directory: ${inDirectory}`;
  if (kind === 'other') return 'not a regular file (a pipe, socket or device): copy it to a file first';
  const name = path.basename(file);
  if (hasControlCharacters(name)) return 'the file name contains control characters (tab, newline, …): rename the file before ingesting it';
  try {
    safeLakePath(name);
  } catch (e) {
    return `the file name cannot be a lake path: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

/** A file of the command: where it goes in bronze, or why it cannot go. */
export type PlannedFile = { file: string; contract: Contract; target: string } | { file: string; problem: string };

/**
 * Where each file goes, decided before anything is uploaded. A staging dataset's file gets a run
 * folder of its own: `now` plus the file's position in milliseconds (later arguments are later runs).
 */
async function planFiles(files: string[], chosen: Contract | undefined, registry: ContractRegistry, now: number): Promise<PlannedFile[]> {
  const known = registry.all().map((c) => c.name).join(', ');
  const plans: PlannedFile[] = [];
  for (const [i, file] of files.entries()) {
    const problem = localFileProblem(file);
    if (problem) {
      plans.push({ file, problem });
      continue;
    }
    try {
      const contract = chosen ?? (await inferDataset(file, registry));
      if (!contract) plans.push({ file, problem: `cannot tell which dataset it belongs to from its header; pass --dataset (${known})` });
      else plans.push({ file, contract, target: safeLakePath(bronzePathFor(contract, path.basename(file), now + i)) });
    } catch (e) {
      plans.push({ file, problem: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
    }
  }
  return plans;
}

/** True when two local paths name one file (the same path, or links to it). */
function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

/**
 * The one line refusing a command two of whose local files would go to the same bronze path (the
 * second upload would replace the first: a new version of the path); undefined when none would.
 * The same local file named twice is not a clash: it is the same bytes.
 */
export function sameTargetProblem(plans: PlannedFile[]): string | undefined {
  const first = new Map<string, string>();
  for (const plan of plans) {
    if (!('target' in plan)) continue;
    const earlier = first.get(plan.target);
    if (earlier === undefined) first.set(plan.target, plan.file);
    else if (!sameFile(earlier, plan.file)) {
      return `${printablePath(earlier)} and ${printablePath(plan.file)} would both go to bronze/${plan.target} (the second would replace the first): rename one of them`;
    }
  }
  return undefined;
}

/** The one line for a file whose upload or run threw (a transient failure, or another upload of the same path). */
export function ingestFailure(e: unknown, uploaded: boolean): string {
  if (e instanceof LakeWriteConflictError) return writeConflictLine(e);
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return `${message}${uploaded ? ' — the file is in bronze; run the command again (or `medallion dev`) to retry' : ''}`;
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
      const chosen = datasetName ? p.contracts.get(datasetName) : undefined;
      const broken = datasetName ? p.contracts.broken.get(datasetName) : undefined;
      if (broken) {
        // The dataset exists but its contract does not load: its files would fail as bad_contract.
        ctx.err(`✘ nothing ingested (bad_contract): ${broken}`);
        return 1;
      }
      if (datasetName && !chosen) throw unknownDataset(datasetName, p.contracts);
      const plans = await planFiles(files, chosen, p.contracts, Date.now());
      const clash = sameTargetProblem(plans);
      if (clash) {
        // Refused as a whole, before any upload: a mistake in the command's arguments.
        ctx.err(`✘ nothing ingested: ${clash}`);
        return 2;
      }
      const progress = new Progress();
      let failed = 0;
      const refuse = (file: string, message: string) => {
        progress.done();
        failed++;
        ctx.out(`✘ ${printablePath(file)}: FAILED — ${message}`);
      };
      for (const [i, plan] of plans.entries()) {
        // Every file of the batch is attempted: a refused one is reported and the next one goes on.
        if (!('target' in plan)) {
          refuse(plan.file, plan.problem);
          continue;
        }
        const { file, target } = plan;
        let uploaded = false;
        try {
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
          refuse(file, ingestFailure(e, uploaded));
        }
      }
      if (files.length > 1) ctx.out(`${files.length - failed} of ${files.length} file(s) landed${failed ? `, ${failed} failed` : ''}`);
      return failed > 0 ? 1 : 0;
    });
  },
};
