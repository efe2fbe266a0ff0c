import type { Contract } from '../../contracts/contract';

/**
 * CRM products (seed 000, Maven Analytics "CRM + Sales Opportunities" `products.csv`): one row per
 * product, bronze `crm/products/` → silver `crm_products`. A dimension: the latest export of each
 * product wins. crm_deals.product references `product`.
 */

/** Text of a source column, trimmed, NULL when blank. */
const text = (col: string) => `nullif(trim(${col}), '')`;

/** Product name in products.csv's spelling: the pipeline export's 'GTXPro' is 'GTX Pro'. */
const PRODUCT = `CASE ${text('product')} WHEN 'GTXPro' THEN 'GTX Pro' ELSE ${text('product')} END`;

const crmProducts: Contract = {
  name: 'crm_products',
  description: 'CRM products, current version of each: the latest export wins (snapshot_at = when its file was ingested). Natural key: product.',
  bronzePrefix: 'crm/products/',
  format: { type: 'csv' },
  source: [{ name: 'product' }, { name: 'series' }, { name: 'sales_price' }],
  typed: [
    {
      name: 'product',
      type: 'string',
      sql: PRODUCT,
      description: "Product name, trimmed, in products.csv's spelling ('GTXPro' → 'GTX Pro', as crm_deals does): the natural key that crm_deals.product references.",
    },
    { name: 'series', type: 'string', sql: text('series'), description: "Product series (e.g. 'GTX', 'MG', 'GTK'), trimmed; NULL when blank." },
    {
      name: 'sales_price',
      type: 'decimal(12,2)',
      sql: `try_cast(${text('sales_price')} AS DECIMAL(12,2))`,
      onInvalid: 'warn',
      description: 'Suggested retail price in US dollars, exact; NULL when blank or not a number (counted as invalid_sales_price, the product is kept).',
    },
    {
      name: 'snapshot_at',
      type: 'timestamp',
      sql: '{{run_started_at}}',
      from: null,
      description:
        'When the file this version came from was ingested (UTC). The exports carry no modification time, so each is a snapshot as of its load and the latest one wins (an OLDER export re-sent later becomes current again).',
    },
  ],
  expectations: [
    { name: 'valid_product', check: 'product IS NOT NULL', action: 'drop', description: 'The product name (the natural key) is present.' },
    { name: 'positive_sales_price', check: 'sales_price > 0', action: 'warn', description: 'The suggested price is known and above zero (kept either way; counted).' },
  ],
  dedup: { mode: 'latest', key: ['product'], idColumn: 'product_key', orderBy: 'snapshot_at' },
  derived: [],
  partitionBy: [],
  rangeColumn: 'snapshot_at',
};

export default crmProducts;
