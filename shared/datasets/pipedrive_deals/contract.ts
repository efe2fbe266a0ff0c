import { stagingContract } from '../../sources/staging';

/** Pipedrive deals as the API returned them, staged as JSONB in stg_pipedrive.deals_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'deals');
