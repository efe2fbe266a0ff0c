import { describe, expect, it } from 'vitest';
import { definitionError } from '../../shared/gold/hooks';
import { GoldModelError } from '../../shared/gold/models';
import { classifyDatabaseError, classifyEngineError, failureKindOf } from '../../shared/pipeline/failures';

/** A gold failure as the refresh raises it: the model's message, the error underneath as its cause. */
function goldError(cause?: unknown): GoldModelError {
  const e = new GoldModelError('gold model conversion_funnel (conversion_funnel.sql): boom');
  if (cause !== undefined) (e as { cause?: unknown }).cause = cause;
  return e;
}
const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('failure kinds of gold and load errors (types and SQLSTATE classes, not messages)', () => {
  it('PostgreSQL refusing the model (definition, an unsupported form such as a nested data-modifying WITH, data, a key over the index limit) or the framework refusing it: bad_contract', () => {
    for (const e of [goldError(pgError('42703')), goldError(pgError('22012')), goldError(pgError('23505')), goldError(pgError('54000')), goldError(pgError('P0001')), goldError(pgError('0A000')), goldError()]) {
      const out = definitionError(e, 'ecommerce_events/x.csv');
      expect(failureKindOf(out)).toBe('bad_contract');
      expect((out as Error).message).toMatch(/fix the model, then run `medallion replay ecommerce_events\/x.csv`$/);
    }
    // A total over the model's column type (numeric field overflow): the column or the data, said so.
    const overflow = definitionError(goldError(pgError('22003')), 'crm/pipeline/whale.csv');
    expect(failureKindOf(overflow)).toBe('bad_contract');
    expect((overflow as Error).message).toMatch(/; widen the model's column or expression type that overflows \(e\.g\. numeric\(18,2\) → numeric\(24,2\), bigint → numeric\) or fix the data, then run `medallion replay crm\/pipeline\/whale\.csv`$/);
  });

  it('the machine failing under the model (DuckDB out of memory or disk, a deadlock, the server going away): transient', () => {
    const duck = [new Error('Out of Memory Error: could not allocate block'), new Error('IO Error: Could not read from file "/tmp/spill/x.tmp"'), new Error('Invalid Input Error: CSV Error on Line: 1')];
    for (const e of [...duck.map(goldError), goldError(pgError('40P01')), goldError(pgError('57P01')), goldError(pgError('53100')), new Error('socket hang up')]) {
      expect(failureKindOf(definitionError(e, 'ecommerce_events/x.csv'))).toBe('transient');
    }
  });

  it('DuckDB out of memory on a file: transient, one line that names the setting to raise', () => {
    const oom = new Error('Out of Memory Error: failed to allocate data of size 100.3 MiB (169.5 MiB/190.7 MiB used)\n\nPossible solutions:\n* Reducing the number of threads (SET threads=X)');
    const out = classifyEngineError(oom, 'ecommerce_events');
    expect(failureKindOf(out)).toBe('transient');
    expect(out.message).not.toContain('\n');
    expect(out.message).toMatch(/^DuckDB ran out of memory on this file \(Out of Memory Error: failed to allocate .*\); raise MEDALLION_ENGINE_MEMORY/);
    expect(failureKindOf(classifyEngineError(new Error('Binder Error: column x not found'), 'ecommerce_events'))).toBe('bad_contract');
  });

  it('loading silver: 22/23/42/54 classes are the contract, others transient', () => {
    expect(['22001', '23505', '42804', '54000', '40P01', '53200', '08006'].map((c) => failureKindOf(classifyDatabaseError(pgError(c), 'load')))).toEqual([
      'bad_contract',
      'bad_contract',
      'bad_contract',
      'bad_contract',
      'transient',
      'transient',
      'transient',
    ]);
  });
});
