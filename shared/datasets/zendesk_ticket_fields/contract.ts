import { stagingContract } from '../../sources/staging';

/** Zendesk ticket fields as the API returned them, staged as JSONB in stg_zendesk.ticket_fields_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('zendesk', 'ticket_fields');
