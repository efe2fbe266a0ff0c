/**
 * Why a run failed, as types rather than message matching. Only `transient` is retried (by the
 * Functions host, the dev sweeper); the other kinds wait for a new file version or a contract fix.
 */
export type FailureKind = 'bad_file' | 'bad_contract' | 'transient';

/** A problem with the file as a whole: it is quarantined with this message and not retried. */
export class BadFileError extends Error {
  override name = 'BadFileError';
  readonly kind = 'bad_file' as const;
}

/** The dataset's contract (or its silver tables) cannot take the file: fix the contract, then replay. */
export class BadContractError extends Error {
  override name = 'BadContractError';
  readonly kind = 'bad_contract' as const;
}

/** A failure of a service or the machine (database restarting, network, disk): retry later. */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly kind = 'transient' as const;
}

/** A transient failure that kept coming back: recorded as transient, no longer retried. */
export class GaveUpError extends TransientError {
  override name = 'GaveUpError';
}

/** The kind of a failure: typed errors say theirs; anything unexpected is treated as transient. */
export function failureKindOf(e: unknown): FailureKind {
  if (e instanceof BadFileError) return 'bad_file';
  if (e instanceof BadContractError) return 'bad_contract';
  return 'transient';
}

/** PostgreSQL SQLSTATE classes that mean the data or the table definition cannot take the rows (54: over a limit, e.g. a key too long for its index). */
const CONTRACT_SQLSTATES = /^(22|23|42|54)/;

/**
 * Classifies a PostgreSQL error raised while loading rows the engine had already typed: a data
 * exception (22xxx), an integrity violation (23xxx), a definition mismatch (42xxx) or a value over
 * a limit (54xxx) means the contract and the silver table disagree (retrying cannot help); anything
 * else is transient.
 */
export function classifyDatabaseError(e: unknown, what: string): Error {
  const code = (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && CONTRACT_SQLSTATES.test(code)) {
    return new BadContractError(`${what}: PostgreSQL refused the rows (${code}: ${message}); check the contract's types and keys against the silver table`);
  }
  return e instanceof Error ? e : new TransientError(message);
}

/**
 * DuckDB reports its error class as the first words of the message ("Binder Error: …"); that is
 * its error type, not free text. A contract's SQL that does not bind, parse or convert is the
 * contract's fault; resource and I/O errors are transient.
 */
const DUCKDB_CONTRACT_ERRORS = /^(Binder|Parser|Catalog|Conversion|Invalid Input|Not implemented) Error/;

export function classifyEngineError(e: unknown, dataset: string): Error {
  const message = e instanceof Error ? e.message : String(e);
  if (DUCKDB_CONTRACT_ERRORS.test(message)) {
    return new BadContractError(`the contract of '${dataset}' does not compile or run on this file: ${message.split('\n')[0]}; fix the contract, then replay the file`);
  }
  if (duckdbOutOfMemory(e)) return new TransientError(`DuckDB ran out of memory on this file (${message.split('\n')[0]}); raise MEDALLION_ENGINE_MEMORY (default 400MB), then replay the file`);
  return e instanceof Error ? e : new TransientError(message);
}

/** DuckDB's out-of-memory error (its class, as above): more memory helps, a retry as it is may not. */
export function duckdbOutOfMemory(e: unknown): boolean {
  return /^Out of Memory Error/.test(e instanceof Error ? e.message : String(e));
}
