import { stagingContract } from '../../sources/staging';

/** Zendesk users as the API returned them, staged as JSONB in stg_zendesk.users_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('zendesk', 'users');
