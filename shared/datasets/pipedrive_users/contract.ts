import { stagingContract } from '../../sources/staging';

/** Pipedrive users as the API returned them, staged as JSONB in stg_pipedrive.users_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'users');
