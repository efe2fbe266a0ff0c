import { stagingContract } from '../../sources/staging';

/** Pipedrive activities as the API returned them, staged as JSONB in stg_pipedrive.activities_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'activities');
