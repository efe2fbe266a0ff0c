import { stagingContract } from '../../sources/staging';

/** Zendesk groups as the API returned them, staged as JSONB in stg_zendesk.groups_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('zendesk', 'groups');
