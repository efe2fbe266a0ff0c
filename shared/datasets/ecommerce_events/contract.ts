import type { Contract } from '../../contracts/contract';

/**
 * The characters every source value is trimmed of: ASCII whitespace (space, \t, \n, \v, \f,
 * \r), as chr() codes because DuckDB string escapes have no \v or \f. Plain trim() strips
 * spaces only, so "\tview" or "123\t" would not be standardised like " view" or "123 ".
 */
const ASCII_WHITESPACE = [32, 9, 10, 11, 12, 13].map((c) => `chr(${c})`).join(' || ');

/** `column` trimmed of ASCII_WHITESPACE (the same for every column; the engine's blank check trims the same characters). */
const trimmed = (column: string) => `trim(${column}, ${ASCII_WHITESPACE})`;

/** Wall-clock UTC formats (a literal "UTC"/"Z" or no zone): parsed as TIMESTAMP, no time zone involved. */
const UTC_FORMATS = ['%Y-%m-%d %H:%M:%S UTC', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%SZ', '%Y-%m-%dT%H:%M:%S UTC'];
/**
 * Text with an explicit UTC offset: ±HH, ±HHMM or ±HH:MM, at most ±14:59, right after the time.
 * DuckDB's %z alone also takes "+05:" or "+99:00"; those are garbage (invalid_event_time), never a
 * shifted instant.
 */
const OFFSET_TEXT = '[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?';
/**
 * Parsed with ONE %z format (its 'T', the only letter OFFSET_TEXT lets through, made a space): %z
 * gives a TIMESTAMP WITH TIME ZONE, which cannot share a list with UTC_FORMATS (one result type
 * per list), and DuckDB 1.5's list form with %z rolls an impossible date over (Feb 30 → Mar 2)
 * where the single format refuses it.
 */
const OFFSET_FORMAT = '%Y-%m-%d %H:%M:%S%z';

/**
 * event_time → TIMESTAMP holding the UTC instant. An offset is converted with timezone('UTC', …),
 * which reads the instant, not the session's TimeZone: the result is the same in any session.
 */
function eventTimeSql(): string {
  const t = trimmed('event_time');
  return (
    `CASE WHEN regexp_full_match(${t}, '${OFFSET_TEXT}') THEN timezone('UTC', try_strptime(replace(${t}, 'T', ' '), '${OFFSET_FORMAT}')) ` +
    `ELSE try_strptime(${t}, [${UTC_FORMATS.map((f) => `'${f}'`).join(', ')}]) END`
  );
}

/**
 * REES46 "eCommerce behavior data from multi category store" events (seed 001): bronze CSV
 * exports → silver `events_cleaned`.
 */
const ecommerceEvents: Contract = {
  name: 'ecommerce_events',
  description: 'Product views, cart adds/removals and purchases of a multi-category online store (REES46 layout).',
  bronzePrefix: 'ecommerce_events/',
  format: { type: 'csv' },
  source: [
    { name: 'event_time' },
    { name: 'event_type' },
    { name: 'product_id' },
    { name: 'category_id' },
    { name: 'category_code' },
    { name: 'brand' },
    { name: 'price' },
    { name: 'user_id' },
    { name: 'user_session' },
  ],
  typed: [
    {
      name: 'event_time',
      type: 'timestamp',
      sql: eventTimeSql(),
      description:
        'Event occurrence time, UTC. Source text "2019-10-01 00:00:00 UTC" (or "…Z", "T" between date and time, no zone = UTC), ' +
        'or with an explicit offset ("2019-10-01 03:00:00+03:00", "+0300", "+03"), converted to UTC.',
    },
    { name: 'event_type', type: 'string', sql: `lower(${trimmed('event_type')})`, description: 'Standardized event type: view, cart, remove_from_cart or purchase.' },
    { name: 'product_id', type: 'bigint', sql: `try_cast(${trimmed('product_id')} AS BIGINT)`, description: 'Product identifier.' },
    { name: 'category_id', type: 'bigint', sql: `try_cast(${trimmed('category_id')} AS BIGINT)`, description: 'Category identifier (19-digit, kept exact as int64).' },
    {
      name: 'category_code',
      type: 'string',
      sql: `coalesce(nullif(${trimmed('category_code')}, ''), 'unknown')`,
      description: "Full dotted category code, trimmed of ASCII whitespace; 'unknown' when blank.",
    },
    { name: 'brand', type: 'string', sql: `coalesce(nullif(lower(${trimmed('brand')}), ''), 'unknown')`, description: "Brand, lower-cased and trimmed of ASCII whitespace; 'unknown' when blank." },
    { name: 'price', type: 'double', sql: `try_cast(${trimmed('price')} AS DOUBLE)`, description: 'Product price.' },
    { name: 'user_id', type: 'bigint', sql: `try_cast(${trimmed('user_id')} AS BIGINT)`, description: 'User identifier.' },
    { name: 'user_session', type: 'string', sql: `nullif(${trimmed('user_session')}, '')`, description: 'Session identifier.' },
  ],
  expectations: [
    { name: 'valid_event_time', check: 'event_time IS NOT NULL', action: 'drop', description: 'event_time is present and parses as a timestamp.' },
    {
      name: 'valid_event_type',
      check: "event_type IN ('view', 'cart', 'remove_from_cart', 'purchase')",
      action: 'drop',
      description: 'event_type is one of view, cart, remove_from_cart, purchase.',
    },
    { name: 'valid_product_id', check: 'product_id IS NOT NULL AND product_id > 0', action: 'drop', description: 'product_id is a positive integer.' },
    { name: 'valid_user_id', check: 'user_id IS NOT NULL AND user_id > 0', action: 'drop', description: 'user_id is a positive integer.' },
    {
      name: 'valid_price',
      check: 'price IS NOT NULL AND price >= 0 AND price <= 100000',
      action: 'drop',
      description: 'price is a number between 0 and 100,000.',
    },
    { name: 'valid_user_session', check: 'user_session IS NOT NULL', action: 'drop', description: 'user_session (part of the dedup key) is present.' },
    { name: 'known_brand', check: "brand <> 'unknown'", action: 'warn', description: 'The brand is known (kept either way; counted).' },
    { name: 'nonzero_price', check: 'price > 0', action: 'warn', description: 'The price is above zero (kept either way; counted).' },
  ],
  dedup: { mode: 'first', key: ['event_time', 'user_id', 'product_id', 'user_session', 'event_type'], idColumn: 'event_id' },
  derived: [
    { name: 'event_date', type: 'date', sql: 'CAST(event_time AS DATE)', description: 'Date portion of event_time (UTC).' },
    { name: 'event_hour', type: 'int', sql: 'CAST(hour(event_time) AS INTEGER)', description: 'Hour of day, 0-23 (UTC).' },
    {
      name: 'event_day_of_week',
      type: 'int',
      sql: 'CAST(dayofweek(event_time) + 1 AS INTEGER)',
      description: 'Day of week 1-7 as Spark dayofweek: 1 = Sunday ... 7 = Saturday.',
    },
    {
      name: 'category_l1',
      type: 'string',
      sql: "coalesce(nullif(split_part(category_code, '.', 1), ''), 'unknown')",
      description: "Top-level category; 'unknown' when category_code is, or when its first segment is empty (e.g. '..', '.x'), as seed 001 replaces a missing category.",
    },
    {
      name: 'category_l2',
      type: 'string',
      sql: "nullif(split_part(category_code, '.', 2), '')",
      description: "Second-level category; NULL when the code has no second level or it is empty (e.g. 'a..b').",
    },
    { name: 'category_l3', type: 'string', sql: "nullif(split_part(category_code, '.', 3), '')", description: 'Third-level category; NULL when the code has no third level or it is empty.' },
    { name: 'processed_timestamp', type: 'timestamp', sql: '{{run_started_at}}', description: 'When the platform processed the row (start of its ingestion run).' },
  ],
  partitionBy: ['event_date'],
  rangeColumn: 'event_time',
};

export default ecommerceEvents;
