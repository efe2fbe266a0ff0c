import { describe, expect, it } from 'vitest';
import { type Contract, ContractError, validateContract } from '../../shared/contracts/contract';
import { checkContractSql, contractProblems, contractSqlProblems } from '../../shared/contracts/validate';
import customers from '../../shared/datasets/customers/contract';
import ecommerce from '../../shared/datasets/ecommerce_events/contract';

/** A small valid contract (UCI Online Retail layout); each test breaks one thing. */
function retail(): Contract {
  return {
    name: 'retail',
    description: 'Online retail invoice lines.',
    bronzePrefix: 'retail/',
    format: { type: 'csv' },
    source: [
      { name: 'invoice_no', aliases: ['InvoiceNo'] },
      { name: 'stock_code', aliases: ['StockCode'] },
      { name: 'quantity' },
      { name: 'invoice_date' },
      { name: 'unit_price' },
      { name: 'customer_id', aliases: ['CustomerID'], required: false },
    ],
    typed: [
      { name: 'invoice_no', type: 'string', sql: "nullif(trim(invoice_no), '')", description: 'Invoice.' },
      { name: 'stock_code', type: 'string', sql: "nullif(trim(stock_code), '')", description: 'Product.' },
      { name: 'quantity', type: 'int', sql: 'try_cast(trim(quantity) AS INTEGER)', description: 'Units.' },
      { name: 'invoice_date', type: 'timestamp', sql: "try_strptime(trim(invoice_date), '%m/%d/%Y %H:%M')", description: 'Time.', bounds: { min: '2000-01-01', max: 'none' } },
      { name: 'unit_price', type: 'decimal(10,2)', sql: 'try_cast(trim(unit_price) AS DECIMAL(10,2))', description: 'Price.', onInvalid: 'warn' },
      { name: 'customer_id', type: 'string', sql: "nullif(trim(customer_id), '')", description: 'Customer.' },
    ],
    expectations: [{ name: 'positive_quantity', check: 'quantity > 0', action: 'warn', description: 'Returns are negative.' }],
    // customer_id is nullable and part of the key: allowed (the id hashes NULL distinctly)
    dedup: { mode: 'first', key: ['invoice_no', 'stock_code', 'customer_id'], idColumn: 'line_id' },
    derived: [
      { name: 'invoice_day', type: 'date', sql: 'CAST(invoice_date AS DATE)', description: 'Day.' },
      { name: 'line_total', type: 'decimal(18,2)', sql: 'quantity * unit_price', description: 'Total.' },
      { name: 'big_line', type: 'boolean', sql: 'line_total > 100', description: 'Uses an earlier derived column.' },
      { name: 'processed_at', type: 'timestamp', sql: '{{run_started_at}}', description: 'Run start.' },
    ],
    partitionBy: ['invoice_day'],
    rangeColumn: 'invoice_date',
  };
}

/** The contract with `edit` applied; its validation must fail with a message matching `expected`. */
function rejects(edit: (c: Contract) => void, expected: RegExp) {
  const c = retail();
  edit(c);
  const problems = contractProblems(c);
  expect(problems.join('\n')).toMatch(expected);
  expect(() => validateContract(c)).toThrow(ContractError);
  expect(() => validateContract(c)).toThrow(/contract 'retail'/);
}

