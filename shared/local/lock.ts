import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { isRunning, type ProcessRef, processRef } from '../processes';

/**
 * An exclusive lock file: created atomically (O_CREAT|O_EXCL) holding the owner's pid and start
 * time. A lock whose owner is gone (kill -9, power loss) is stale and taken over; breaking a stale
 * lock is itself guarded by a second short-lived O_EXCL file, so two processes that both find the
 * same stale lock cannot both take it (nor can one delete the fresh lock of the other).
 */
export class LockBusyError extends Error {
  constructor(
    readonly file: string,
    readonly owner: ProcessRef | undefined,
  ) {
    super(`${file} is held by another medallion process${owner ? ` (pid ${owner.pid})` : ''}`);
  }
}

export interface Lock {
  file: string;
  release(): void;
}

function readOwner(file: string): ProcessRef | undefined | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const owner = JSON.parse(text) as ProcessRef;
    return typeof owner.pid === 'number' ? owner : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(processRef(process.pid)));
  } finally {
    closeSync(fd);
  }
  return true;
}

/** One attempt; true when this process now holds the lock. */
export function tryLock(file: string): boolean {
  if (tryCreate(file)) return true;
  const owner = readOwner(file);
  // A lock file that is being written right now is briefly empty: only an old unreadable one is stale.
  const stale = owner === undefined || (owner === 'unreadable' ? ageMs(file) > 5_000 : !isRunning(owner));
  if (!stale) return false;
  const breaker = `${file}.break`;
  if (!tryCreate(breaker)) {
    const b = readOwner(breaker);
    if (b === 'unreadable' ? ageMs(breaker) > 5_000 : b === undefined || !isRunning(b)) {
      try {
        unlinkSync(breaker);
      } catch {
        // someone else removed it
      }
    }
    return false;
  }
  try {
    // Look again while holding the breaker: another process may have broken and re-taken it.
    const again = readOwner(file);
    const stillStale = again === undefined || (again === 'unreadable' ? ageMs(file) > 5_000 : !isRunning(again));
    if (stillStale) {
      try {
        unlinkSync(file);
      } catch {
        // gone already
      }
    }
    return tryCreate(file);
  } finally {
    try {
      unlinkSync(breaker);
    } catch {
      // ignore
    }
  }
}

export function lockHolder(file: string): ProcessRef | undefined {
  const owner = readOwner(file);
  return owner === 'unreadable' ? undefined : owner;
}

function releaser(file: string): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const owner = readOwner(file);
    if (owner && owner !== 'unreadable' && owner.pid !== process.pid) return; // not ours (any more)
    try {
      unlinkSync(file);
    } catch {
      // ignore
    }
  };
}

/**
 * Takes the lock, waiting (polling) up to `timeoutMs` while a live process holds it.
 * `onWait` is called once, after a second of waiting, with the holder.
 */
export async function acquireLock(file: string, options: { timeoutMs?: number; onWait?: (owner: ProcessRef | undefined) => void; signal?: AbortSignal } = {}): Promise<Lock> {
  const until = Date.now() + (options.timeoutMs ?? 180_000);
  const started = Date.now();
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (tryLock(file)) return { file, release: releaser(file) };
    if (!told && Date.now() - started > 1_000) {
      told = true;
      options.onWait?.(lockHolder(file));
    }
    if (Date.now() > until) throw new LockBusyError(file, lockHolder(file));
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Synchronous single attempt (process 'exit' handlers); undefined when busy. */
export function tryLockNow(file: string): Lock | undefined {
  try {
    return tryLock(file) ? { file, release: releaser(file) } : undefined;
  } catch {
    return undefined;
  }
}
