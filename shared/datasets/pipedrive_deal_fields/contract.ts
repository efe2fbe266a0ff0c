import { stagingContract } from '../../sources/staging';

/** Pipedrive deal fields (the names of the records' custom fields) as the API returned them, staged as JSONB in stg_pipedrive.deal_fields_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'deal_fields');
