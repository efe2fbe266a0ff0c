import type { SourceName } from '../config';
import type { Contract } from '../contracts/contract';

/**
 * Silver for the API sources (seed 004, issue 11 point 2): one staging dataset per (source,
 * entity), `<source>_<entity>`, whose table is `stg_<source>.<entity>_raw`. Each bronze file the
 * extractors write (`<source>/scope=<scope>/entity=<entity>/ingestion_date=…/run_id=…/part-N.jsonl.gz`)
 * goes through the same pipeline as any file (blob trigger, ledger, quarantine); each of its lines
 * becomes one row: the record as JSONB, its lineage (scope, blob_path, line_no, run_id,
 * extracted_at) and its id and update time, upserted by (scope, blob_path, line_no) so a file
 * delivered again changes nothing (`dedup.mode: 'line'`, shared/db/silverLoad.ts). A line that is
 * not a JSON object, that jsonb cannot hold, or whose id is missing or not an integer is
 * quarantined with its reason (docs/ingestion.md); the rest of the file lands.
 *
 * The same record appears once per file that holds it (overlap windows, re-runs, Zendesk's
 * time-based export repeating items): staging keeps every line; the latest version of a record is
 * the row with the newest `updated_at`, then the latest (extracted_at, blob_path, line_no), which
 * the typed core layer picks.
 *
 * Where each provider puts a record's id and update time:
 *   Pipedrive API v2 (deals, persons, organizations, activities, pipelines, stages): `id`, `update_time`
 *     (RFC 3339, https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide);
 *   Pipedrive API v1 users: `id`, `modified` ('YYYY-MM-DD HH:MM:SS', UTC);
 *   Pipedrive API v1 deal, person and organization fields: `id`, `update_time` ('YYYY-MM-DD HH:MM:SS', UTC);
 *   Zendesk (every entity): `id`, `updated_at` (ISO 8601, UTC).
 * Both providers' ids are integers (Zendesk's above 2^32), held as bigint.
 */

interface StagedEntity {
  /** Key of the record's update time. */
  updated: string;
  /** How the API writes it. */
  format: string;
  /** The endpoint the records come from (shared/sources/entities.ts). */
  endpoint: string;
}

const PIPEDRIVE_V2 = (entity: string): StagedEntity => ({ updated: 'update_time', format: 'RFC 3339, UTC', endpoint: `GET /api/v2/${entity}` });
const PIPEDRIVE_V1 = (path: string, updated: string): StagedEntity => ({ updated, format: "'YYYY-MM-DD HH:MM:SS', UTC", endpoint: `GET /api/v1/${path}` });
const ZENDESK = (endpoint: string): StagedEntity => ({ updated: 'updated_at', format: 'ISO 8601, UTC', endpoint });

export const STAGED_ENTITIES: Record<SourceName, Record<string, StagedEntity>> = {
  pipedrive: {
    deals: PIPEDRIVE_V2('deals'),
    persons: PIPEDRIVE_V2('persons'),
    organizations: PIPEDRIVE_V2('organizations'),
    activities: PIPEDRIVE_V2('activities'),
    pipelines: PIPEDRIVE_V2('pipelines'),
    stages: PIPEDRIVE_V2('stages'),
    users: PIPEDRIVE_V1('users', 'modified'),
    deal_fields: PIPEDRIVE_V1('dealFields', 'update_time'),
    person_fields: PIPEDRIVE_V1('personFields', 'update_time'),
    organization_fields: PIPEDRIVE_V1('organizationFields', 'update_time'),
  },
  zendesk: {
    tickets: ZENDESK('GET /api/v2/incremental/tickets/cursor.json'),
    users: ZENDESK('GET /api/v2/incremental/users/cursor.json'),
    organizations: ZENDESK('GET /api/v2/incremental/organizations.json'),
    groups: ZENDESK('GET /api/v2/groups.json'),
    ticket_fields: ZENDESK('GET /api/v2/ticket_fields.json'),
    ticket_forms: ZENDESK('GET /api/v2/ticket_forms.json'),
  },
};

