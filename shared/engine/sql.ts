import type { SilverType } from '../contracts/contract';

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

type PlainType = Exclude<SilverType, `decimal(${number},${number})`>;

const DUCK_PLAIN: Record<PlainType, string> = {
  string: 'VARCHAR',
  bigint: 'BIGINT',
  int: 'INTEGER',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
};

const PG_PLAIN: Record<PlainType, string> = {
  string: 'text',
  bigint: 'bigint',
  int: 'integer',
  double: 'double precision',
  boolean: 'boolean',
  timestamp: 'timestamptz',
  date: 'date',
};

const DECIMAL = /^decimal\((\d+),(\d+)\)$/;

/** Precision and scale of a `decimal(p,s)` type; undefined for other types. */
export function decimalOf(type: string): { precision: number; scale: number } | undefined {
  const m = DECIMAL.exec(type.replace(/\s+/g, ''));
  return m ? { precision: Number(m[1]), scale: Number(m[2]) } : undefined;
}

/** True for a type the platform knows (plain names, or decimal(p,s) with 1 ≤ p ≤ 38, 0 ≤ s ≤ p). */
export function isSilverType(type: string): type is SilverType {
  const d = decimalOf(type);
  if (d) return d.precision >= 1 && d.precision <= 38 && d.scale <= d.precision;
  return Object.hasOwn(DUCK_PLAIN, type);
}

/** DuckDB type of a silver type. */
export function duckType(type: SilverType): string {
  const d = decimalOf(type);
  return d ? `DECIMAL(${d.precision},${d.scale})` : DUCK_PLAIN[type as PlainType];
}

/** PostgreSQL type of a silver type. */
export function pgType(type: SilverType): string {
  const d = decimalOf(type);
  return d ? `numeric(${d.precision},${d.scale})` : PG_PLAIN[type as PlainType];
}

/** Canonical text of a key column for the id hash: stable across runs, engines and time zones. */
export function canonicalText(expr: string, type: SilverType): string {
  switch (type) {
    case 'timestamp':
      return `strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%fZ')`;
    case 'date':
      return `strftime(${expr}, '%Y-%m-%d')`;
    default:
      return `CAST(${expr} AS VARCHAR)`;
  }
}
