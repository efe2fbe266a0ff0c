import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExtractSettings, type SourceName, sourceSettings } from '../shared/config';
import { readSmall } from '../shared/lake/lake';
import { silentLogger } from '../shared/log';
import { runHealthChecks } from '../shared/ops/health';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { checkFile, rebuildDataset } from '../shared/pipeline/datasetOps';
import type { LedgerRow } from '../shared/pipeline/ledger';
import type { Platform } from '../shared/platform';
import { extractSource } from '../shared/sources/extract';
import { seededRandom, type StandIn, startStandIn, STAND_IN_ENTITIES } from '../shared/sources/standIn';
import { freshPlatform } from './support/platform';

/**
 * Silver of the API sources (issue 11 point 2): bronze parts extracted from the stand-in API go
 * through the same pipeline as any file (ingestBronzeFile: ledger, quarantine) into
 * stg_<source>.<entity>_raw. Everything is checked against this file's own reading of bronze
 * (list, gunzip, split on line ends, JSON.parse with the numbers' source text) and its own
 * writing of what PostgreSQL jsonb prints for a JSON value.
 */

/** Where each entity's update time is, as this test reads the providers' records. */
const UPDATED: Record<SourceName, Record<string, string>> = {
  pipedrive: {
    users: 'modified',
    pipelines: 'update_time',
    stages: 'update_time',
    deal_fields: 'update_time',
    person_fields: 'update_time',
    organization_fields: 'update_time',
    organizations: 'update_time',
    persons: 'update_time',
    deals: 'update_time',
    activities: 'update_time',
  },
  zendesk: { groups: 'updated_at', ticket_fields: 'updated_at', ticket_forms: 'updated_at', organizations: 'updated_at', users: 'updated_at', tickets: 'updated_at' },
};

/** The seed's path pattern, written out here. */
const PATH = /^(pipedrive|zendesk)\/scope=([^/]+)\/entity=([a-z_]+)\/ingestion_date=\d{4}-\d{2}-\d{2}\/run_id=(\d{8}T\d{9}Z)\/[^/]+$/;

interface Line {
  path: string;
  line: number;
  text: string;
}

/** Physical lines of a text as docs/ingestion.md counts them: \r\n, \n and a lone \r each end one. */
function physicalLines(text: string): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Every line of every bronze file under `prefix`: the independent reader. */
async function readBronze(p: Platform, prefix: string): Promise<Map<string, Line[]>> {
  const out = new Map<string, Line[]>();
  for await (const f of p.lake.list('bronze', prefix)) {
    const bytes = await readSmall(await p.lake.read('bronze', f.path), 256 * 1024 * 1024);
    const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
    out.set(
      f.path,
      physicalLines(text).map((t, i) => ({ path: f.path, line: i + 1, text: t })),
    );
  }
  return out;
}

const NUMBER = Symbol('number');
type Parsed = null | boolean | string | { [NUMBER]: string } | Parsed[] | { [k: string]: Parsed };

/** JSON.parse keeping each number's source text (exact: 1500.00, ids beyond 2^53). */
function parseExact(text: string): Parsed {
  return JSON.parse(text, (_k, v, ctx?: { source?: string }) => (typeof v === 'number' ? { [NUMBER]: ctx!.source! } : v)) as Parsed;
}

/** What PostgreSQL prints for a jsonb value: keys by length then bytes, `": "` and `", "`, numbers as numeric prints them. */
function jsonbText(v: Parsed): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
  if (NUMBER in v) {
    const s = (v as { [NUMBER]: string })[NUMBER];
    // numeric prints plain decimals as written (1500.00), without the sign of a zero; no exponent is expected here.
    expect(s, 'a plain decimal').toMatch(/^-?\d+(\.\d+)?$/);
    return /^-0+(\.0+)?$/.test(s) ? s.slice(1) : s;
  }
  const keys = Object.keys(v).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((v as Record<string, Parsed>)[k]!)}`).join(', ')}}`;
}

function numberText(v: Parsed | undefined): string | undefined {
  return v !== null && typeof v === 'object' && NUMBER in v ? (v as { [NUMBER]: string })[NUMBER] : undefined;
}

/** The time a provider wrote (Pipedrive v1: 'YYYY-MM-DD HH:MM:SS', UTC). */
function providerTime(v: Parsed | undefined): number | null {
  if (typeof v !== 'string') return null;
  return Date.parse(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(v) ? `${v.replace(' ', 'T')}Z` : v);
}

/** The start of a run from its run_id, written out here. */
function runStart(runId: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{3})Z$/.exec(runId)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

interface StagedRow {
  scope: string;
  blob_path: string;
  line_no: string;
  record_id: string;
  updated_at: Date | null;
  record: string;
  run_id: string;
  extracted_at: Date;
}

async function stagedRows(p: Platform, source: SourceName, entity: string): Promise<Map<string, StagedRow>> {
  const r = await p.pool.query<StagedRow>(
    `SELECT scope, blob_path, line_no::text, record_id::text, updated_at, record::text AS record, run_id, extracted_at FROM stg_${source}.${entity}_raw`,
  );
  return new Map(r.rows.map((x) => [`${x.blob_path}#${x.line_no}`, x]));
}

