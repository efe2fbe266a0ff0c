import { ConfigError } from '../config';
import { ContractError } from '../contracts/contract';
import { LakeNotFoundError, LakeWriteConflictError } from '../lake/lake';
import { printablePath, UnsafePathError } from '../lake/paths';
import { consoleLogger } from '../log';
import { UsageError } from './args';
import type { CliCommand } from './command';
import { datasetCommand } from './commands/dataset';
import { devCommand } from './commands/dev';
import { extractCommand } from './commands/extract';
import { generateCommand } from './commands/generate';
import { goldCommand } from './commands/gold';
import { healthCommand } from './commands/health';
import { ingestCommand } from './commands/ingest';
import { produceCommand } from './commands/produce';
import { replayCommand } from './commands/replay';
import { sqlCommand } from './commands/sql';
import { stackCommand } from './commands/stack';
import { statusCommand } from './commands/status';
import { type CliContext, defaultContext } from './context';
import { writeConflictLine } from './format';

export const COMMANDS: CliCommand[] = [ingestCommand, extractCommand, statusCommand, sqlCommand, goldCommand, datasetCommand, devCommand, produceCommand, generateCommand, stackCommand, replayCommand, healthCommand];

function help(ctx: CliContext): void {
  ctx.out('medallion — bronze → silver → gold on Azure Functions (local stack: Azurite + PostgreSQL)\n');
  for (const c of COMMANDS) ctx.out(`  ${c.usage}\n      ${c.summary}`);
  ctx.out('\nGlobal flags: --verbose (or MEDALLION_VERBOSE=1) prints details and stack traces of failures; <command> --help shows one command.');
  ctx.out('With no LakeStorage / DATABASE_URL set, commands start the local stack under MEDALLION_HOME (default ./.medallion).');
}

/** Takes the global flags (--verbose, --help/-h) out of the arguments; `--` ends flag parsing. */
export function globalFlags(argv: string[], env: Record<string, string | undefined> = {}): { argv: string[]; verbose: boolean; help: boolean } {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  const verbose = head.includes('--verbose') || /^(1|true|yes|on)$/i.test(env.MEDALLION_VERBOSE ?? '');
  const wantsHelp = head.includes('--help') || head.includes('-h');
  return { argv: [...head.filter((a) => a !== '--verbose' && a !== '--help' && a !== '-h'), ...tail], verbose, help: wantsHelp };
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

const FILE_CODES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a parent of this path is not a directory',
  ENOSPC: 'no space left on the device writing',
  EROFS: 'read-only file system writing',
};

interface ErrorInfo {
  code?: string;
  address?: string;
  port?: number;
  message: string;
}

/** The first error with a message (Node reports a refused connection to several addresses as an AggregateError with an empty message). */
function innermost(e: unknown): ErrorInfo {
  const err = (e ?? {}) as Partial<ErrorInfo> & { errors?: unknown[] };
  if (e instanceof AggregateError && Array.isArray(err.errors) && err.errors.length) {
    const first = innermost(err.errors[0]);
    return { ...first, code: err.code ?? first.code };
  }
  if (e instanceof Error) return { code: err.code, address: err.address, port: err.port, message: e.message };
  return { message: String(e) };
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim())?.trim() ?? '';
}

function hostPort(url: string | undefined): { host: string; port: string } | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return { host: u.hostname, port: u.port || '5432' };
  } catch {
    return undefined;
  }
}

/**
 * One line for a failure the user can do something about, or undefined when the error is
 * unexpected. `exitCode` 2 is for usage and configuration mistakes.
 */
