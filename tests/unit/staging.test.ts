import { describe, expect, it } from 'vitest';
import { bronzePatternProblems, fillPattern, hiveValues, pathMatchesPattern, patternsOverlap } from '../../shared/contracts/bronzePath';
import { type Contract, ContractError, tableOf } from '../../shared/contracts/contract';
import { ContractRegistry, ownsPath } from '../../shared/contracts/registry';
import { contractProblems, contractSqlProblems } from '../../shared/contracts/validate';
import customers from '../../shared/datasets/customers/contract';
import ecommerce from '../../shared/datasets/ecommerce_events/contract';
import pipedriveDeals from '../../shared/datasets/pipedrive_deals/contract';
import { checkJsonLine, MAX_JSON_DEPTH } from '../../shared/pipeline/jsonLine';
import { BadFileError } from '../../shared/pipeline/failures';
import { bronzePathFor, extractLineage } from '../../shared/pipeline/stagingPath';
import { ENTITIES } from '../../shared/sources/entities';
import { STAGED_ENTITIES, stagingContract } from '../../shared/sources/staging';
import { StandInStore, STAND_IN_ENTITIES } from '../../shared/sources/standIn/store';

const DEALS = 'pipedrive/scope=acme/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';

describe('bronze patterns: several datasets under one folder', () => {
  it('matches folder segments one for one: literal, *, name=*', () => {
    const p = 'pipedrive/scope=*/entity=deals/';
    expect(pathMatchesPattern(p, DEALS)).toBe(true);
    expect(pathMatchesPattern(p, 'pipedrive/scope=acme/entity=deals/part.jsonl')).toBe(true);
    expect(pathMatchesPattern(p, 'pipedrive/scope=acme/entity=dealsx/a/part.jsonl')).toBe(false);
    expect(pathMatchesPattern(p, 'pipedrive/scope=/entity=deals/a/part.jsonl')).toBe(false);
    expect(pathMatchesPattern(p, 'pipedrive/acme/entity=deals/a/part.jsonl')).toBe(false);
    // the file name is never a folder
    expect(pathMatchesPattern(p, 'pipedrive/scope=acme/entity=deals')).toBe(false);
    expect(pathMatchesPattern('x/*/y/', 'x/anything/y/f.csv')).toBe(true);
  });

  it('validates the shape and that the pattern starts with the prefix', () => {
    expect(bronzePatternProblems('pipedrive/scope=*/entity=deals/', 'pipedrive/')).toEqual([]);
    expect(bronzePatternProblems('pipedrive/scope=*/entity=deals', 'pipedrive/').join()).toMatch(/ending in '\/'/);
    expect(bronzePatternProblems('pipedrive/sc*pe/entity=deals/', 'pipedrive/').join()).toMatch(/a wildcard is a whole segment/);
    expect(bronzePatternProblems('zendesk/scope=*/', 'pipedrive/').join()).toMatch(/must start with the bronzePrefix 'pipedrive\/'/);
    expect(bronzePatternProblems('pipedrive/../x/', 'pipedrive/').join()).toMatch(/not a folder/);
    expect(bronzePatternProblems(42, 'pipedrive/').join()).toMatch(/must be text/);
  });

  it('overlap: two patterns overlap when some path could match both (prefixes as before)', () => {
    expect(patternsOverlap('pipedrive/scope=*/entity=deals/', 'pipedrive/scope=*/entity=persons/')).toBe(false);
    expect(patternsOverlap('pipedrive/scope=*/entity=deals/', 'pipedrive/scope=acme/')).toBe(true);
    expect(patternsOverlap('pipedrive/scope=*/entity=deals/', 'pipedrive/*/entity=deals/')).toBe(true);
    expect(patternsOverlap('pipedrive/scope=*/entity=deals/', 'pipedrive/')).toBe(true);
    expect(patternsOverlap('pipedrive/scope=*/', 'pipedrive/region=*/')).toBe(false);
    expect(patternsOverlap('crm/', 'crm/accounts/')).toBe(true);
    expect(patternsOverlap('crm/accounts/', 'crm/products/')).toBe(false);
    expect(patternsOverlap('ecommerce/', 'ecommerce_events/')).toBe(false);
  });

  it('the registry routes each entity folder to its dataset and refuses overlapping or shared tables', () => {
    const persons = stagingContract('pipedrive', 'persons');
    const registry = new ContractRegistry([ecommerce, customers, pipedriveDeals, persons]);
    expect(registry.forPath(DEALS)?.name).toBe('pipedrive_deals');
    expect(registry.forPath(DEALS.replace('entity=deals', 'entity=persons'))?.name).toBe('pipedrive_persons');
    expect(registry.forPath(DEALS.replace('entity=deals', 'entity=leads'))).toBeUndefined();
    expect(registry.forPath('ecommerce_events/a.csv')?.name).toBe('ecommerce_events');
    expect(registry.describePrefixes()).toContain("'pipedrive/scope=*/entity=deals/' (pipedrive_deals)");
    expect(ownsPath(pipedriveDeals, DEALS)).toBe(true);
    expect(() => new ContractRegistry([pipedriveDeals, { ...persons, bronzePattern: 'pipedrive/scope=*/' }])).toThrow(/overlap/);
    expect(() => new ContractRegistry([pipedriveDeals, { ...persons, bronzePattern: undefined }])).toThrow(/overlap/);
    expect(() => new ContractRegistry([pipedriveDeals, { ...persons, table: 'stg_pipedrive.deals_raw' }])).toThrow(/both land in stg_pipedrive\.deals_raw/);
  });

  it('a broken staging contract refuses its own files as bad_contract (found by <source>_<entity>)', () => {
    const registry = new ContractRegistry([ecommerce], new Map([['pipedrive_deals', 'dataset pipedrive_deals is not loaded: …']]));
    expect(registry.brokenFor(DEALS)).toMatch(/pipedrive_deals is not loaded/);
    expect(registry.brokenFor(DEALS.replace('entity=deals', 'entity=persons'))).toBeUndefined();
  });

  it('the lineage a staging file’s path carries; local files get a path of their own', () => {
    expect(hiveValues(DEALS)).toEqual({ scope: 'acme', entity: 'deals', ingestion_date: '2025-06-02', run_id: '20250602T120000250Z' });
    expect(extractLineage(DEALS)).toEqual({ scope: 'acme', runId: '20250602T120000250Z', extractedAt: new Date('2025-06-02T12:00:00.250Z') });
    expect(() => extractLineage('pipedrive/scope=acme/entity=deals/part.jsonl')).toThrow(BadFileError);
    expect(() => extractLineage('pipedrive/scope=acme/entity=deals/run_id=yesterday/part.jsonl')).toThrow(/not an extraction run id/);
    expect(() => extractLineage('pipedrive/scope=acme/entity=deals/run_id=20251302T120000250Z/part.jsonl')).toThrow(/not a valid time/);
    expect(() => extractLineage('pipedrive/entity=deals/run_id=20250602T120000250Z/part.jsonl')).toThrow(/no scope= folder/);
    expect(fillPattern('pipedrive/scope=*/entity=deals/', 'local')).toBe('pipedrive/scope=local/entity=deals/');
    const local = bronzePathFor(pipedriveDeals, 'export.jsonl', Date.UTC(2025, 5, 3, 4, 5, 6, 7));
    expect(local).toBe('pipedrive/scope=local/entity=deals/ingestion_date=2025-06-03/run_id=20250603T040506007Z/export.jsonl');
    expect(ownsPath(pipedriveDeals, local)).toBe(true);
    expect(extractLineage(local).scope).toBe('local');
    expect(bronzePathFor(ecommerce, 'a.csv')).toBe('ecommerce_events/a.csv');
  });
});

