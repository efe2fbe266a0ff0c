import { fillPattern, hiveValues } from '../contracts/bronzePath';
import type { Contract } from '../contracts/contract';
import type { ExtractLineage } from '../engine/compile';
import { type SourceName, SOURCE_NAMES } from '../config';
import { runIdFor, runIdTime } from '../sources/bronze';
import { STAGED_ENTITIES } from '../sources/staging';
import { BadFileError } from './failures';

/** The extractors' run ids: the UTC start of the run, YYYYMMDDTHHMMSSmmmZ (shared/sources/bronze.ts runIdFor). */
const RUN_ID = /^\d{8}T\d{9}Z$/;

/**
 * What the bronze path of a staging (`dedup.mode: 'line'`) file says about it: the account
 * (`scope=`) and the extraction run that wrote it (`run_id=`, whose time is `extracted_at`), as
 * the extractors name their files (seed 004):
 *
 *   {source}/scope={scope}/entity={entity}/ingestion_date={YYYY-MM-DD}/run_id={YYYYMMDDTHHMMSSmmmZ}/part-{N}.jsonl.gz
 *
 * A file without them cannot be staged with its lineage: it is refused as a whole (bad_file).
 */
export function extractLineage(bronzePath: string, now: number = Date.now()): ExtractLineage {
  const hive = hiveValues(bronzePath);
  const example = 'pipedrive/scope=acme/entity=deals/ingestion_date=2025-06-02/run_id=20250602T120000250Z/part-00000.jsonl.gz';
  if (!hive.scope) throw new BadFileError(`the path has no scope= folder: a staging file's path names its account and extraction run, e.g. ${example}`);
  if (!hive.run_id) throw new BadFileError(`the path has no run_id= folder: a staging file's path names its account and extraction run, e.g. ${example}`);
  if (!RUN_ID.test(hive.run_id)) throw new BadFileError(`run_id=${hive.run_id} is not an extraction run id (YYYYMMDDTHHMMSSmmmZ, the UTC start of the run, e.g. 20250602T120000250Z)`);
  const t = runIdTime(hive.run_id);
  if (Number.isNaN(t) || new Date(t).toISOString().replace(/[-:.]/g, '') !== hive.run_id) {
    throw new BadFileError(`run_id=${hive.run_id} is not a valid time (YYYYMMDDTHHMMSSmmmZ, UTC)`);
  }
  // A path an extractor could not have written would mislead the latest-version rule (its run id
  // is the version's extracted_at): refused as a whole, with what to fix.
  for (const key of ['scope', 'entity', 'ingestion_date', 'run_id']) {
    if (bronzePath.split('/').filter((f) => f.startsWith(`${key}=`)).length > 1) throw new BadFileError(`the path has more than one ${key}= folder; write it once, e.g. ${example}`);
  }
  const folders = bronzePath.split('/');
  const shape = ['scope=', 'entity=', 'ingestion_date=', 'run_id='];
  if (folders.length !== 6 || shape.some((key, i) => !folders[i + 1]!.startsWith(key))) {
    throw new BadFileError(`the path is not an extraction part's: write <source>/scope=<account>/entity=<entity>/ingestion_date=<day>/run_id=<run>/<file>, e.g. ${example}`);
  }
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(hive.scope)) throw new BadFileError(`scope=${hive.scope} is not an account name as the extractors write it (lower case letters, digits, - and _, e.g. scope=acme)`);
  const day = new Date(t).toISOString().slice(0, 10);
  if (hive.ingestion_date !== undefined && hive.ingestion_date !== day) throw new BadFileError(`ingestion_date=${hive.ingestion_date} is not the UTC day of run_id=${hive.run_id} (${day}): the extractors write the run's day`);
  if (t > now + 86_400_000) throw new BadFileError(`run_id=${hive.run_id} is in the future (more than a day after now): it would be the newest extraction of its records for good`);
  return { scope: hive.scope, runId: hive.run_id, extractedAt: new Date(t) };
}

/**
 * Where a local file given to `medallion ingest` / `medallion dataset check` goes in bronze: under
 * the dataset's prefix; for a dataset with a `bronzePattern`, under the pattern with each wildcard
 * filled in as `local`; for a staging dataset, in a run folder of its own
 * (`ingestion_date=<day>/run_id=<now>/`), as the extractors write.
 */
export function bronzePathFor(contract: Contract, fileName: string, now: number = Date.now()): string {
  let folder = contract.bronzePattern ? fillPattern(contract.bronzePattern, 'local') : contract.bronzePrefix;
  if (contract.dedup.mode === 'line') {
    const hive = hiveValues(`${folder}x`);
    if (!hive.scope) folder += 'scope=local/';
    if (!hive.run_id) {
      const runId = runIdFor(now);
      folder += `ingestion_date=${new Date(runIdTime(runId)).toISOString().slice(0, 10)}/run_id=${runId}/`;
    }
  }
  return `${folder}${fileName}`;
}

/**
 * Why a path under an API source's folder (pipedrive/, zendesk/) belongs to no staging dataset, in
 * one line; undefined for other paths.
 */
export function unownedSourcePath(bronzePath: string): string | undefined {
  const source = bronzePath.split('/')[0] as SourceName;
  if (!SOURCE_NAMES.includes(source)) return undefined;
  const known = Object.keys(STAGED_ENTITIES[source]);
  const folders = bronzePath.split('/').slice(1, -1);
  const scope = folders.find((f) => f.startsWith('scope='));
  const entity = folders.find((f) => f.startsWith('entity='));
  const shape = `${source}/scope=<account>/entity=<entity>/ingestion_date=<day>/run_id=<run>/part-N.jsonl.gz`;
  if (!scope || scope === 'scope=') return `the path has no scope=<account> folder (${source} files go under ${shape})`;
  if (!entity) return `the path has no entity= folder (${source} files go under ${shape})`;
  if (known.includes(entity.slice('entity='.length))) return `the path does not follow ${shape}`;
  return `${entity} is not a ${source} entity (one of ${known.join(', ')}; folder names are lower case)`;
}