describe('validateContract: every shape mistake, named by field with what to write instead', () => {
  it('accepts the valid contracts (the repository\u2019s and the retail one, with a nullable dedup key)', async () => {
    for (const c of [retail(), ecommerce, customers]) {
      expect(contractProblems(c)).toEqual([]);
      expect(await contractSqlProblems(c)).toEqual([]);
    }
  });

  it('unknown types', () => {
    rejects((c) => ((c.typed[2] as { type: string }).type = 'integer'), /typed column 'quantity'\.type 'integer' is not a silver type; did you mean 'int'\?/);
    rejects((c) => ((c.typed[4] as { type: string }).type = 'decimal(40,2)'), /typed column 'unit_price'\.type 'decimal\(40,2\)': decimal precision must be 1-38/);
    rejects((c) => ((c.derived[0] as { type: string }).type = 'datetime'), /derived column 'invoice_day'\.type 'datetime' is not a silver type/);
  });

  it('duplicate names', () => {
    rejects((c) => c.derived.push({ name: 'quantity', type: 'int', sql: '1', description: '' }), /column 'quantity' is declared twice/);
    rejects((c) => c.expectations.push({ ...c.expectations[0]! }), /expectation 'positive_quantity' is declared twice/);
    rejects((c) => c.typed.push({ name: 'source_file', type: 'string', sql: "''", description: '' }), /typed column 'source_file': 'source_file' is a column the platform adds/);
    rejects((c) => (c.dedup = { mode: 'first', key: c.dedup.key, idColumn: 'quantity' }), /dedup\.idColumn 'quantity': the id column is generated/);
  });

  it('keys, partitions, range and orderBy that are not silver columns', () => {
    rejects((c) => (c.dedup.key = ['invoice_no', 'stockcode']), /dedup key column 'stockcode' is not a silver column.*did you mean 'stock_code'\?/);
    rejects((c) => (c.dedup.key = ['invoice_day']), /dedup key column 'invoice_day' is a derived column/);
    rejects((c) => (c.partitionBy = ['invoice_dy']), /partition column 'invoice_dy' is not a silver column.*did you mean 'invoice_day'/);
    rejects((c) => (c.rangeColumn = 'invoice_time'), /rangeColumn 'invoice_time' is not a silver column/);
    rejects((c) => (c.dedup = { mode: 'latest', key: ['invoice_no'], idColumn: 'line_id', orderBy: 'updated_at' }), /dedup orderBy 'updated_at' is not a silver column/);
    rejects((c) => ((c.dedup as { mode: string }).mode = 'last'), /dedup\.mode 'last' is not a mode; did you mean 'latest'\?/);
  });

  it('`from` naming a column that is not a source column', () => {
    rejects((c) => (c.typed[2]!.from = 'qty'), /typed column 'quantity'\.from 'qty' is not a source column/);
    rejects((c) => (c.derived[0]!.from = 'invoice_date'), /derived column 'invoice_day'\.from: only typed \(source\) columns take 'from'/);
  });

  it('bounds that are not dates, or on columns that are not time columns', () => {
    rejects((c) => (c.typed[3]!.bounds = { min: '01/01/2000' }), /typed column 'invoice_date'\.bounds\.min '01\/01\/2000' is not a date; write ISO text like '2000-01-01'/);
    rejects((c) => (c.typed[3]!.bounds = { max: 'tomorrow' }), /typed column 'invoice_date'\.bounds\.max 'tomorrow' is not a date/);
    rejects((c) => (c.typed[3]!.bounds = { min: '2020-01-01', max: '2010-01-01' }), /bounds: min '2020-01-01' is after max '2010-01-01'/);
    rejects((c) => (c.typed[2]!.bounds = { min: '2000-01-01' }), /typed column 'quantity'\.bounds: bounds apply to timestamp and date columns only/);
  });

  it('onInvalid and unknownColumns values', () => {
    rejects((c) => ((c.typed[4] as { onInvalid: string }).onInvalid = 'drop'), /typed column 'unit_price'\.onInvalid 'drop' is not an action; use one of 'quarantine', 'warn'|typed column 'unit_price'\.onInvalid 'drop' is not an action/);
    rejects((c) => ((c as { unknownColumns: string }).unknownColumns = 'rescued'), /unknownColumns 'rescued' is not a mode; did you mean 'rescue'\?/);
  });

  it('multiLine.maxLines that is not a whole number from 1 to 10000', () => {
    for (const maxLines of [0, -1, 1.5, 10_001, Number.NaN]) {
      rejects((c) => (c.format = { type: 'csv', multiLine: { maxLines } }), /format\.multiLine\.maxLines .* must be a whole number from 1 to 10000/);
    }
    rejects((c) => (c.format = { type: 'csv', multiLine: true as unknown as { maxLines: number } }), /format\.multiLine must be \{ maxLines: <n> \}/);
  });

  it('delimiter and quote that are not single characters, or equal', () => {
    rejects((c) => (c.format = { type: 'csv', delimiter: ';;' }), /format\.delimiter ";;" must be one character/);
    rejects((c) => (c.format = { type: 'csv', delimiter: '' }), /format\.delimiter "" must be one character/);
    rejects((c) => (c.format = { type: 'csv', quote: "''" }), /format\.quote "''" must be one character/);
    rejects((c) => (c.format = { type: 'csv', delimiter: '"' }), /format\.delimiter and format\.quote are both "\\""; they must differ/);
    rejects((c) => ((c.format as { type: string }).type = 'parquet'), /format\.type 'parquet' is not a format; write \{ type: 'csv' \} or \{ type: 'jsonl' \}/);
  });

  it('bronzePrefix shape', () => {
    for (const p of ['retail', '/retail/', 'retail//x/', '../retail/', 'my retail/']) {
      rejects((c) => (c.bronzePrefix = p), /bronzePrefix '.*' must look like 'folder\/'.*write 'retail\/'/);
    }
  });

  it('expectation actions', () => {
    rejects((c) => ((c.expectations[0] as { action: string }).action = 'quarantine'), /expectation 'positive_quantity'\.action 'quarantine' is not an action/);
    rejects((c) => ((c.expectations[0] as { action: string }).action = 'warning'), /expectation 'positive_quantity'\.action 'warning' is not an action; did you mean 'warn'\?/);
  });

  it('a source column listed twice, or an alias clashing with another column', () => {
    rejects((c) => c.source.push({ name: 'quantity' }), /source column 'quantity' is listed twice in source/);
    rejects((c) => (c.source[1]!.aliases = ['Quantity']), /source column 'stock_code'\.aliases: 'Quantity' clashes with source column 'quantity'/);
    rejects((c) => (c.source[1]!.aliases = ['InvoiceNo']), /source column 'stock_code'\.aliases: 'InvoiceNo' clashes with source column 'invoice_no'/);
    rejects((c) => c.source.push({ name: 'customer', aliases: ['customer_id'] }), /source column 'customer'\.aliases: 'customer_id' clashes with source column 'customer_id'/);
  });

  it('misspelt or missing fields (contracts are transpiled, not type-checked)', () => {
    rejects((c) => {
      const x = c as unknown as Record<string, unknown>;
      x.partitonBy = x.partitionBy;
      delete x.partitionBy;
    }, /contract: unknown field 'partitonBy'; did you mean 'partitionBy'\?[\s\S]*the field 'partitionBy' is missing/);
    rejects((c) => ((c.typed[0] as unknown as Record<string, unknown>).onInvalide = 'warn'), /typed column 'invoice_no': unknown field 'onInvalide'; did you mean 'onInvalid'\?/);
    const named = { ...retail(), name: 'Retail' };
    expect(() => validateContract(named)).toThrow(/contract 'Retail': name 'Retail' must be lower snake_case/);
  });

  it('reports every problem at once', () => {
    const c = retail();
    c.bronzePrefix = 'x';
    c.rangeColumn = 'nope';
    expect(() => validateContract(c)).toThrow(/contract 'retail' has 2 problems:\n {2}- bronzePrefix[\s\S]*\n {2}- rangeColumn 'nope'/);
  });
});

describe('checkContractSql: every SQL expression compiled by DuckDB, at load time', () => {
  async function sqlRejects(edit: (c: Contract) => void, expected: RegExp) {
    const c = retail();
    edit(c);
    expect(contractProblems(c)).toEqual([]);
    await expect(checkContractSql(c)).rejects.toThrow(ContractError);
    await expect(checkContractSql(c)).rejects.toThrow(expected);
  }

  it('a typo in a typed column (sees the source columns, as text)', async () => {
    await sqlRejects((c) => (c.typed[2]!.sql = 'try_cast(trim(quantty) AS INTEGER)'), /typed column 'quantity'\.sql does not compile .*quantty/);
    await sqlRejects((c) => (c.typed[2]!.sql = 'try_cast(trim(quantity) AS INTEGER'), /typed column 'quantity'\.sql does not compile/);
    await sqlRejects((c) => (c.typed[2]!.sql = 'tirm(quantity)'), /typed column 'quantity'\.sql does not compile.*tirm/);
  });

  it('a typo in an expectation (sees the typed columns)', async () => {
    await sqlRejects((c) => (c.expectations[0]!.check = 'quantiy > 0'), /expectation 'positive_quantity'\.check does not compile.*quantiy/);
    // typed columns have their types: a string compared with a list of numbers does not bind
    await sqlRejects((c) => (c.expectations[0]!.check = "invoice_date > 'yesterday' + 1"), /expectation 'positive_quantity'\.check does not compile/);
  });

  it('a typo in a derived column (sees typed and earlier derived columns only)', async () => {
    await sqlRejects((c) => (c.derived[0]!.sql = 'CAST(invoice_dat AS DATE)'), /derived column 'invoice_day'\.sql does not compile.*invoice_dat/);
    await sqlRejects((c) => (c.derived[1]!.sql = 'quantity * unit_price + line_total'), /derived column 'line_total'\.sql does not compile/);
  });

  it('{{run_started_at}} is accepted wherever SQL is', async () => {
    const c = retail();
    c.typed[3]!.sql = `coalesce(try_strptime(trim(invoice_date), '%m/%d/%Y %H:%M'), {{run_started_at}})`;
    c.expectations.push({ name: 'not_future', check: 'invoice_date <= {{run_started_at}}', action: 'warn', description: '' });
    await expect(checkContractSql(c)).resolves.toBeUndefined();
  });
});
