import { stagingContract } from '../../sources/staging';

/** Zendesk organizations as the API returned them, staged as JSONB in stg_zendesk.organizations_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('zendesk', 'organizations');
