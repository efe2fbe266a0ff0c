import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isRunning } from './processes';

/**
 * Scratch folders under the work root (a run's files, an export's, a check's, a DuckDB spill
 * folder, the distinct sets' work) are named `<kind>-<pid>-<host>-…`, so the folders of a process
 * that was killed before it could clean up can be told apart and removed by the next start.
 * `<host>` is a short hash of the host name: a work root shared by several machines or containers
 * (where another host's pid means nothing here) is only swept of this host's folders.
 */
const HOST = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
const KINDS = ['run', 'gold', 'check', 'duckdb', 'gold-sets'] as const;
const NAME = new RegExp(`^(?:${[...KINDS].sort((a, b) => b.length - a.length).join('|')})-(\\d+)-([0-9a-f]{8})-`);

/** The mkdtemp prefix of a scratch folder of this process. */
export function scratchPrefix(dir: string, kind: (typeof KINDS)[number]): string {
  return path.join(dir, `${kind}-${process.pid}-${HOST}-`);
}

/** Removes the scratch folders in `dir` left by processes of this host that are gone. */
export async function sweepDeadWork(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // no folder yet
  }
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || m[2] !== HOST) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isRunning(pid)) continue;
    await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