describe('staging contracts (dedup.mode line, table)', () => {
  it('one per extracted entity, each valid (shape and SQL), landing in stg_<source>.<entity>_raw', async () => {
    for (const source of ['pipedrive', 'zendesk'] as const) {
      expect(Object.keys(STAGED_ENTITIES[source]).sort()).toEqual(ENTITIES[source].map((e) => e.name).sort());
      for (const entity of Object.keys(STAGED_ENTITIES[source])) {
        const c = stagingContract(source, entity);
        expect(contractProblems(c)).toEqual([]);
        expect(await contractSqlProblems(c)).toEqual([]);
        expect(tableOf(c)).toEqual({ schema: `stg_${source}`, name: `${entity}_raw` });
      }
    }
    expect(tableOf(ecommerce)).toEqual({ schema: 'silver', name: 'ecommerce_events' });
  });

  it("every record the stand-in serves has the id and update time the contract reads", () => {
    const store = new StandInStore({ seed: 3, now: () => Date.UTC(2025, 5, 2), counts: { pipedrive: { deals: 5, persons: 5, organizations: 5, activities: 5 }, zendesk: { tickets: 5, users: 5, organizations: 5 } } });
    for (const source of ['pipedrive', 'zendesk'] as const) {
      for (const entity of STAND_IN_ENTITIES[source]) {
        const updated = STAGED_ENTITIES[source][entity]!.updated;
        for (const r of store.records(source, entity)) {
          expect(Number.isInteger(r.data.id), `${source}/${entity}`).toBe(true);
          expect(Number.isNaN(Date.parse(String(r.data[updated]).replace(' ', 'T'))), `${source}/${entity}.${updated}`).toBe(false);
        }
      }
    }
  });

  it('validation: table and line mode', () => {
    const base = stagingContract('zendesk', 'groups');
    const problems = (edit: (c: Contract) => void) => {
      const c = structuredClone(base);
      edit(c);
      return contractProblems(c).join('\n');
    };
    expect(problems(() => undefined)).toBe('');
    expect(problems((c) => (c.table = 'stg_zendesk'))).toMatch(/must be 'schema\.table'/);
    expect(problems((c) => (c.table = 'gold.groups_raw'))).toMatch(/schema 'gold' is not one rows may land in/);
    expect(problems((c) => (c.table = `stg_zendesk.${'x'.repeat(60)}`))).toMatch(/too long for its quarantine table/);
    expect(problems((c) => (c.format = { type: 'csv' }))).toMatch(/format must be \{ type: 'jsonl' \}/);
    expect(problems((c) => c.typed.push({ name: 'record', type: 'string', sql: 'id', description: '' }))).toMatch(/'record' is a column the platform adds to every staging/);
    expect(problems((c) => (c.dedup = { mode: 'line', key: ['record_id'], orderBy: 'nope' }))).toMatch(/dedup orderBy 'nope' is not a silver column/);
    expect(problems((c) => (c.dedup = { mode: 'line', key: ['record_id'], orderBy: 'updated_at', idColumn: 'x' } as unknown as Contract['dedup']))).toMatch(/dedup: unknown field 'idColumn'/);
    expect(problems((c) => (c.bronzePattern = 'zendesk/scope=*/entity=groups'))).toMatch(/ending in '\/'/);
    // A table of its own only for staging datasets (gold reads the others as silver.<name>).
    expect(contractProblems({ ...ecommerce, table: 'silver.events' }).join()).toMatch(/only dedup.mode 'line' \(staging\) datasets name their table/);
    expect(() => new ContractRegistry([{ ...base, dedup: { mode: 'lines' } as unknown as Contract['dedup'] }])).toThrow(ContractError);
  });
});

