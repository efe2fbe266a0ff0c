import { stagingContract } from '../../sources/staging';

/** Zendesk tickets as the API returned them, staged as JSONB in stg_zendesk.tickets_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('zendesk', 'tickets');
