import { stagingContract } from '../../sources/staging';

/** Pipedrive pipelines as the API returned them, staged as JSONB in stg_pipedrive.pipelines_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'pipelines');
