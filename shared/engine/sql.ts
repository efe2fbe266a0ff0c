import type { SilverType } from '../contracts/contract';

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export const DUCK_TYPES: Record<SilverType, string> = {
  string: 'VARCHAR',
  bigint: 'BIGINT',
  int: 'INTEGER',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
};

export const PG_TYPES: Record<SilverType, string> = {
  string: 'text',
  bigint: 'bigint',
  int: 'integer',
  double: 'double precision',
  boolean: 'boolean',
  timestamp: 'timestamptz',
  date: 'date',
};

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
