import { stagingContract } from '../../sources/staging';

/** Pipedrive stages as the API returned them, staged as JSONB in stg_pipedrive.stages_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'stages');
