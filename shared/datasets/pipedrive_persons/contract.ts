import { stagingContract } from '../../sources/staging';

/** Pipedrive persons as the API returned them, staged as JSONB in stg_pipedrive.persons_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'persons');
