import { stagingContract } from '../../sources/staging';

/** Pipedrive organizations as the API returned them, staged as JSONB in stg_pipedrive.organizations_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'organizations');
