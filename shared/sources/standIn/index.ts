export { type Fault, type Limits, type RecordedRequest, type StandIn, type StandInOptions, startStandIn, type Storm } from './server';
export { type Counts, type Json, PIPEDRIVE_FIELDS_OF, seededRandom, STAND_IN_ENTITIES, StandInStore, type StoredRecord } from './store';
