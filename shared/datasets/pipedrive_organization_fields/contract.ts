import { stagingContract } from '../../sources/staging';

/** Pipedrive organization fields (the names of the records' custom fields) as the API returned them, staged as JSONB in stg_pipedrive.organization_fields_raw (shared/sources/staging.ts, docs/sources.md). */
export default stagingContract('pipedrive', 'organization_fields');
