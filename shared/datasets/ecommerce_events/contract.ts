import type { Contract } from '../../contracts/contract';

const TIME_FORMATS = `['%Y-%m-%d %H:%M:%S UTC', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S']`;

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
      sql: `try_strptime(trim(event_time), ${TIME_FORMATS})`,
      description: 'Event occurrence time, UTC (source text like "2019-10-01 00:00:00 UTC").',
    },
    { name: 'event_type', type: 'string', sql: 'lower(trim(event_type))', description: 'Standardized event type: view, cart, remove_from_cart or purchase.' },
    { name: 'product_id', type: 'bigint', sql: 'try_cast(trim(product_id) AS BIGINT)', description: 'Product identifier.' },
    { name: 'category_id', type: 'bigint', sql: 'try_cast(trim(category_id) AS BIGINT)', description: 'Category identifier (19-digit, kept exact as int64).' },
    {
      name: 'category_code',
      type: 'string',
      sql: "coalesce(nullif(trim(category_code), ''), 'unknown')",
      description: "Full dotted category code; 'unknown' when blank.",
    },
    { name: 'brand', type: 'string', sql: "coalesce(nullif(lower(trim(brand)), ''), 'unknown')", description: "Brand, lower-cased and trimmed; 'unknown' when blank." },
    { name: 'price', type: 'double', sql: 'try_cast(trim(price) AS DOUBLE)', description: 'Product price.' },
    { name: 'user_id', type: 'bigint', sql: 'try_cast(trim(user_id) AS BIGINT)', description: 'User identifier.' },
    { name: 'user_session', type: 'string', sql: "nullif(trim(user_session), '')", description: 'Session identifier.' },
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
    { name: 'category_l1', type: 'string', sql: "split_part(category_code, '.', 1)", description: "Top-level category ('unknown' when category_code is)." },
    { name: 'category_l2', type: 'string', sql: "nullif(split_part(category_code, '.', 2), '')", description: 'Second-level category; NULL when the code has no second level.' },
    { name: 'category_l3', type: 'string', sql: "nullif(split_part(category_code, '.', 3), '')", description: 'Third-level category; NULL when the code has no third level.' },
    { name: 'processed_timestamp', type: 'timestamp', sql: '{{run_started_at}}', description: 'When the platform processed the row (start of its ingestion run).' },
  ],
  partitionBy: ['event_date'],
  rangeColumn: 'event_time',
};

export default ecommerceEvents;