export function explainError(e: unknown, env: Record<string, string | undefined> = {}): { message: string; exitCode: number } | undefined {
  if (e instanceof ConfigError || e instanceof ContractError) return { message: `configuration problem: ${e.message}`, exitCode: 2 };
  if (e instanceof UnsafePathError) return { message: `${e.message}: rename the file (no tabs, newlines or other control characters)`, exitCode: 1 };
  if (e instanceof LakeNotFoundError) return { message: e.message, exitCode: 1 };
  if (e instanceof LakeWriteConflictError) return { message: writeConflictLine(e), exitCode: 1 };
  const info = innermost(e);
  const pgCode = (e as { code?: string }).code;
  if (info.code && CONNECTION_CODES.has(info.code)) {
    const where = info.address ? `${info.address}${info.port ? `:${info.port}` : ''}` : '';
    const db = hostPort(env.DATABASE_URL);
    const isDb = db && info.port !== undefined && String(info.port) === db.port;
    const service = isDb ? 'PostgreSQL' : env.LakeStorage && info.port !== undefined && env.LakeStorage.includes(`:${info.port}`) ? 'the lake storage' : 'a service';
    const fix = isDb ? 'start it, or fix DATABASE_URL' : service === 'the lake storage' ? 'start it, or fix LakeStorage' : 'check DATABASE_URL and LakeStorage';
    return { message: `cannot reach ${service}${where ? ` at ${where}` : ''} (${info.code}): ${fix} (unset both to use the local stack)`, exitCode: 1 };
  }
  if (typeof pgCode === 'string' && /^(28|3D)/.test(pgCode)) {
    return { message: `PostgreSQL refused the connection: ${firstLine(info.message)}: check DATABASE_URL`, exitCode: 1 };
  }
  const fsError = e as { code?: string; path?: string; syscall?: string };
  if (typeof fsError.path === 'string' && fsError.code && FILE_CODES[fsError.code]) {
    return { message: `${FILE_CODES[fsError.code]}: ${printablePath(fsError.path)}`, exitCode: 1 };
  }
  const status = (e as { statusCode?: number; name?: string }).statusCode;
  if ((e as { name?: string }).name === 'RestError' && (status === 401 || status === 403)) {
    return { message: `the lake refused access (${status}): ${firstLine(info.message)}: check LakeStorage and the identity's role on the storage account`, exitCode: 1 };
  }
  return undefined;
}

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function main(argv: string[], ctx: CliContext = defaultContext): Promise<number> {
  const flags = globalFlags(argv, ctx.env);
  const [name, ...rest] = flags.argv;
  if (flags.verbose && ctx === defaultContext) ctx = { ...ctx, log: consoleLogger };
  if (!name || name === 'help') {
    help(ctx);
    return name || flags.help ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    ctx.err(`unknown command '${name}' (medallion --help lists them)`);
    return 2;
  }
  if (flags.help) {
    ctx.out(`usage: ${command.usage}\n  ${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.err(`${e.message}\nusage: ${command.usage}`);
      return 2;
    }
    const known = explainError(e, ctx.env);
    const stack = e instanceof Error && e.stack ? e.stack : String(e);
    if (known) {
      ctx.err(`medallion ${name}: ${known.message}`);
      if (flags.verbose) ctx.err(stack);
      return known.exitCode;
    }
    const info = innermost(e);
    ctx.err(`medallion ${name} failed: ${firstLine(info.message) || info.code || 'unknown error'}${flags.verbose ? '' : ' (run with --verbose for details)'}`);
    if (flags.verbose) ctx.err(stack);
    return 1;
  }
}

/** Resolves once everything written to `stream` so far has been handed to the OS (or the reader has gone). */
export function flushed(stream: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * The process entry point (bin/medallion.js): runs the command, waits until stdout and stderr
 * have drained — a pipe takes 64 KiB at a time, and process.exit() would cut off the rest — and
 * exits with the command's code (exiting also ends handles an SDK may keep open).
 */
export async function runCli(argv: string[] = process.argv.slice(2)): Promise<void> {
  // A reader that goes away (`medallion status --json | head`) is not an error of the command.
  const ignoreBrokenPipe = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  };
  process.stdout.on('error', ignoreBrokenPipe);
  process.stderr.on('error', ignoreBrokenPipe);
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    process.stderr.write(`medallion failed: ${e instanceof Error ? e.message : String(e)}\n`);
    code = 1;
  }
  process.exitCode = code;
  await flushed(process.stdout);
  await flushed(process.stderr);
  process.exit(code);
}

if (require.main === module) void runCli();