/** Row count and a checksum over every column of every staging table, and the quarantine counts. */
/** Every core table's data (its lineage columns left out: which file a version was read from). */
async function coreData(p: Platform): Promise<Record<string, string>> {
  const tables = await p.pool.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'core' ORDER BY 1`);
  const out: Record<string, string> = {};
  for (const { t } of tables.rows) {
    const data = `(to_jsonb(x) - 'extracted_at' - 'source_blob_path' - 'source_line_no')::text`;
    const r = await p.pool.query(`SELECT count(*)::text AS n, md5(coalesce(string_agg(${data}, E'\\n' ORDER BY ${data}), '')) AS sum FROM core."${t}" x`);
    out[t] = `${r.rows[0].n} rows, ${r.rows[0].sum}`;
  }
  return out;
}

async function stagingState(p: Platform): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const source of ['pipedrive', 'zendesk'] as const) {
    for (const entity of STAND_IN_ENTITIES[source]) {
      const t = `stg_${source}.${entity}_raw`;
      const r = await p.pool.query(
        `SELECT count(*)::text AS n, md5(coalesce(string_agg(concat_ws('|', scope, blob_path, line_no, record_id, updated_at, record::text, run_id, extracted_at, ingestion_run_id, ingested_at), E'\\n' ORDER BY scope, blob_path, line_no), '')) AS sum FROM ${t}`,
      );
      const q = await p.pool.query(`SELECT count(*)::text AS n FROM ${t}_quarantine`);
      out[t] = `${r.rows[0].n} rows, ${r.rows[0].sum}, ${q.rows[0].n} quarantined`;
    }
  }
  return out;
}

function virtualClock(start = Date.UTC(2025, 5, 2, 12, 0, 0, 250)) {
  const c = { t: start, now: () => c.t, sleep: async (ms: number) => void (c.t += ms), advance: (ms: number) => void (c.t += ms) };
  return c;
}

const SETTINGS: ExtractSettings = { overlapMinutes: 10, partMaxBytes: 16 * 1024, maxWaitSeconds: 600 };
const COUNTS = {
  // For the fields lists: the number of custom fields (their standard fields come on top).
  pipedrive: { users: 12, pipelines: 3, stages: 15, deal_fields: 5, person_fields: 4, organization_fields: 4, organizations: 120, persons: 250, deals: 400, activities: 300 },
  zendesk: { groups: 8, ticket_fields: 12, ticket_forms: 4, organizations: 80, users: 250, tickets: 400 },
};

describe('staging of the API sources: stand-in API → bronze → stg_<source>.<entity>_raw (real Azurite + PostgreSQL)', () => {
  let platform: Platform;
  let standIn: StandIn;
  let work: string;
  const clock = virtualClock();
  /** Ledger rows of the parts, by path. */
  const ledger = new Map<string, LedgerRow>();

  async function extract(source: SourceName): Promise<void> {
    const deps = { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: clock.now, sleep: clock.sleep, random: seededRandom(5) };
    const report = await extractSource(deps, sourceSettings(source, standIn.env())!, SETTINGS);
    expect(report.status, JSON.stringify(report.entities.filter((e) => e.status !== 'succeeded'))).toBe('succeeded');
  }

  /** Ingests every bronze file of the sources not ingested yet, in path order. */
  async function ingestNew(): Promise<string[]> {
    const paths: string[] = [];
    for (const prefix of ['pipedrive/', 'zendesk/']) for await (const f of platform.lake.list('bronze', prefix)) if (!ledger.has(f.path)) paths.push(f.path);
    paths.sort();
    for (const p of paths) {
      const r = await ingestBronzeFile(platform, p);
      expect(r.outcome, `${p}: ${r.message}`).toBe('succeeded');
      ledger.set(p, r.ledger!);
    }
    return paths;
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'staging-'));
    ({ platform } = await freshPlatform());
    standIn = await startStandIn({ seed: 21, now: clock.now, counts: COUNTS });
    // A full extraction, then changes (updates, inserts, deletions) and an incremental one: the
    // overlap window puts some records in files of both runs.
    await extract('pipedrive');
    await extract('zendesk');
    expect((await ingestNew()).length).toBeGreaterThan(20);
    for (let i = 0; i < 15; i++) standIn.store.update('pipedrive', 'deals');
    for (let i = 0; i < 5; i++) standIn.store.insert('pipedrive', 'persons');
    for (let i = 0; i < 3; i++) standIn.store.remove('pipedrive', 'deals');
    for (let i = 0; i < 15; i++) standIn.store.update('zendesk', 'tickets');
    standIn.store.remove('zendesk', 'tickets');
    standIn.store.insert('zendesk', 'users');
    clock.advance(5 * 60_000);
    await extract('pipedrive');
    await extract('zendesk');
    expect((await ingestNew()).length).toBeGreaterThan(5);
  });

  afterAll(async () => {
    await standIn?.close();
    await platform?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('every bronze line is staged: same id, same JSON value (numbers exact), its lineage; the ledger of every file adds up', async () => {
    let lines = 0;
    for (const source of ['pipedrive', 'zendesk'] as const) {
      for (const entity of STAND_IN_ENTITIES[source]) {
        const bronze = await readBronze(platform, `${source}/scope=acme/entity=${entity}/`);
        const staged = await stagedRows(platform, source, entity);
        let n = 0;
        for (const [file, fileLines] of bronze) {
          const m = PATH.exec(file);
          expect(m, file).not.toBeNull();
          const l = ledger.get(file)!;
          expect(l.dataset).toBe(`${source}_${entity}`);
          // No file of a staging dataset is a re-delivery of another: each stages its own lines.
          expect(l.redelivery_of, file).toBeNull();
          for (const l of fileLines) {
            const row = staged.get(`${file}#${l.line}`);
            expect(row, `${file} line ${l.line} is not staged`).toBeDefined();
            const record = parseExact(l.text) as Record<string, Parsed>;
            expect(row!.record_id, `${file}:${l.line}`).toBe(numberText(record.id));
            expect(row!.record, `${file}:${l.line}`).toBe(jsonbText(record));
            expect(row!.updated_at?.getTime() ?? null, `${file}:${l.line}`).toBe(providerTime(record[UPDATED[source][entity]!]));
            expect(row!.scope).toBe('acme');
            expect(row!.run_id).toBe(m![4]);
            expect(row!.extracted_at.getTime()).toBe(runStart(m![4]!));
            n++;
          }
          // Ledger: every line read is staged (nothing to quarantine or deduplicate in the API's own records).
          expect({ read: l.rows_read, staged: l.rows_silver, quarantined: l.rows_quarantined, dup: (l.duplicates_in_file ?? 0) + (l.duplicates_cross_file ?? 0) }, file).toEqual({
            read: fileLines.length,
            staged: fileLines.length,
            quarantined: 0,
            dup: 0,
          });
        }
        expect(staged.size, `stg_${source}.${entity}_raw holds exactly the bronze lines`).toBe(n);
        lines += n;
        // The stand-in's current state is among the staged records (the latest version of each id).
        const have = new Set([...staged.values()].map((r) => r.record));
        // (records() keeps the API's number text, e.g. 1500.00, that state()'s plain JSON values round.)
        const missing = standIn.store.records(source, entity).filter((r) => !have.has(jsonbText(parseExact(JSON.stringify(r.data)))));
        expect(missing.map((r) => r.id), `${source}/${entity}: current records not staged`).toEqual([]);
      }
    }
    expect(lines).toBeGreaterThan(1800);
    // The fields lists are staged one row per field (numeric id, the 'YYYY-MM-DD HH:MM:SS' update time read as
    // UTC above) and name every key of the records' custom_fields: each key of a staged deal, person or
    // organization is the key of a staged custom field (edit_flag) of its list, and an enum value is one of that field's option ids.
    for (const [fields, records] of [
      ['deal_fields', 'deals'],
      ['person_fields', 'persons'],
      ['organization_fields', 'organizations'],
    ] as const) {
      const unnamed = await platform.pool.query(
        `SELECT DISTINCT k.key FROM stg_pipedrive.${records}_raw r, jsonb_object_keys(r.record->'custom_fields') AS k(key)
         WHERE NOT EXISTS (SELECT 1 FROM stg_pipedrive.${fields}_raw f WHERE f.record->>'key' = k.key AND (f.record->'edit_flag')::boolean)`,
      );
      expect(unnamed.rows, `${records}: custom field keys without a ${fields} row`).toEqual([]);
      const badEnum = await platform.pool.query(
        `SELECT r.record_id, f.record->>'name' AS field, r.record->'custom_fields'->(f.record->>'key') AS value
         FROM stg_pipedrive.${records}_raw r JOIN stg_pipedrive.${fields}_raw f ON r.record->'custom_fields' ? (f.record->>'key')
         WHERE f.record->>'field_type' = 'enum' AND jsonb_typeof(r.record->'custom_fields'->(f.record->>'key')) <> 'null'
           AND NOT (f.record->'options') @> jsonb_build_array(jsonb_build_object('id', r.record->'custom_fields'->(f.record->>'key')))`,
      );
      expect(badEnum.rows, `${records}: enum values that are not an option id of their field`).toEqual([]);
      const named = await platform.pool.query(
        `SELECT count(DISTINCT f.record->>'name')::int AS n FROM stg_pipedrive.${records}_raw r, jsonb_object_keys(r.record->'custom_fields') AS k(key)
         JOIN stg_pipedrive.${fields}_raw f ON f.record->>'key' = k.key`,
      );
      expect(named.rows[0].n, `${records}: custom fields named`).toBe(standIn.store.records('pipedrive', fields).filter((f) => f.data.edit_flag === true).length);
    }
    // The join docs/sources.md shows: one named value per custom field key of each staged deal.
    const joined = await platform.pool.query(
      `SELECT d.record_id AS deal_id, f.record->>'name' AS field, d.record->'custom_fields'->(f.record->>'key') AS value
       FROM stg_pipedrive.deals_raw d
       JOIN LATERAL (SELECT DISTINCT ON (record_id) record FROM stg_pipedrive.deal_fields_raw WHERE scope = d.scope
                     ORDER BY record_id, updated_at DESC, extracted_at DESC, blob_path DESC, line_no DESC) f
         ON d.record->'custom_fields' ? (f.record->>'key')`,
    );
    const keys = await platform.pool.query(`SELECT count(*)::int AS n FROM stg_pipedrive.deals_raw d, jsonb_object_keys(d.record->'custom_fields')`);
    expect(joined.rows.length).toBe(keys.rows[0].n);
    expect(new Set(joined.rows.map((r) => r.field))).toEqual(new Set(standIn.store.state('pipedrive', 'deal_fields').filter((f) => f.edit_flag).map((f) => f.name)));
    // Exactness where JSON.parse would round: deal values as written, ticket custom field ids beyond 2^53.
    const deals = await platform.pool.query(`SELECT record->>'value' AS v FROM stg_pipedrive.deals_raw`);
    expect(deals.rows.every((r) => /^\d+\.\d\d$/.test(r.v))).toBe(true);
    const tickets = await platform.pool.query(`SELECT record_id::numeric AS id, record->'custom_fields'->0->>'value' AS v FROM stg_zendesk.tickets_raw`);
    for (const r of tickets.rows) expect(BigInt(r.v)).toBe(9_007_199_254_740_993n + BigInt(r.id));
    // The same record in files of both runs (the overlap window) is staged once per file.
    const repeated = await platform.pool.query(`SELECT count(*)::int AS n FROM (SELECT record_id FROM stg_pipedrive.deals_raw GROUP BY record_id HAVING count(DISTINCT run_id) > 1) d`);
    expect(repeated.rows[0].n).toBeGreaterThan(0);
    // Every succeeded run of these datasets satisfies the ledger's invariant (also enforced by a CHECK).
    const runs = await platform.pool.query(`SELECT path, status, rows_read, rows_silver, rows_quarantined, duplicates_in_file, duplicates_cross_file FROM ops.file_runs WHERE dataset ~ '^(pipedrive|zendesk)_'`);
    expect(runs.rows.length).toBe(ledger.size);
    for (const r of runs.rows) {
      expect(r.status, r.path).toBe('succeeded');
      expect(Number(r.rows_read)).toBe(Number(r.rows_silver) + Number(r.rows_quarantined) + Number(r.duplicates_in_file) + Number(r.duplicates_cross_file));
    }
  });

  it('re-delivery changes nothing in staging (the same part again, a new version of the same bytes); a copy under another name stages its own lines, and core does not change', async () => {
    const before = await stagingState(platform);
    const coreBefore = await coreData(platform);
    const part = [...ledger.keys()].find((p) => p.includes('entity=deals/'))!;
    const bytes = await readSmall(await platform.lake.read('bronze', part), 64 * 1024 * 1024);
    const lines = physicalLines(gunzipSync(bytes).toString('utf8')).length;

    // The same version again (Event Grid delivers at least once).
    const again = await ingestBronzeFile(platform, part);
    expect(again.outcome).toBe('skipped');

    // A new version of the same path with the same bytes: every line a duplicate, nothing written.
    await platform.lake.write('bronze', part, Readable.from([bytes]));
    const same = await ingestBronzeFile(platform, part);
    expect({ read: same.ledger!.rows_read, staged: same.ledger!.rows_silver, dup: same.ledger!.duplicates_cross_file }).toEqual({ read: lines, staged: 0, dup: lines });
    expect(await stagingState(platform)).toEqual(before);

    // A copy in the same run folder, an uncompressed copy: each is a file of its own, its lines staged at its path.
    const copy = part.replace(/part-(\d+)\.jsonl\.gz$/, 'part-$1-copy.jsonl.gz');
    await platform.lake.write('bronze', copy, Readable.from([bytes]));
    const plain = part.replace(/\.gz$/, '');
    await platform.lake.write('bronze', plain, Readable.from([gunzipSync(bytes)]));
    for (const p of [copy, plain]) {
      const r = await ingestBronzeFile(platform, p);
      expect(r.outcome, `${p}: ${r.message}`).toBe('succeeded');
      expect(r.ledger!.redelivery_of, p).toBeNull();
      expect({ read: r.ledger!.rows_read, staged: r.ledger!.rows_silver, quarantined: r.ledger!.rows_quarantined }).toEqual({ read: lines, staged: lines, quarantined: 0 });
      ledger.set(p, r.ledger!);
    }
    // The records are the same versions: core's data does not move.
    expect(await coreData(platform)).toEqual(coreBefore);

    // A dataset rebuild replays its files (only its entity's, though pipedrive/ holds ten) into the same rows.
    const content = async () =>
      (
        await platform.pool.query(
          `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', scope, blob_path, line_no, record_id, updated_at, record::text, run_id, extracted_at), E'\\n' ORDER BY scope, blob_path, line_no)) AS sum FROM stg_pipedrive.stages_raw`,
        )
      ).rows[0];
    const stagesBefore = await content();
    const rebuilt = await rebuildDataset(platform, platform.contracts.get('pipedrive_stages')!);
    expect(rebuilt.files.length).toBe([...ledger.keys()].filter((p) => p.includes('entity=stages/')).length);
    expect(rebuilt.files.every((f) => f.outcome === 'succeeded')).toBe(true);
    expect(await content()).toEqual(stagesBefore);
  });

  it('hostile lines are quarantined one by one with their reasons; the other lines of the file land', async () => {
    // A record over 1 MiB is staged whole; one over 16 MiB (the staging datasets' limit) is refused as line_too_long.
    const big = `{"id":900002,"pad":"${'x'.repeat(1024 * 1024 + 10)}"}`;
    const huge = `{"id":900021,"pad":"${'x'.repeat(16 * 1024 * 1024 + 10)}"}`;
    // [line text, expected reason (undefined: staged), line ending]
    const cases: [string | Buffer, string | undefined, string?][] = [
      ['{"id":900001,"update_time":"2025-06-01T10:00:00Z","title":"ok","value":1500.00}', undefined],
      ['not json at all', 'malformed_row'],
      ['{"update_time":"2025-06-01T10:00:00Z","title":"no id"}', 'missing_record_id'],
      ['[{"id":900003}]', 'malformed_row'],
      [big, undefined],
      [Buffer.concat([Buffer.from('{"id":900004,"t":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 'invalid_utf8'],
      ['{"id":900005,"update_time":"2025-06-01T10:00:00Z","title":"CRLF"}', undefined, '\r\n'],
      ['{"id":null,"title":"null id"}', 'missing_record_id'],
      ['{"id":"abc"}', 'invalid_record_id'],
      ['{"id":1.5}', 'invalid_record_id'],
      ['{"id":12345678901234567890}', 'invalid_record_id'],
      ['{"id":900006,"s":"\\u0000"}', 'unsupported_json'],
      ['{"id":900007,"s":"\\ud800"}', 'unsupported_json'],
      ['{"id":900008,"n":1e999999}', 'unsupported_json'],
      [`{"id":900009,"deep":${'['.repeat(1001)}${']'.repeat(1001)}}`, 'unsupported_json'],
      ['{"id":900010,"id":900011}', 'unsupported_json'],
      ['{"id":900012,}', 'malformed_row'],
      ['{"id":900013,"n":NaN}', 'malformed_row'],
      [Buffer.from('{"id":900014,"t":"a\u0000b"}'), 'nul_byte'],
      ['   ', undefined], // blank: not a row
      ['{"id":900015,"update_time":"not a time"}', undefined],
      ['"just a string"', 'malformed_row'],
      ['{"id":900016,"title":"CR only"}', undefined, '\r'],
      ['{"id":900017,"big":123456789012345678901234567890.000, "tab":"a\\tb"}  ', undefined],
      ['{"id": 900018 , "nested": {"b": 1, "a": [1, {"z": null, "y": true}]}}', undefined],
      // Strict: only a JSON integer is an id (no conversion between JSON types).
      ['{"id":"900019"}', 'invalid_record_id'],
      ['{"id":5.0}', 'invalid_record_id'],
      ['{"id":1e2}', 'invalid_record_id'],
      ['{"id":true}', 'invalid_record_id'],
      ['{"id":{"v":1}}', 'invalid_record_id'],
      ['{"id":-900020,"update_time":"9999-12-31T00:00:00Z"}', undefined], // an implausible update time: kept, warned, NULL
      [huge, 'line_too_long'],
      // A zone name is refused (warned, NULL), and never changes how a later line's time is read.
      ['{"id":900022,"update_time":"2025-01-01 00:00:00 PST"}', undefined],
      ['{"id":900023,"update_time":"2025-06-01 10:00:00"}', undefined],
      ['{"id":900024,"update_time":"2025-06-01T10:00:00.1234567Z"}', undefined],
    ];
    const body = Buffer.concat(cases.map(([t, , end]) => Buffer.concat([Buffer.isBuffer(t) ? t : Buffer.from(t), Buffer.from(end ?? '\n')])));
    const file = 'pipedrive/scope=acme/entity=deals/ingestion_date=2025-06-03/run_id=20250603T000000000Z/part-00000.jsonl.gz';
    await platform.lake.write('bronze', file, Readable.from([gzipSync(body)]));
    const before = await stagedRows(platform, 'pipedrive', 'deals');
    const r = await ingestBronzeFile(platform, file);
    expect(r.outcome, r.message).toBe('succeeded');

    // The reader: physical lines (CRLF, LF and CR each end one), blanks are not rows.
    const physical = physicalLines(body.toString('latin1'));
    expect(physical.length).toBe(cases.length);
    const rows = cases.map(([t, reason], i) => ({ line: i + 1, text: t, reason })).filter((c) => !(typeof c.text === 'string' && c.text.trim() === ''));
    const good = rows.filter((c) => c.reason === undefined);
    const bad = rows.filter((c) => c.reason !== undefined);
    const l = r.ledger!;
    expect({ read: l.rows_read, staged: l.rows_silver, quarantined: l.rows_quarantined, dup: (l.duplicates_in_file ?? 0) + (l.duplicates_cross_file ?? 0), blank: l.blank_lines }).toEqual({
      read: rows.length,
      staged: good.length,
      quarantined: bad.length,
      dup: 0,
      blank: 1,
    });
    const reasons: Record<string, number> = {};
    for (const b of bad) reasons[b.reason!] = (reasons[b.reason!] ?? 0) + 1;
    expect(l.quarantine_reasons).toEqual(reasons);
    expect(l.warnings).toMatchObject({ invalid_updated_at: 4 });

    const q = await platform.pool.query(
      `SELECT source_line::int AS line, quarantine_reason, quarantine_detail, raw_line FROM stg_pipedrive.deals_raw_quarantine WHERE ingestion_run_id = $1 ORDER BY source_line`,
      [l.run_id],
    );
    expect(q.rows.map((x) => [x.line, x.quarantine_reason])).toEqual(bad.map((b) => [b.line, b.reason]));
    for (const x of q.rows) {
      const text = cases[x.line - 1]![0];
      const expected = Buffer.isBuffer(text) ? text.toString('utf8').replace(/\u0000/g, '\u2400') : text.length > 1024 * 1024 ? text.slice(0, 64 * 1024) : text;
      expect(x.raw_line, `line ${x.line}`).toBe(expected);
      expect(x.quarantine_detail, `line ${x.line}`).toBeTruthy();
    }
    expect(q.rows.find((x) => x.line === 14)!.quarantine_detail).toMatch(/numeric/);
    expect(q.rows.find((x) => x.line === 16)!.quarantine_detail).toMatch(/"id" appears twice/);
    const detail = (text: string) => q.rows.find((x) => x.raw_line === text)!.quarantine_detail as string;
    expect(detail('{"id":"900019"}')).toContain('not a JSON integer: \\"900019\\"');
    expect(detail('{"id":1e2}')).toContain('not a JSON integer: a number with a fraction or exponent');
    expect(detail('{"id":5.0}')).not.toMatch(/\b5\b/); // never shown as if it were the integer 5

    const after = await stagedRows(platform, 'pipedrive', 'deals');
    const added = [...after.values()].filter((x) => x.blob_path === file).sort((a, b) => Number(a.line_no) - Number(b.line_no));
    expect(added.map((x) => Number(x.line_no))).toEqual(good.map((g) => g.line));
    for (const row of added) {
      const text = cases[Number(row.line_no) - 1]![0] as string;
      expect(row.record).toBe(jsonbText(parseExact(text)));
      expect(row.record_id).toBe(numberText((parseExact(text) as Record<string, Parsed>).id));
    }
    expect(added.find((x) => x.record_id === '900015')!.updated_at).toBeNull();
    expect(added.find((x) => x.record_id === '-900020')!.updated_at).toBeNull();
    expect(added.find((x) => x.record_id === '900022')!.updated_at).toBeNull();
    expect(added.find((x) => x.record_id === '900023')!.updated_at?.getTime()).toBe(Date.UTC(2025, 5, 1, 10));
    expect(added.find((x) => x.record_id === '900024')!.updated_at).toBeNull();
    expect(added.find((x) => x.record_id === '900017')!.record).toContain('"big": 123456789012345678901234567890.000');
    expect(after.size).toBe(before.size + good.length);

    // The same hostile file again at its path (a new version, same bytes): nothing changes, quarantine included.
    const state = await stagingState(platform);
    await platform.lake.write('bronze', file, Readable.from([gzipSync(body)]));
    const again = await ingestBronzeFile(platform, file);
    expect({ staged: again.ledger!.rows_silver, quarantined: again.ledger!.rows_quarantined }).toEqual({ staged: 0, quarantined: bad.length });
    expect(await stagingState(platform)).toEqual(state);
  });

  it('a new version of a file at the same path replaces its lines: changed rows updated, unchanged ones counted as duplicates, vanished lines removed', async () => {
    const file = 'zendesk/scope=acme/entity=groups/ingestion_date=2025-06-03/run_id=20250603T010000000Z/part-00000.jsonl';
    const v1 = ['{"id":1,"name":"A","updated_at":"2025-06-01T00:00:00Z"}', '{"id":2,"name":"B","updated_at":"2025-06-01T00:00:00Z"}', '{"id":3,"name":"C","updated_at":"2025-06-01T00:00:00Z"}'];
    await platform.lake.write('bronze', file, Readable.from([Buffer.from(`${v1.join('\n')}\n`)]));
    const first = await ingestBronzeFile(platform, file);
    expect(first.ledger!.rows_silver).toBe(3);
    const v2 = [v1[0], '{"id":2,"name":"B2","updated_at":"2025-06-02T00:00:00Z"}'];
    await platform.lake.write('bronze', file, Readable.from([Buffer.from(`${v2.join('\n')}\n`)]));
    const second = await ingestBronzeFile(platform, file);
    expect({ read: second.ledger!.rows_read, staged: second.ledger!.rows_silver, dup: second.ledger!.duplicates_cross_file }).toEqual({ read: 2, staged: 1, dup: 1 });
    expect(second.ledger!.warnings).toMatchObject({ lines_removed: 1 });
    const rows = await platform.pool.query(`SELECT line_no::int AS line, record->>'name' AS name FROM stg_zendesk.groups_raw WHERE blob_path = $1 ORDER BY line_no`, [file]);
    expect(rows.rows).toEqual([
      { line: 1, name: 'A' },
      { line: 2, name: 'B2' },
    ]);
  });

  it('routing: each entity folder is its own dataset; a path without its run folder or of an unknown entity is refused as a whole', async () => {
    const route = (p: string) => platform.contracts.forPath(p)?.name;
    for (const source of ['pipedrive', 'zendesk'] as const) {
      for (const entity of STAND_IN_ENTITIES[source]) {
        expect(route(`${source}/scope=acme/entity=${entity}/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz`)).toBe(`${source}_${entity}`);
        expect(platform.contracts.get(`${source}_${entity}`)!.table).toBe(`stg_${source}.${entity}_raw`);
      }
    }
    expect(route('pipedrive/scope=acme/entity=deal_fields/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz')).toBe('pipedrive_deal_fields');
    expect(platform.contracts.get('pipedrive_deal_fields')!.table).toBe('stg_pipedrive.deal_fields_raw');
    expect(route('pipedrive/scope=acme/entity=leads/x/part-00000.jsonl.gz')).toBeUndefined();
    expect(route('pipedrive/entity=deals/part-00000.jsonl.gz')).toBeUndefined();

    const line = Buffer.from('{"id":1,"update_time":"2025-06-01T00:00:00Z"}\n');
    const noRun = 'pipedrive/scope=acme/entity=deals/manual/part-00000.jsonl';
    await platform.lake.write('bronze', noRun, Readable.from([line]));
    const a = await ingestBronzeFile(platform, noRun);
    expect({ outcome: a.outcome, kind: a.failureKind }).toEqual({ outcome: 'failed', kind: 'bad_file' });
    expect(a.message).toMatch(/no run_id= folder/);
    const unknown = 'zendesk/scope=acme/entity=macros/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';
    await platform.lake.write('bronze', unknown, Readable.from([gzipSync(line)]));
    const b = await ingestBronzeFile(platform, unknown);
    expect({ outcome: b.outcome, kind: b.failureKind }).toEqual({ outcome: 'failed', kind: 'bad_file' });
    expect(b.message).toBe(`no dataset owns bronze path '${unknown}': entity=macros is not a zendesk entity (one of tickets, users, organizations, groups, ticket_fields, ticket_forms; folder names are lower case)`);
    const upper = 'pipedrive/scope=acme/entity=Deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';
    const noScope = 'pipedrive/scope=/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';
    const twice = 'pipedrive/scope=acme/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/run_id=20250603T120000250Z/part-00000.jsonl.gz';
    const otherDay = 'pipedrive/scope=acme/entity=deals/ingestion_date=1999-01-01/run_id=20250602T120000250Z/part-00000.jsonl.gz';
    const upperScope = 'pipedrive/scope=ACME/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';
    const future = 'pipedrive/scope=acme/entity=deals/ingestion_date=2099-01-01/run_id=20990101T000000000Z/part-00000.jsonl.gz';
    for (const [p, why] of [
      [upper, /entity=Deals is not a pipedrive entity/],
      [noScope, /the path has no scope=<account> folder/],
      [twice, /more than one run_id= folder/],
      [otherDay, /ingestion_date=1999-01-01 is not the UTC day of run_id=20250602T120000250Z/],
      [upperScope, /scope=ACME is not an account name/],
      [future, /run_id=20990101T000000000Z is in the future/],
      ['pipedrive/scope=acme/entity=deals/run_id=20250602T120000250Z/ingestion_date=2025-06-02/part-00000.jsonl.gz', /is not an extraction part's/],
      ['pipedrive/scope=acme/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/sub/part-00000.jsonl.gz', /is not an extraction part's/],
    ] as const) {
      await platform.lake.write('bronze', p, Readable.from([gzipSync(line)]));
      const r = await ingestBronzeFile(platform, p);
      expect(r.failureKind, p).toBe('bad_file');
      expect(r.message, p).toMatch(why);
    }
  });

  it('health: the extraction freshness of each configured entity is one of the platform checks; staging datasets are not judged by files landing', async () => {
    const env = { ...standIn.env(), HEALTH_QUARANTINE_RATE: '0.5' };
    const run = await runHealthChecks(platform, { env });
    // The files of the routing test that no dataset owns are one failing result: their records reach no table.
    expect(run.results.find((r) => r.check === 'failed_files' && r.dataset === null)).toMatchObject({ status: 'fail', value: 3, target: 'bronze', message: expect.stringMatching(/^3 file\(s\) in the last 24 h belong to no dataset, e\.g\. bronze\/pipedrive\/scope=\/entity=deals\//) });
    const extract = run.results.filter((r) => r.check === 'extract_freshness');
    expect(extract.map((r) => `${r.dataset}:${r.target}`).sort()).toEqual(
      (['pipedrive', 'zendesk'] as const).flatMap((s) => STAND_IN_ENTITIES[s].map((e) => `${s}:acme/${e}`)).sort(),
    );
    // The extractions ran on a clock of June 2025: long ago, by the real clock the check reads.
    expect(extract.every((r) => r.status === 'fail' && /last complete extraction [\d.]+ days ago/.test(r.message))).toBe(true);
    const stored = await platform.pool.query(`SELECT count(*)::int AS n FROM ops.health_checks WHERE run_id = $1 AND "check" = 'extract_freshness'`, [run.runId]);
    expect(stored.rows[0].n).toBe(extract.length);
    const fresh = run.results.find((r) => r.check === 'freshness' && r.dataset === 'zendesk_tickets')!;
    expect(fresh).toMatchObject({ status: 'pass', message: expect.stringMatching(/see extract_freshness of zendesk/) });
    expect(run.results.find((r) => r.check === 'duplicate_keys' && r.target === 'stg_zendesk.tickets_raw')).toMatchObject({ status: 'pass' });
    // The count check: every entity's latest run that wrote records, all of its files ingested above
    // (every file stages its own lines): nothing missing.
    const counts = run.results.filter((r) => r.check === 'extract_count_variance');
    expect(counts.map((r) => `${r.dataset}:${r.target}`).sort()).toEqual(extract.map((r) => `${r.dataset}:${r.target}`).sort());
    for (const r of counts) expect({ target: r.target, status: r.status, value: r.value, threshold: r.threshold }).toEqual({ target: r.target, status: 'pass', value: 0, threshold: 10 });
    // Its figures, against this file's own reading: the newest deals run's lines in bronze and its rows in staging.
    const newestDeals = [...ledger.keys()].filter((p) => p.startsWith('pipedrive/scope=acme/entity=deals/')).map((p) => PATH.exec(p)![4]!).sort().at(-1)!;
    const bronzeLines = [...(await readBronze(platform, 'pipedrive/scope=acme/entity=deals/')).entries()].filter(([p]) => p.includes(`/run_id=${newestDeals}/`) && ledger.has(p)).reduce((n, [, l]) => n + l.length, 0);
    const stagedLines = (await platform.pool.query(`SELECT count(*)::int AS n FROM stg_pipedrive.deals_raw WHERE run_id = $1`, [newestDeals])).rows[0].n;
    expect(stagedLines).toBe(bronzeLines);
    expect(counts.find((r) => r.target === 'acme/deals')!.message).toMatch(new RegExp(`^run ${newestDeals} \\(succeeded, finished .* ago\\): ${bronzeLines.toLocaleString('en')} records written to bronze in \\d+ file\\(s\\), ${stagedLines.toLocaleString('en')} staged in stg_pipedrive\\.deals_raw \\+ 0 quarantined, variance 0 %$`));
    // Without the sources configured there is nothing to check.
    const off = await runHealthChecks(platform, { env: {} });
    expect(off.results.filter((r) => r.check === 'extract_freshness' || r.check === 'extract_count_variance')).toEqual([]);
  });

  it("the line check agrees with PostgreSQL's jsonb on tricky and mutated records", async () => {
    const { checkJsonLine } = await import('../shared/pipeline/jsonLine');
    const lines = [
      '{"a":1e131071}',
      '{"a":1e131072}',
      '{"a":1e-16383}',
      '{"a":1e-16384}',
      '{"a":0e1073741823}',
      '{"a":0e1073741824}',
      '{"a":"\\ud800\\udc00"}',
      '{"a":"\\udc00"}',
      '{"a":01}',
      '{"a":-0}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":"\t"}',
      '{"a":1} ',
      '{"a":1}\u00a0',
      '{"\\u0000":1}',
      `{"a":${'1'.repeat(131072)}}`,
      `{"a":${'1'.repeat(131073)}}`,
      `{"a":0.${'1'.repeat(16383)}}`,
      `{"a":0.${'1'.repeat(16384)}}`,
    ];
    const rnd = seededRandom(99);
    const base = '{"id":1,"title":"Northwind deal","value":1500.00,"custom_fields":{"k":{"value":12.5,"currency":"EUR"}},"tags":["a","b"],"x":null,"ok":true,"n":-0.25e-3}';
    const bits = ['{', '}', '[', ']', ':', ',', '"', '\\', 'u', '0', '1', 'e', 'E', '-', '+', '.', ' ', '\t', 'n', 't', 'f', '\\u0000', '\\ud800', '\\udc00', '9'];
    for (let i = 0; i < 1500; i++) {
      let s = base;
      for (let j = 0; j < 1 + Math.floor(rnd() * 3); j++) {
        const at = Math.floor(rnd() * (s.length + 1));
        const op = rnd();
        const bit = bits[Math.floor(rnd() * bits.length)]!;
        s = op < 0.4 ? s.slice(0, at) + s.slice(at + 1) : op < 0.8 ? s.slice(0, at) + bit + s.slice(at) : s.slice(0, at) + bit + s.slice(at + 1);
      }
      lines.push(s);
    }
    const verdict = await platform.pool.query<{ i: number; ok: boolean; object: boolean }>(
      `SELECT i::int, pg_input_is_valid(t, 'jsonb') AS ok, pg_input_is_valid(t, 'jsonb') AND left(ltrim(t, E' \\t\\n\\r'), 1) = '{' AS object FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i)`,
      [lines],
    );
    const differ: string[] = [];
    for (const v of verdict.rows) {
      const text = lines[v.i - 1]!;
      if (!text.trim()) continue;
      const mine = checkJsonLine(Buffer.from(text));
      // The check also refuses a key repeated at the top level, which jsonb takes (keeping the last value).
      const pgTakes = v.object && !(mine?.detail.includes('appears twice') ?? false);
      if ((mine === undefined) !== pgTakes) differ.push(`${JSON.stringify(text.slice(0, 80))}: check ${JSON.stringify(mine)}, jsonb ${v.ok}`);
    }
    expect(differ).toEqual([]);
  });
});

describe('the same bytes from two accounts are two accounts\' records', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => {
    await platform?.close();
  });

  it('a part whose bytes equal another part (another scope, another run) stages its own lines; a path replaced and restored comes back whole; nothing is lost', async () => {
    const lines = [1, 2, 3].map((id) => `{"id":${id},"title":"Deal ${id}","value":1500.00,"currency":"EUR","update_time":"2025-06-0${id} 10:00:00"}`);
    const bytes = gzipSync(`${lines.join('\n')}\n`);
    const at = (scope: string, run: string) => `pipedrive/scope=${scope}/entity=deals/ingestion_date=${run.slice(0, 4)}-${run.slice(4, 6)}-${run.slice(6, 8)}/run_id=${run}/part-00000.jsonl.gz`;
    const files = [at('acme', '20250602T120000000Z'), at('globex', '20250602T120000000Z'), at('acme', '20250603T120000000Z')];
    const reports = [];
    for (const f of files) {
      await platform.lake.write('bronze', f, Readable.from([bytes]));
      reports.push(await ingestBronzeFile(platform, f));
    }
    expect(reports.map((r) => [r.outcome, r.ledger?.rows_silver, r.ledger?.redelivery_of ?? null])).toEqual([
      ['succeeded', 3, null],
      ['succeeded', 3, null], // globex: its own records
      ['succeeded', 3, null], // acme, a later run: its own lines
    ]);
    // The first file is cut to one line, then restored: every deal is back (the copy of the later run held them meanwhile).
    await platform.lake.write('bronze', files[0]!, Readable.from([gzipSync(`${lines[0]}\n`)]));
    expect((await ingestBronzeFile(platform, files[0]!)).ledger?.warnings).toMatchObject({ lines_removed: 2 });
    const acme = async () => (await platform.pool.query(`SELECT array_agg(deal_id ORDER BY deal_id)::text AS ids FROM core.pd_deals WHERE scope = 'acme'`)).rows[0].ids;
    expect(await acme()).toBe('{1,2,3}');
    await platform.lake.write('bronze', files[0]!, Readable.from([bytes]));
    const restored = await ingestBronzeFile(platform, files[0]!);
    expect({ staged: restored.ledger?.rows_silver, redelivery: restored.ledger?.redelivery_of }).toEqual({ staged: 2, redelivery: null });
    expect(await acme()).toBe('{1,2,3}');
    const staged = await platform.pool.query(`SELECT scope, count(*)::int AS n, array_agg(record_id ORDER BY record_id) AS ids FROM stg_pipedrive.deals_raw GROUP BY scope ORDER BY scope`);
    expect(staged.rows).toEqual([
      { scope: 'acme', n: 6, ids: ['1', '1', '2', '2', '3', '3'] },
      { scope: 'globex', n: 3, ids: ['1', '2', '3'] },
    ]);
    const core = await platform.pool.query(`SELECT scope, count(*)::int AS n FROM core.pd_deals GROUP BY scope ORDER BY scope`);
    expect(core.rows).toEqual([
      { scope: 'acme', n: 3 },
      { scope: 'globex', n: 3 },
    ]);
  });

  it('dataset check of a local file for a staging dataset: its quarantined lines, and the row counts of staging and the core tables it feeds; nothing is written', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'check-'));
    try {
      const local = path.join(dir, 'deals.jsonl');
      writeFileSync(local, ['{"id":71,"title":"A","update_time":"2025-06-01T10:00:00Z"}', '{"id":"72"}', '{"id":73,"title":"C","update_time":"2025-06-01T10:00:00Z"}'].join('\n'));
      const count = async (t: string) => (await platform.pool.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n as number;
      const before = { stg: await count('stg_pipedrive.deals_raw'), core: await count('core.pd_deals') };
      const r = await checkFile(platform, platform.contracts.get('pipedrive_deals')!, local);
      expect(r.report.ledger).toMatchObject({ rows_read: 3, rows_silver: 2, rows_quarantined: 1 });
      expect(r.samples).toMatchObject([{ source_line: 2, quarantine_reason: 'invalid_record_id', raw_line: '{"id":"72"}' }]);
      const tables = Object.fromEntries(r.gold.map((g) => [g.table, g.rows]));
      expect(tables['stg_pipedrive.deals_raw']).toBe(before.stg + 2);
      expect(tables['core.pd_deals']).toBe(before.core + 2);
      expect(Object.keys(tables)).toContain('core.pd_deal_custom_fields');
      expect({ stg: await count('stg_pipedrive.deals_raw'), core: await count('core.pd_deals') }).toEqual(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
