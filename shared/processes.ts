import { readdirSync, readFileSync } from 'node:fs';

/**
 * Process bookkeeping (the local stack, and the liveness of runs on this host): a pid is only trusted together with its start time
 * (Linux: /proc/<pid>/stat), so a pid recorded by a process that died and was reused by an
 * unrelated program is never mistaken for ours, and zombies count as gone.
 */
export interface ProcessRef {
  pid: number;
  /** Start time of the process (clock ticks since boot; Linux only). */
  started?: string;
}

function procStat(pid: number): { state: string; started: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, started: fields[19]! };
  } catch {
    return undefined;
  }
}

const hasProc = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** A reference to a running process (with its start time where the OS tells it). */
export function processRef(pid: number): ProcessRef {
  return { pid, started: hasProc ? procStat(pid)?.started : undefined };
}

/** true when `ref` still names the same, running (not zombie) process. */
export function isRunning(ref: ProcessRef | number | undefined): boolean {
  if (ref === undefined) return false;
  const { pid, started } = typeof ref === 'number' ? { pid: ref, started: undefined } : ref;
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (hasProc) {
    const stat = procStat(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
    if (started !== undefined && stat.started !== started) return false;
    return true;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the process is gone; false on timeout. */
export async function waitGone(ref: ProcessRef, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (isRunning(ref)) {
    if (Date.now() > until) return false;
    await sleep(50);
  }
  return true;
}

function signal(ref: ProcessRef, sig: NodeJS.Signals): void {
  if (!isRunning(ref)) return;
  try {
    process.kill(ref.pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops a process: `first` (e.g. SIGINT for PostgreSQL's fast shutdown), then SIGKILL after
 * `graceMs`. Resolves once it is gone (or after the SIGKILL had 5 s to act).
 */
export async function terminate(ref: ProcessRef | undefined, first: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!ref || !isRunning(ref)) return;
  signal(ref, first);
  if (await waitGone(ref, graceMs)) return;
  signal(ref, 'SIGKILL');
  await waitGone(ref, 5_000);
}

/** Same as terminate() but synchronous and without waiting (process 'exit' handlers). */
export function signalNow(ref: ProcessRef | undefined, sig: NodeJS.Signals): void {
  if (ref) signal(ref, sig);
}

/**
 * Pids of running processes whose command line mentions one of `needles` (Linux; [] elsewhere).
 * Used to find everything the stack of one MEDALLION_HOME runs (Azurite's --location,
 * PostgreSQL's -D, initdb's --pgdata all name a path under it).
 */
export function processesMentioning(needles: string[]): { pid: number; cmdline: string }[] {
  if (!hasProc) return [];
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (!cmdline || !isRunning(pid)) continue;
    if (needles.some((n) => cmdline.includes(n))) found.push({ pid, cmdline });
  }
  return found;
}