describe('the line check of staging records (what PostgreSQL jsonb can hold)', () => {
  const check = (s: string | Buffer) => checkJsonLine(Buffer.isBuffer(s) ? s : Buffer.from(s));
  it.each([
    ['{"id":1}'],
    ['  {"id": 1, "a": [1, 2.50, -0, 1e5, 1E+2, true, false, null, "é😀", "\\u00e9\\ud83d\\ude00\\/"]}\t'],
    ['{"":{},"a":[],"b":{"c":[{}]}}'],
    [`{"a":${'1'.repeat(131072)}}`],
    [`{"a":0.${'1'.repeat(16383)}}`],
    ['{"a":0e1073741823}'],
    [`{"d":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`],
    ['{"a":{"k":1,"k":2}}'], // a repeated nested key: jsonb keeps the last value
  ])('stages %#', (line) => {
    expect(check(line)).toBeUndefined();
  });
  it.each([
    ['not json', 'malformed_row', /not JSON: an unexpected character/],
    ['[1,2]', 'malformed_row', /not an object \(an array\)/],
    ['"x"', 'malformed_row', /not an object \(a string\)/],
    ['{"a":1,}', 'malformed_row', /a ',' before '}'/],
    ['{"a":NaN}', 'malformed_row', /not JSON/],
    ['{"a":01}', 'malformed_row', /expected ','/],
    ['{"a":1.}', 'malformed_row', /no digit after the decimal point/],
    ['{"a":"\t"}', 'malformed_row', /control character \(U\+0009\)/],
    ['{"a":"\\x"}', 'malformed_row', /invalid escape/],
    ['{"a":"\\u12"}', 'malformed_row', /four hex digits/],
    ['{"a":1', 'malformed_row', /ends inside an object/],
    ['{"a":1} x', 'malformed_row', /text after the end/],
    ['{"a":1}\u00a0', 'malformed_row', /text after the end/],
    ['{"a":"\\u0000"}', 'unsupported_json', /\\u0000/],
    ['{"\\u0000":1}', 'unsupported_json', /\\u0000/],
    ['{"a":"\\ud800"}', 'unsupported_json', /unpaired surrogate/],
    ['{"a":"\\udc00\\ud800"}', 'unsupported_json', /unpaired surrogate/],
    ['{"a":1e131072}', 'unsupported_json', /more than 131072 digits before/],
    ['{"a":1e-16384}', 'unsupported_json', /more than 16383 digits after/],
    ['{"a":0e1073741824}', 'unsupported_json', /outside PostgreSQL numeric's range/],
    [`{"d":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`, 'unsupported_json', /nested more than 1000 deep/],
    ['{"id":1,"\\u0069d":2}', 'unsupported_json', /"id" appears twice at the top level/],
  ])('refuses %j as %s', (line, reason, detail) => {
    const p = check(line);
    expect(p?.reason).toBe(reason);
    expect(p?.detail).toMatch(detail);
  });
});