const TITLE: Record<SourceName, string> = { pipedrive: 'Pipedrive', zendesk: 'Zendesk' };

/** The staging table of a (source, entity): `stg_<source>.<entity>_raw`. */
export function stagingTable(source: SourceName, entity: string): string {
  return `stg_${source}.${entity}_raw`;
}

/** The staging dataset (contract) of a (source, entity); its folder is shared/datasets/<source>_<entity>/. */
export function stagingContract(source: SourceName, entity: string): Contract {
  const e = STAGED_ENTITIES[source]?.[entity];
  if (!e) throw new Error(`${source} has no staged entity '${entity}' (one of ${Object.keys(STAGED_ENTITIES[source] ?? {}).join(', ')})`);
  const updated = `nullif(trim(${e.updated}), '')`;
  return {
    name: `${source}_${entity}`,
    description:
      `${TITLE[source]} ${entity.replace(/_/g, ' ')} as the API returned them (${e.endpoint}): one row per line of each bronze file under ` +
      `${source}/scope=*/entity=${entity}/, the record as JSONB with its lineage, upserted by (scope, blob_path, line_no). ` +
      'A record appears once per file that holds it; its latest version has the newest updated_at, then the latest (extracted_at, blob_path, line_no).',
    bronzePrefix: `${source}/`,
    bronzePattern: `${source}/scope=*/entity=${entity}/`,
    table: stagingTable(source, entity),
    // API records beyond the usual 1 MiB line are staged whole up to 16 MiB (DuckDB holds two such
    // lines in memory per reader); a larger one is quarantined as line_too_long.
    format: { type: 'jsonl', maxLineBytes: 16 * 1024 * 1024 },
    source: [{ name: 'id', json: 'integer' }, { name: e.updated, required: false }],
    typed: [
      {
        name: 'record_id',
        type: 'bigint',
        sql: 'try_cast(trim(id) AS BIGINT)',
        from: 'id',
        description: `The record's id ($.id, a JSON integer); a line without it is quarantined as missing_record_id, one that is not a JSON integer in bigint range (a string "7", 5.0, 1e2) as invalid_record_id.`,
      },
      {
        name: 'updated_at',
        type: 'timestamp',
        // Only the providers' forms: a date, a time to the second (fraction up to microseconds),
        // then Z, a numeric offset or nothing (UTC, made explicit so the session's zone never
        // matters). Zone names (PST, CET) are refused: DuckDB would carry one into later rows.
        sql: `CASE WHEN regexp_full_match(${updated}, '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?') ` +
          `THEN CAST(try_cast(${updated} || '+00' AS TIMESTAMPTZ) AS TIMESTAMP) ` +
          `WHEN regexp_full_match(${updated}, '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)') ` +
          `THEN CAST(try_cast(${updated} AS TIMESTAMPTZ) AS TIMESTAMP) END`,
        from: e.updated,
        onInvalid: 'warn',
        // Plausible: from 1970 to a day after the file is staged. One absurd stamp (9999-12-31)
        // would otherwise be the record's latest version forever.
        bounds: { min: '1970-01-01' },
        description: `When the record last changed ($.${e.updated}, ${e.format}); NULL when the record has none, or an unreadable one (a form other than YYYY-MM-DD[T ]HH:MM:SS[.ffffff] with Z, a numeric offset or none = UTC; zone names refused) or an implausible one (before 1970, or more than a day after the file was staged: counted as the invalid_updated_at warning; such a version sorts last).`,
      },
    ],
    expectations: [],
    dedup: { mode: 'line', key: ['record_id'], orderBy: 'updated_at' },
    derived: [],
    partitionBy: [],
    rangeColumn: 'updated_at',
    // The record column keeps every key: nothing to rescue.
    unknownColumns: 'ignore',
  };
}
