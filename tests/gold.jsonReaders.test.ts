import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FRAMEWORK_DDL } from '../shared/gold/schema';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';

/*
 * The gold framework's typed JSON readers (gold_state.jsonb_bigint … jsonb_option_labels and
 * text_numeric, defined in FRAMEWORK_DDL) over a hostile corpus of JSON values, each result compared
 * with this file's own reading of their documented contract (the SQL comments above each function
 * and "Typed reads of JSON" in shared/gold/README.md), never with the SQL's own output. The contract
 * is strict: a reader returns the value when the JSON has the type its column needs, and NULL, never
 * an error, for a missing key, a JSON null or a value of another type (nothing is converted).
 *
 * How this file reads the contract where its words leave room (the assertions follow these):
 *  - "type" is the JSON type: a string holding digits is no number, a number is no text, 0 and 1
 *    are no booleans, an object is not its "id";
 *  - jsonb_bigint: a JSON number whose value is an integer (1.0, 1e3 and 10e-1 are integral) from
 *    -2^63 to 2^63-1;
 *  - jsonb_numeric: a JSON number, exactly, printed as numeric prints it (plain notation, the scale
 *    as written: 1500.00 → '1500.00', 1e3 → '1000', 1E-2 → '0.01', -0 → '0');
 *  - jsonb_bool: JSON true or false only; jsonb_text: a JSON string only, as it is;
 *  - jsonb_object / jsonb_array: the value itself (its jsonb unchanged) when it is an object / an
 *    array, else NULL;
 *  - jsonb_scalar_text: a string as it is, a boolean as 'true' / 'false', a number as its exact
 *    decimal (as jsonb_numeric prints it); NULL for null, objects and arrays;
 *  - text_numeric (called here on the text of every corpus value, v #>> '{}'): "ASCII whitespace"
 *    is space, \t, \n, \v, \f and \r, allowed only before and after the number (any Unicode space,
 *    U+0085 or a control character is no whitespace); then an optional sign, digits with an optional
 *    point (5. and .5 are decimals) and an optional exponent of at most 9 digits; no NaN,
 *    Infinity, hex, underscores, digit-group commas or non-ASCII digits; exact: printed as numeric
 *    prints it (' 2.5e+4 ' → '25000', '1.e5' → '100000'); "numeric cannot hold it": more than
 *    131072 digits before the point (leading zeros do not count) or more than 16383 after it,
 *    counting the scale as written (1.000 has 3, 1e-2 has 2, 0e-20000 has 20000); a zero with a
 *    positive exponent of any size is zero, which numeric holds;
 *  - jsonb_timestamptz: YYYY-MM-DD, then T, t or a space and HH:MM[:SS[.fraction]], then Z, z,
 *    ±HH:MM, ±HHMM, ±HH or nothing (UTC); a date alone is its midnight UTC; a date followed by an
 *    offset without a time is no time; fields within the calendar (years 0001-9999, a real date,
 *    hours 00-23, minutes and seconds 00-59: 24:00:00 and a 60th second are not valid times); an
 *    offset's hours are 00-15 (PostgreSQL's range) and its minutes 00-59; the fraction has 1-9
 *    digits and is rounded to the microsecond;
 *  - jsonb_date: a JSON string that is exactly a valid 'YYYY-MM-DD' (years 0001-9999); a time is
 *    not a date;
 *  - jsonb_text_array / jsonb_bigint_array: the elements jsonb_text / jsonb_bigint read, in order;
 *    the others are left out entirely (no NULL element), an empty array for an array with none;
 *  - jsonb_option_labels: the value's ids are a JSON number, the numbers of an array and its strings
 *    text_numeric reads, or a text of comma-separated digit ids (ASCII whitespace around them); an
 *    option is an object of the options array whose "id" is a number or a string text_numeric
 *    reads; each id in the value's order gives the labels of the options whose id is numerically
 *    equal (2.0 = 2), in the options' order (a label that is absent is a NULL element); NULL when
 *    the options are no array or no option is named.
 */

// ---------------------------------------------------------------------------------------------
// JSON with the numbers' source text

const NUM = Symbol('number');
interface JNum {
  readonly [NUM]: string;
}
type J = null | boolean | string | JNum | J[] | { [key: string]: J };
/** A corpus value as it is read from a record: undefined = the key is missing. */
type V = J | undefined;

/** JSON.parse keeping each number's source text (1500.00, 1e3, ids beyond 2^53 stay exact). */
function parseExact(text: string): J {
  return JSON.parse(text, (_k, v: unknown, ctx?: { source?: string }) => (typeof v === 'number' ? { [NUM]: ctx!.source! } : v)) as J;
}
function isNum(v: V): v is JNum {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && NUM in v;
}
function isObject(v: V): v is { [key: string]: J } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(NUM in v);
}

// ---------------------------------------------------------------------------------------------
// Exact decimals, printed as PostgreSQL's numeric prints them

interface Decimal {
  /** numeric's text: plain notation, `scale` digits after the point, no sign on zero. */
  text: string;
  negative: boolean;
  /** Digits before the point, without leading zeros ('' for a value below 1). */
  integerPart: string;
  fractionPart: string;
  scale: number;
  /** No nonzero digit after the point. */
  integral: boolean;
  /** numeric can hold it: at most 131072 digits before the point, 16383 after. */
  representable: boolean;
}

const MAX_EXPONENT = 200_000; // beyond any value numeric can hold either way

/** sign, digits before and after the point and a power of ten → the exact decimal. */
function decimal(sign: string, int: string, frac: string, exponent: number): Decimal {
  const digits = int + frac;
  const zero = !/[1-9]/.test(digits);
  if (Math.abs(exponent) > MAX_EXPONENT) {
    // A zero with a huge positive exponent is zero (scale 0); any other value is beyond numeric.
    if (zero && exponent > 0) return { text: '0', negative: false, integerPart: '', fractionPart: '', scale: 0, integral: true, representable: true };
    return { text: '', negative: false, integerPart: '', fractionPart: '', scale: 0, integral: false, representable: false };
  }
  const point = int.length + exponent; // where the point falls in `digits`
  const scale = Math.max(0, frac.length - exponent);
  let ip: string;
  let fp: string;
  if (point <= 0) {
    ip = '';
    fp = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    ip = digits + '0'.repeat(point - digits.length);
    fp = '';
  } else {
    ip = digits.slice(0, point);
    fp = digits.slice(point);
  }
  if (fp.length !== scale) throw new Error(`decimal(${sign}${int}.${frac}e${exponent}): ${fp.length} fraction digits, scale ${scale}`);
  ip = ip.replace(/^0+/, '');
  const negative = sign === '-' && !zero;
  const text = `${negative ? '-' : ''}${ip || '0'}${scale > 0 ? `.${fp}` : ''}`;
  return { text, negative, integerPart: ip, fractionPart: fp, scale, integral: !/[1-9]/.test(fp), representable: ip.length <= 131072 && scale <= 16383 };
}

/** A JSON number's source text → its exact decimal. */
function jsonNumber(source: string): Decimal {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(source);
  if (!m) throw new Error(`not a JSON number: ${source}`);
  return decimal(m[1]!, m[2]!, m[3] ?? '', Number(m[4] ?? '0'));
}

const WS = '[ \\t\\n\\v\\f\\r]*';
const DECIMAL_STRING = new RegExp(`^${WS}([+-]?)(?:([0-9]+)(?:\\.([0-9]*))?|\\.([0-9]+))(?:[eE]([+-]?[0-9]+))?${WS}$`);
const ID_LIST_STRING = new RegExp(`^${WS}[0-9]+(?:${WS},${WS}[0-9]+)*${WS}$`);

/** A string holding a decimal → its exact decimal (undefined: it holds none). */
function decimalString(s: string): Decimal | undefined {
  const m = DECIMAL_STRING.exec(s);
  if (!m) return undefined;
  if ((m[5] ?? '').replace(/^[+-]/, '').length > 9) return undefined; // an exponent of at most 9 digits
  const exponent = Number(m[5] ?? '0');
  return m[4] !== undefined ? decimal(m[1]!, '', m[4], exponent) : decimal(m[1]!, m[2]!, m[3] ?? '', exponent);
}

/** text_numeric's contract: a text holding a decimal numeric can hold (undefined: NULL). */
function textNumeric(s: string): Decimal | undefined {
  const d = decimalString(s);
  return d?.representable ? d : undefined;
}

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;

function integerOf(d: Decimal): bigint | undefined {
  if (!d.representable || !d.integral) return undefined;
  const n = BigInt(`${d.negative ? '-' : ''}${d.integerPart || '0'}`);
  return n >= BIGINT_MIN && n <= BIGINT_MAX ? n : undefined;
}

/** A numeric value as a comparison key (trailing fraction zeros dropped: 2.0 = 2). */
function valueKey(d: Decimal): string {
  return d.text.includes('.') ? d.text.replace(/0+$/, '').replace(/\.$/, '') : d.text;
}

// ---------------------------------------------------------------------------------------------
// The contract, read independently (see the header)

type Out = string | null | (string | null)[] | { error: string };

/** jsonb_bigint's contract: an integral JSON number within bigint (nothing else). */
function bigintOf(v: V): bigint | undefined {
  return isNum(v) ? integerOf(jsonNumber(v[NUM])) : undefined;
}

/** A time → epoch microseconds and the date as written (undefined: no valid time). */
interface Time {
  micros: bigint;
  day: number;
}
const TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$/;

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}
function daysInMonth(y: number, m: number): number {
  return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}
/** Days from 1970-01-01 to a proleptic Gregorian date. */
function daysFromCivil(year: number, m: number, d: number): number {
  const y = m <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function validDate(y: number, m: number, d: number): boolean {
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/** Fraction digits → microseconds, rounded to the nearest (the corpus holds no exact half). */
function fractionMicros(frac: string): bigint {
  const head = BigInt(frac.slice(0, 6).padEnd(6, '0'));
  return frac.length > 6 && frac[6]! >= '5' ? head + 1n : head;
}

function parseTime(s: string): (Time & { hasTime: boolean }) | undefined {
  const m = TIME.exec(s);
  if (!m) return undefined;
  const [, Y, Mo, D, h, mi, sec, frac, zulu, sign, oh, om] = m;
  const y = Number(Y);
  const mo = Number(Mo);
  const d = Number(D);
  if (!validDate(y, mo, d)) return undefined;
  const day = daysFromCivil(y, mo, d);
  if (h === undefined) {
    if (zulu !== undefined || sign !== undefined) return undefined; // a date with an offset is no time
    return { micros: BigInt(day) * 86_400_000_000n, day, hasTime: false };
  }
  const hour = Number(h);
  const minute = Number(mi);
  const second = sec === undefined ? 0 : Number(sec);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (frac !== undefined && frac.length > 9) return undefined; // a fraction of 1-9 digits
  let offset = 0;
  if (sign !== undefined) {
    const offH = Number(oh);
    const offM = om === undefined ? 0 : Number(om);
    if (offH > 15 || offM > 59) return undefined; // offset hours 00-15 (PostgreSQL's range)
    offset = (sign === '-' ? -1 : 1) * (offH * 3600 + offM * 60);
  }
  const seconds = BigInt(day) * 86_400n + BigInt(hour * 3600 + minute * 60 + second - offset);
  return { micros: seconds * 1_000_000n + (frac === undefined ? 0n : fractionMicros(frac)), day, hasTime: true };
}

function labelOf(option: { [key: string]: J }): string | null {
  if (!Object.hasOwn(option, 'label')) return null;
  const l = option.label!;
  if (l === null) return null;
  if (typeof l === 'string') return l;
  if (typeof l === 'boolean') return String(l);
  if (isNum(l)) return jsonNumber(l[NUM]).text;
  throw new Error('the corpus holds no option whose label is an object or array');
}

/** An id of an array or of an option: a JSON number, or a string text_numeric reads. */
function idKey(v: V): string | undefined {
  if (isNum(v)) return valueKey(jsonNumber(v[NUM]));
  if (typeof v === 'string') {
    const d = textNumeric(v);
    return d ? valueKey(d) : undefined;
  }
  return undefined;
}

function optionLabels(value: V, options: V): Out {
  if (!Array.isArray(options)) return null;
  let ids: string[] = [];
  if (isNum(value)) ids = [valueKey(jsonNumber(value[NUM]))];
  else if (Array.isArray(value)) ids = value.map(idKey).filter((k): k is string => k !== undefined);
  else if (typeof value === 'string' && ID_LIST_STRING.test(value)) ids = value.split(',').map((p) => valueKey(decimalString(p)!));
  const labels: (string | null)[] = [];
  for (const id of ids) {
    for (const o of options) if (isObject(o) && Object.hasOwn(o, 'id') && idKey(o.id) === id) labels.push(labelOf(o));
  }
  return labels.length ? labels : null;
}

/** The option list the value sweep reads every corpus value against, and the value the options sweep uses. */
const SWEEP_OPTIONS_TEXT =
  '[{"id": 1, "label": "one"}, {"id": 2, "label": "two"}, {"id": 3, "label": "three"}, {"id": 12, "label": "twelve"}, {"id": 1000, "label": "thousand"}, {"id": 9223372036854775807, "label": "max"}, {"id": 0, "label": "zero"}]';
const SWEEP_VALUE_TEXT = '[1, 2, 12, 1000, 0]';

interface Reader {
  name: string;
  /** The SQL of its result as jsonb: text (numbers exact, times as epoch microseconds, dates as days since 1970-01-01) or an array of texts. */
  sql: string;
  /** The bare call, for the one-statement check. */
  call: string;
  expected: (v: V) => Out;
}

/** A jsonb reader that returns its input or NULL: 'itself' when it returned the value unchanged. */
const returnsItself = (call: string): string =>
  `to_jsonb(CASE WHEN ${call} IS NULL THEN NULL WHEN ${call}::text = v::text THEN 'itself' ELSE 'changed: ' || ${call}::text END)`;

const READERS: Reader[] = [
  {
    name: 'jsonb_bigint',
    call: 'gold_state.jsonb_bigint(v)',
    sql: 'to_jsonb(gold_state.jsonb_bigint(v)::text)',
    expected: (v) => bigintOf(v)?.toString() ?? null,
  },
  {
    name: 'jsonb_numeric',
    call: 'gold_state.jsonb_numeric(v)',
    sql: 'to_jsonb(gold_state.jsonb_numeric(v)::text)',
    expected: (v) => (isNum(v) ? jsonNumber(v[NUM]).text : null),
  },
  {
    name: 'jsonb_bool',
    call: 'gold_state.jsonb_bool(v)',
    sql: 'to_jsonb(gold_state.jsonb_bool(v)::text)',
    expected: (v) => (typeof v === 'boolean' ? String(v) : null),
  },
  {
    name: 'jsonb_text',
    call: 'gold_state.jsonb_text(v)',
    sql: 'to_jsonb(gold_state.jsonb_text(v))',
    expected: (v) => (typeof v === 'string' ? v : null),
  },
  {
    name: 'jsonb_object',
    call: 'gold_state.jsonb_object(v)',
    sql: returnsItself('gold_state.jsonb_object(v)'),
    expected: (v) => (isObject(v) ? 'itself' : null),
  },
  {
    name: 'jsonb_array',
    call: 'gold_state.jsonb_array(v)',
    sql: returnsItself('gold_state.jsonb_array(v)'),
    expected: (v) => (Array.isArray(v) ? 'itself' : null),
  },
  {
    name: 'jsonb_scalar_text',
    call: 'gold_state.jsonb_scalar_text(v)',
    sql: 'to_jsonb(gold_state.jsonb_scalar_text(v))',
    expected: (v) => (typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : isNum(v) ? jsonNumber(v[NUM]).text : null),
  },
  {
    // On the text of the value: a string's own text, a number's exact decimal, other JSON as its text.
    name: 'text_numeric (of the text of each value)',
    call: `gold_state.text_numeric(v #>> '{}')`,
    sql: `to_jsonb(gold_state.text_numeric(v #>> '{}')::text)`,
    expected: (v) => {
      if (typeof v === 'string') return textNumeric(v)?.text ?? null;
      if (isNum(v)) return textNumeric(jsonNumber(v[NUM]).text)?.text ?? null;
      return null; // null has no text; true/false, objects and arrays hold no decimal
    },
  },
  {
    name: 'jsonb_timestamptz',
    call: 'gold_state.jsonb_timestamptz(v)',
    sql: 'to_jsonb((extract(epoch FROM gold_state.jsonb_timestamptz(v)) * 1000000)::bigint::text)',
    expected: (v) => (typeof v === 'string' ? (parseTime(v)?.micros.toString() ?? null) : null),
  },
  {
    name: 'jsonb_date',
    call: 'gold_state.jsonb_date(v)',
    sql: `to_jsonb((gold_state.jsonb_date(v) - DATE '1970-01-01')::text)`,
    expected: (v) => (typeof v === 'string' && /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(v) ? (parseTime(v)?.day.toString() ?? null) : null),
  },
  {
    name: 'jsonb_text_array',
    call: 'gold_state.jsonb_text_array(v)',
    sql: 'to_jsonb(gold_state.jsonb_text_array(v))',
    expected: (v) => (Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string') : null),
  },
  {
    name: 'jsonb_bigint_array',
    call: 'gold_state.jsonb_bigint_array(v)',
    sql: 'to_jsonb(gold_state.jsonb_bigint_array(v)::text[])',
    expected: (v) => (Array.isArray(v) ? v.map(bigintOf).filter((n): n is bigint => n !== undefined).map(String) : null),
  },
  {
    name: 'jsonb_option_labels (each value against a fixed option list)',
    call: `gold_state.jsonb_option_labels(v, '${SWEEP_OPTIONS_TEXT}'::jsonb)`,
    sql: `to_jsonb(gold_state.jsonb_option_labels(v, '${SWEEP_OPTIONS_TEXT}'::jsonb))`,
    expected: (v) => optionLabels(v, parseExact(SWEEP_OPTIONS_TEXT)),
  },
  {
    name: 'jsonb_option_labels (each value as the options of a fixed value)',
    call: `gold_state.jsonb_option_labels('${SWEEP_VALUE_TEXT}'::jsonb, v)`,
    sql: `to_jsonb(gold_state.jsonb_option_labels('${SWEEP_VALUE_TEXT}'::jsonb, v))`,
    expected: (v) => optionLabels(parseExact(SWEEP_VALUE_TEXT), v),
  },
];

// ---------------------------------------------------------------------------------------------
// The corpus: hand-picked edge cases, then a seeded random generator

/** JSON text of a value, undefined = a record without the key. */
type Source = string | undefined;

const str = (s: string): string => JSON.stringify(s);

const HAND_NUMBERS = [
  '0', '-0', '0.0', '-0.0', '-0.000', '0e5', '-0e-5', '0.000e2', '1', '-1', '1.0', '1.00', '1e0', '10e-1', '0.1e1', '100e-2', '2', '1.5', '-1.5',
  '1e3', '1E3', '1E-2', '2.5e+4', '2.5E+04', '1.0e-3', '123.456e2', '123.456e-2', '1500.00', '0.000001', '0.0000001', '1e-7', '12.0', '12.5',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '1e18', '1e19', '123456789012345678', '1234567890123456789',
  '9223372036854775806', '9223372036854775807', '9223372036854775808', '-9223372036854775807', '-9223372036854775808', '-9223372036854775809',
  '9223372036854775807.0', '9223372036854775807.000000', '9.223372036854775807e18', '922337203685477580.7e1', '92233720368547758070e-1',
  '9.223372036854775808e18', '-9.223372036854775808e18', '-9223372036854775808.0', '18446744073709551616', '123456789012345678901234567890',
  '12345678901234567890.123456789', '1.000000000000000000001', '0.99999999999999999999', '1e400', '-1e400', '1e-400', '1e1000', '-1e-1000',
  '5e-324', '1.7976931348623157e308', '1e16', '1e+2', '0.5', '-0.5',
  '9223372036854775807.5', '-9223372036854775808.5', '9223372036854775806.9999999999999999999', '-9223372036854775807.00000000000000000001',
  '0.9223372036854775807e19', '-92233720368547758080e-1', '-92233720368547758090e-1', '1e-16383', '-0.0e-16382', '0e131071', '1e131071',
];

/** Characters some readers call spaces that are not the six ASCII whitespace characters. */
const MORE_SPACES = [
  '\u00a0', '\u0085', '\u1680', '\u180e', '\u2000', '\u2002', '\u2003', '\u2007', '\u2009', '\u200a', '\u200b', '\u2028', '\u2029',
  '\u202f', '\u205f', '\u3000', '\ufeff', '\u001c', '\u001d', '\u001e', '\u001f', '\u0008', '\u007f',
];

const UNICODE_SPACES = ['\u00a0', '\u2003', '\u3000', '\u2028', '\u0085', '\ufeff', '\u200b', '\u1680', '\u202f'];

const HAND_STRINGS = [
  '', ' ', '\t', '12', ' 12', '12 ', '\t12\n', ' \r\n\v\f12\t', '+12', '-12', ' -12 ', '+ 12', '- 12', '--12', '+-12', '007', '-007', '+007',
  '000000000000000000000012', '-000000000000000000000012', '0', '-0', '+0', '00', '1 2', '12.0', '12.', '.5', '5.', '-.5', '+.5e1', '.', '-', '+',
  '1e3', '1E-2', ' 2.5e+4 ', '1e', 'e3', '1e+', '1.2.3', '1e3.5', '0x1A', '0b101', '1_000', '1,5', '1,000', '1 000', '12abc', 'abc12',
  'NaN', 'nan', '-NaN', 'Infinity', '-Infinity', '+Infinity', 'inf', '-inf', 'infinity', 'true', 'false', 'null', '[1]', '{"id": 1}',
  '\u0661\u0662', '\uff11\uff12', '\u00bd', '\u2460', '\u0661\u066b\u0665',
  '123456789012345678', '-123456789012345678', '1234567890123456789', '9223372036854775807', '-9223372036854775808', ' 9223372036854775807 ',
  '+9223372036854775807', '9223372036854775808', '-9223372036854775809', '99999999999999999999', '9007199254740993',
  '1e9999', '-1e-9999', '1.5e+9999', '1e99999', '1e131072', '-1e-16384', '1e-16383', `0.${'0'.repeat(16382)}1`, `0.${'0'.repeat(16383)}1`,
  '9'.repeat(131073), `1${'0'.repeat(131071)}`,
  ...UNICODE_SPACES.flatMap((s) => [`${s}12`, `12${s}`, `${s}1.5`]),
  '1,2, 3', '1,2,3', ' 3 , 1 ', '1,,2', '1,2,', ',1', '1;2', '1 ,\t2', '12,', '1.5,2', '-1,2', '+1,2',
  'é', 'naïve', '日本語', '😀', '👩‍👩‍👧', 'עברית', 'العربية', '\u200b', 'e\u0301', '\u2028\u2029', 'Ω≈ç√', 'a\\b"c\'d', '\u0001\u001f', '\ud83d\ude00\ud83d\ude00',
  '\ufffd', '\ufffc', 'Z', 'T', '\u{10fffd}',
  // text_numeric: spaces that are not ASCII whitespace, around and inside a number
  ...MORE_SPACES.flatMap((c) => [`${c}7`, `7${c}`, `${c}-7.5e1${c}`]), '1\u00a0000', '1\u2009000', '\u3000\u3000', '\u00a0',
  ' \t\n\v\f\r-7.5e+1\r\f\v\n\t ', '\v\v.5', '5.\f', '\r\n',
  // text_numeric: the shapes of a decimal
  '1.e5', '1.E-5', '.e5', '-.e5', '+.e5', '-.', '+.', '.5.', '+-1', '-+1', '1e+-5', '1e5.', '1e5e5', 'e', 'E', '1e05', '1E+005', '-1e-0005',
  '00.00', '-.0', '+0.', '-0.0e0', '0.0e-3', '1 e5', '1e 5', '1. 5', '- 1', '1d5', '1f', '0x10', '0o7', '1e0x1', '½', '1/2', '(1)', '$1', '1%',
  '١٢٣', '۱۲۳', '१२३', '𝟏𝟐', '１.５', '1\u066b5', '1\u00b75', '\u22121', '\u2013\u0031', '1e\u22125',
  // text_numeric: beyond (or just within) what numeric holds, and exponents beyond int
  '0e1073741823', '0e1073741822', '0e1073741824', '-0e2147483648', '-0.000e99999999999999999999', '0e-16383', '0e-16384', '0.0e-16382', '0.0e-16383',
  '1e1073741823', '-1e1073741822', '1e-1073741824', '1e2147483648', '-1e-2147483649', '1e9223372036854775808', '1e99999999999999999999999',
  '9.9e131071', '9.9e131072', '1e-16384', '-1.5e-16382', '15e-16384',
  `${'0'.repeat(200000)}1`, `-${'0'.repeat(200000)}1.5`, `1.${'0'.repeat(16383)}`, `1.${'0'.repeat(16384)}`, `.${'0'.repeat(16382)}5`,
  `${'9'.repeat(131072)}.5`, `-${'9'.repeat(131072)}`, `${'9'.repeat(131072)}0e-1`, `${'9'.repeat(131071)}e1`, `${'9'.repeat(131071)}e2`,
  `${'1'.repeat(1000)}e-1000`, `0.${'1'.repeat(16383)}e16383`, `0.${'1'.repeat(16384)}e1`, `0.${'1'.repeat(16384)}`,
];

const HAND_TIMES = [
  '2025-03-01T12:34:56Z', '2025-03-01T12:34:56+02:00', '2025-03-01T12:34:56-05:30', '2025-03-01T12:34:56-0530', '2025-03-01T12:34:56+0530',
  '2025-03-01T12:34:56+05', '2025-03-01T12:34:56-00:00', '2025-03-01T12:34:56+00:00', '2025-03-01T12:34:56+14:00', '2025-03-01T12:34:56-12:00',
  ...Array.from({ length: 9 }, (_, i) => `2025-03-01T12:34:56.${'123456789'.slice(0, i + 1)}Z`),
  ...Array.from({ length: 9 }, (_, i) => `2025-03-01T12:34:56.${'987654321'.slice(0, i + 1)}+02:00`),
  '2025-03-01T12:34:56.000000001Z', '2025-03-01T12:34:56.9999994Z', '2025-03-01T12:34:56.9999996Z', '2024-12-31T23:59:59.9999996Z',
  '2024-12-31T23:59:59.999999999-01:00', '1969-12-31T23:59:59.999999Z', '1969-12-31T23:59:59.9999999Z', '1970-01-01T00:00:00Z',
  '2025-03-01 12:34:56', '2025-03-01 00:00:00', '2025-03-01 23:59:59', '2025-03-01 12:34:56.5', '2025-03-01 12:34:56+02:00', '2025-03-01 12:34',
  '2025-03-01T12:34', '2025-03-01T12:34Z', '2025-03-01T12:34:56', '2025-03-01T12:34:56.5',
  '2025-03-01', '2024-02-29', '2023-02-29', '1900-02-29', '2000-02-29', '2100-02-29', '2400-02-29', '2024-02-29T23:59:59Z', '2024-02-29 12:00:00',
  '2025-02-30', '2025-02-31', '2025-04-31', '2025-13-01', '2025-00-10', '2025-01-00', '2025-01-32', '2025-02-30T12:00:00Z', '2025-13-01T00:00:00Z',
  '2025-03-01T24:00:00Z', '2025-03-01T24:00:00', '2025-03-01 24:00:00', '2025-03-01T24:00:01Z', '2025-03-01T23:60:00Z', '2025-03-01T12:34:60Z',
  '2025-03-01T25:00:00Z', '2025-03-01T12:34:61Z', '2025-03-01T99:99:99Z', '2025-03-01T12:34:56+24:00', '2025-03-01T12:34:56+05:60',
  '2025-03-01T00:30:00+01:00', '2025-03-01T23:30:00-05:00', '2025-03-01T23:59:59-14:00', '2025-03-01T00:00:00+14:00',
  '2025-03-01t12:34:56z', '2025-03-01T12:34:56z', '2025-03-01t12:34:56Z',
  '0001-01-01T00:00:00Z', '0001-01-01T00:00:00-01:00', '0001-01-01', '9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59-14:00', '9999-12-31',
  '2025-03-01Z', '2025-03-01+02:00', '2025-03-01-05', '2025-03-01T12:34:56+0', '2025-03-01T12:34:56+2', '2025-03-01T12:34:56.Z',
  '2025-03-01T12:34:56,5Z', '2025-3-1', '2025-03-1', '25-03-01', '20250301', '20250301T123456Z', '+002025-03-01', '-2025-03-01',
  ' 2025-03-01T12:34:56Z', '2025-03-01T12:34:56Z ', '2025-03-01 ', '2025-03-01garbage', '2025-03-01T', '2025-03-01T12', '2025-03-0112:00',
  '2025-03-01T12:34:56Zjunk', '2025-03-01T12:34:56+02:00:00', '2025-03-01T12:34:56 +02:00', '2025-03-01  12:34:56', '2025-03-01T12:34:56 UTC',
  '2025-03-01 12:34:56 Europe/Berlin', '2025-03-01T12:34:56Europe/Berlin', '2025-03-01/2025-03-05', '2025-03-01T12:34:56Z/P1D',
  'yesterday', 'today', 'tomorrow', 'now', 'epoch', 'infinity', '-infinity', 'allballs', '1740832496', 'Sat, 01 Mar 2025 12:34:56 GMT',
  '03/01/2025', '01.03.2025', '2025-W09-6', '2025-060', '2025-03-01T12:34:56.123+02:00', '２０２５-03-01', '2025\u201003\u201001',
  // lower-case t and z, and what is not them
  '2025-03-01t12:34', '2025-03-01 12:34z', '2025-03-01t12:34:56.5z', '2025-03-01t12:34:56+02:00', '2025-03-01T12:34:56Z'.toLowerCase(),
  '2025-03-01\t12:34:56Z', '2025-03-01\u202f12:34:56Z', '2025-03-01ｔ12:34:56Z', '2025-03-01T12:34:56ｚ', '2025-03-01T12:34:56\u01b5',
  '2025-03-01tt12:34:56Z', '2025-03-01T12:34:56zz', '2025-03-01 12:34:56 z',
  // a date followed by an offset and no time
  '2025-03-01z', '2025-03-01+0200', '2025-03-01 +02:00', '2025-03-01-05:00', '2025-03-01+14', '2024-02-29Z',
  // hours 24, second 60 (also a real leap second), minute 60, offsets at and beyond the bounds of the contract's hours 00-23
  '2025-03-01T24:00Z', '2025-03-01 24:00', '2025-03-01T23:59:60', '2016-12-31T23:59:60Z', '2016-12-31 23:59:60', '2025-03-01T12:60Z',
  '2025-03-01T12:34:56+15:00', '2025-03-01T12:34:56-15:59', '2025-03-01T12:34:56+16:00', '2025-03-01T12:34:56-16:00',
  '2025-03-01T12:34:56+18:00', '2025-03-01T12:34:56+23:59', '2025-03-01T12:34:56-2359', '2025-03-01T12:34:56+23', '2025-03-01 12:34-20',
  '2025-03-01T12:34:56+24', '2025-03-01T12:34:56-0060', '2025-03-01T12:34:56+0:00',
  // fractions of 1-9 digits (rounded to the microsecond) and longer ones (no time)
  `2025-03-01T12:34:56.${'1'.repeat(30)}Z`, `2025-03-01T12:34:56.${'4'.repeat(80)}+05:30`, `2025-03-01T12:34:56.${'6'.repeat(100)}z`,
  `2025-03-01T12:34:56.${'1'.repeat(120)}Z`, `2025-03-01 12:34:56.${'0'.repeat(200)}`, `2025-03-01T12:34:56.${'9'.repeat(1000)}Z`,
];

const HAND_OTHER = [
  'true', 'false', 'null', '{}', '[]', '[[]]', '[null]', '{"id": 12}', '{"id": "12"}', '{"id": " 12 "}', '{"id": "+12"}', '{"id": 12.0}', '{"id": 12.5}',
  '{"id": 1e3}', '{"id": -0}', '{"id": -9223372036854775808}', '{"id": 9223372036854775807}', '{"id": 9223372036854775808}',
  '{"id": "9223372036854775807"}', '{"id": null}', '{"id": true}', '{"id": {"id": 3}}', '{"id": [3]}', '{"name": "x"}',
  '{"id": 7, "name": "Owner", "email": "o@example.com", "value": 7}', '{"id": 1, "id": 2}', '{"ID": 5}', '{"value": 5}', '{"id": "abc"}', '{"id": ""}',
  '{"id": "\u200312"}', '{"k": {"id": 1}}', '[1]', '[1, 2, 3]', '["a", "b"]', '[1, "2", null, true, {"id": 3}, [4], "x", 1.5, -0, "007"]',
  '[9223372036854775807, -9223372036854775808, 9223372036854775808, 1e3, 1E-2, "9223372036854775807"]', '[[1, 2], [3]]', '["", "é", "😀", ""]',
  '[1e3, 1E-2, 2.5e+4]', '["1,2", "3"]', '[{"id": "12"}, {"id": 12}]', '[" 5", "5 ", "+5", "-5", "5.0", ".5"]', '["\u2003 1", 2]', '[false, true, 0, 1]',
  '{"a": [1, {"b": [2, {"c": null}]}]}', '[[[[[[[[[[1]]]]]]]]]]', '{"": ""}', '{"id": 1, "label": "one"}',
  // objects and arrays as they are (jsonb_object, jsonb_array): key order, duplicate keys, exact numbers, odd text
  '{"b": 1, "a": 2, "aa": 3}', '{"a": 1, "a": 2}', '{"x": 1500.00, "y": 1e3, "z": -0}', '[1500.00, 1e3, -0, 1E-2]', '{"é": "😀", "\\u0001": "\\"quoted\\""}',
  '[{}]', '{"": []}', '[[], {}]', '{"k": "{}"}', '["[]"]', '[null, null]', '{"nested": {"deeper": {"deepest": [{"a": [true, false, null]}]}}}',
  '{"big": 123456789012345678901234567890.123456789, "tiny": 1e-300}', '[9223372036854775808, -1e400]', '{"k": "\\u2028\\u2029"}',
  `[${Array.from({ length: 300 }, (_, i) => i).join(', ')}]`, `{${Array.from({ length: 100 }, (_, i) => `"k${i}": ${i}`).join(', ')}}`,
];

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

function genNumber(r: Rng): string {
  const sign = r.chance(0.3) ? '-' : '';
  const len = r.pick([1, 1, 1, 2, 3, 5, 8, 15, 16, 17, 18, 19, 20, 25, 40]);
  const int = len === 1 ? String(r.int(0, 9)) : String(r.int(1, 9)) + r.digits(len - 1);
  const frac = r.chance(0.45) ? `.${r.chance(0.2) ? '0'.repeat(r.int(1, 4)) : r.digits(r.int(1, 12))}` : '';
  const exp = r.chance(0.35) ? `${r.pick(['e', 'E'])}${r.pick(['', '+', '-'])}${r.chance(0.1) ? '0' : ''}${r.pick([0, 1, 2, 3, 6, 17, 18, 19, 20, r.int(0, 400)])}` : '';
  return sign + int + frac + exp;
}

/** An integer near a bound of bigint or of a double, written plainly or as an integral decimal. */
function genBoundaryInteger(r: Rng): string {
  const base = r.pick([0n, 1n, 2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 10n ** 18n, -(10n ** 18n), 10n ** 19n]);
  const n = base + BigInt(r.int(-3, 3));
  const s = n.toString();
  const sign = s.startsWith('-') ? '-' : '';
  const digits = s.replace('-', '');
  switch (r.int(0, 4)) {
    case 0:
      return s;
    case 1:
      return `${s}.${'0'.repeat(r.int(1, 6))}`;
    case 2:
      return `${s}e0`;
    case 3: {
      const p = r.int(1, Math.max(1, digits.length - 1));
      return digits.length > 1 ? `${sign}${digits.slice(0, digits.length - p)}.${digits.slice(digits.length - p)}e${p}` : s;
    }
    default:
      return digits === '0' ? '0.0e-1' : `${s}0e-1`;
  }
}

function genNumberString(r: Rng): string {
  let core = r.pick([() => genNumber(r), () => genBoundaryInteger(r), () => String(r.int(0, 99999)), () => r.pick(['NaN', 'Infinity', '-Infinity', 'inf'])])();
  if (r.chance(0.15) && !core.startsWith('-')) core = `+${core}`;
  if (r.chance(0.15)) core = core.replace(/^([+-]?)/, `$1${'0'.repeat(r.int(1, 20))}`);
  if (r.chance(0.1)) core = core.replace(/^([+-]?)0\./, '$1.');
  if (r.chance(0.05) && /^[+-]?[0-9]+$/.test(core)) core = `${core}.`;
  const ws = (): string => Array.from({ length: r.int(0, 3) }, () => r.pick([' ', '\t', '\n', '\r', '\v', '\f'])).join('');
  if (r.chance(0.3)) core = ws() + core;
  if (r.chance(0.3)) core = core + ws();
  if (r.chance(0.08)) {
    const at = r.int(0, core.length);
    core = core.slice(0, at) + r.pick([',', '_', ' ', 'x', 'e', '.', '\u066b', '\uff11', '-', '+']) + core.slice(at);
  }
  if (r.chance(0.03)) core = r.pick(UNICODE_SPACES) + core;
  return str(core);
}

const CODE_POINT_RANGES: readonly [number, number][] = [
  [0x20, 0x7e], [0x20, 0x7e], [0x01, 0x1f], [0xa0, 0xff], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff], [0x300, 0x36f], [0x200b, 0x200f],
  [0x2028, 0x2029], [0xfeff, 0xfeff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0x1f300, 0x1faff], [0x10000, 0x10fffd], [0x30, 0x39],
];

function genText(r: Rng, maxLen = 12): string {
  let s = '';
  const n = r.int(0, maxLen);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r.pick(CODE_POINT_RANGES);
    s += String.fromCodePoint(r.int(lo, hi));
  }
  return s;
}

/** A time string: mostly valid RFC 3339 / Pipedrive / date-only, some with a field out of range or garbage. */
function genTime(r: Rng): string {
  const y = r.chance(0.8) ? r.int(1950, 2100) : r.int(1, 9999);
  const mo = r.chance(0.93) ? r.int(1, 12) : r.pick([0, 13, 19, 99]);
  const maxDay = mo >= 1 && mo <= 12 ? daysInMonth(y, mo) : 31;
  const d = r.chance(0.9) ? (r.chance(0.1) ? maxDay : r.int(1, maxDay)) : r.pick([0, maxDay + 1, 29, 30, 31, 32]);
  const h = r.chance(0.96) ? r.int(0, 23) : r.pick([25, 29, 99]);
  const mi = r.chance(0.96) ? r.int(0, 59) : r.pick([60, 61, 99]);
  const s = r.chance(0.96) ? r.int(0, 59) : r.pick([61, 99]);
  const date = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}`;
  let fraction = '';
  if (r.chance(0.5)) {
    fraction = r.digits(r.int(1, 9));
    // no exact half of a microsecond: the contract does not say how a tie rounds
    if (fraction.length > 6 && /^50*$/.test(fraction.slice(6))) fraction = fraction.slice(0, -1) + r.pick(['1', '4', '6', '9']);
  }
  const offset = (): string => {
    const oh = r.int(0, 14);
    const om = r.pick([0, 0, 30, 45, r.int(0, 59)]);
    const sign = r.pick(['+', '-']);
    return r.pick([`${sign}${pad(oh, 2)}:${pad(om, 2)}`, `${sign}${pad(oh, 2)}${pad(om, 2)}`, `${sign}${pad(oh, 2)}`, 'Z', 'Z']);
  };
  let t: string;
  switch (r.int(0, 5)) {
    case 0:
    case 1:
      t = `${date}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${fraction ? `.${fraction}` : ''}${offset()}`;
      break;
    case 2:
      t = `${date} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`; // Pipedrive v1
      break;
    case 3:
      t = `${date}${r.pick(['T', ' '])}${pad(h, 2)}:${pad(mi, 2)}${r.chance(0.5) ? `:${pad(s, 2)}${fraction ? `.${fraction}` : ''}` : ''}${r.chance(0.5) ? offset() : ''}`;
      break;
    case 4:
      t = date;
      break;
    default:
      t = `${date}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${fraction ? `.${fraction}` : ''}`;
  }
  if (r.chance(0.06)) {
    const mutations = [
      (x: string) => ` ${x}`, (x: string) => `${x} `, (x: string) => `${x}x`, (x: string) => x.slice(0, -1),
      (x: string) => x.replace('-', '/'), (x: string) => x.replace(':', ''), (x: string) => `${x}${offset()}`,
    ];
    t = r.pick(mutations)(t);
  }
  return str(t);
}

function genScalar(r: Rng): string {
  return r.pick([
    () => genNumber(r), () => genBoundaryInteger(r), () => genNumberString(r), () => str(genText(r, 6)), () => genTime(r),
    () => r.pick(['true', 'false', 'null']), () => String(r.int(0, 20)), () => str(String(r.int(0, 20))),
  ])();
}

function genComposite(r: Rng, depth = 0): string {
  const leaf = (): string => (depth < 2 && r.chance(0.2) ? genComposite(r, depth + 1) : genScalar(r));
  if (r.chance(0.5)) return `[${Array.from({ length: r.int(0, 6) }, leaf).join(', ')}]`;
  const members: string[] = [];
  if (r.chance(0.7)) members.push(`"id": ${r.pick([() => genNumber(r), () => genBoundaryInteger(r), () => genNumberString(r), () => str(String(r.int(0, 99))), leaf])()}`);
  if (r.chance(0.5)) members.push(`"name": ${str(genText(r, 8))}`);
  if (r.chance(0.3)) members.push(`"value": ${leaf()}`);
  if (r.chance(0.2)) members.push(`"nested": ${leaf()}`);
  return `{${r.chance(0.5) ? members.reverse().join(', ') : members.join(', ')}}`;
}

interface Pair {
  value: Source;
  options: Source;
}

const HAND_OPTIONS = '[{"id": 1, "label": "one"}, {"id": 2, "label": "two"}, {"id": 3, "label": "three"}, {"id": 4, "label": ""}, {"id": 5, "label": "ünï 😀"}]';
const HAND_PAIRS: Pair[] = [
  ...['1', '3', '1.0', '1e0', '10e-1', '1.5', '-1', '0', '99', '[1, 3]', '[3, 1]', '[3, 99, 1]', '[]', '[99]', '[null, 2]', '["1", 2]', '[" 2 ", "3"]',
    '[1.0, 2e0]', '[[1]]', '[{"id": 1}]', '[true]', '[4, 5]', '[1, 1]', 'null', 'true', 'false', '{}', '{"id": 1}',
    str('1,2, 3'), str('1,2,3'), str(' 3 , 1 '), str('3'), str(' 2 '), str('1,\t2'), str('1,2,'), str(',1'), str('1,,2'), str('1;2'), str('1 2'),
    str(''), str(' '), str('99'), str('99,2'), str('0001'), str('1.0'), str('+1'), str('-1'), str('1,2.5'), str('\uff11'), str('one'),
    str('1'.repeat(40)), str('4,5'), undefined]
    .map((value) => ({ value, options: HAND_OPTIONS })),
  ...['{}', '"1,2"', 'null', '1', 'true', '[]', '[1, 2, 3]', '[null, "x", 1, [1]]', undefined, '{"id": 1, "label": "one"}']
    .flatMap((options) => [{ value: str('1,2, 3'), options }, { value: '1', options }, { value: '[1, 2]', options }]),
  { value: '2', options: '[{"id": "2", "label": "string id"}]' },
  { value: str('2'), options: '[{"id": 2.0, "label": "two point zero"}]' },
  { value: '[2]', options: '[{"id": " 2 ", "label": "spaced"}, {"label": "no id"}, {"id": null, "label": "null id"}, 7, "x", null, [2]]' },
  { value: '9223372036854775808', options: '[{"id": 9223372036854775808, "label": "beyond bigint"}, {"id": 9223372036854775807, "label": "max"}]' },
  { value: str('9223372036854775808, 9223372036854775807'), options: '[{"id": 9223372036854775808, "label": "beyond bigint"}, {"id": 9223372036854775807, "label": "max"}]' },
  { value: '[1, 2]', options: '[{"id": 1}, {"id": 2, "label": null}, {"id": 3, "label": "three"}]' },
  { value: '[1]', options: '[{"id": 1, "label": "first"}, {"id": 2, "label": "second"}]' },
  // ASCII whitespace (and only it) around ids of a text, of an array and of the options
  ...[str('\v1,\f2\r'), str('\t3\n,\v1'), str('1,\u00a02'), str('\u20031'), str('1\u3000'), str('1,\u00852'), str('\ufeff1,2'), str('1,\u001c2')]
    .map((value) => ({ value, options: HAND_OPTIONS })),
  ...['[" 1 ", "\\u000b2\\f", "\\u00a03", "\\u20034", "1e0", "0.2e1", "+3", "-0", ".5e1", "1,2", "NaN", "Infinity", "0x1"]', '["1e131072", "0e1073741822", "1e-16384", "00000000000000000000001"]']
    .map((value) => ({ value, options: HAND_OPTIONS })),
  { value: '1', options: '[{"id": "\\u00a01", "label": "nbsp"}, {"id": "\\t1\\n", "label": "tab"}, {"id": "1.", "label": "point"}, {"id": ".1e1", "label": "exp"}, {"id": "1,0", "label": "comma"}, {"id": true, "label": "bool"}, {"id": [1], "label": "array"}, {"id": {"id": 1}, "label": "object"}]' },
  { value: '[0, 5]', options: '[{"id": "0e1073741822", "label": "zero"}, {"id": "5e-16384", "label": "beyond scale"}, {"id": "5.000", "label": "five"}, {"id": -0, "label": "minus zero"}]' },
  { value: str('1,2'), options: '[{"id": 1, "label": 1500.00}, {"id": 2, "label": true}, {"id": 1, "label": "again"}]' },
];

function genPair(r: Rng): Pair {
  const ids = Array.from({ length: r.int(0, 6) }, () => r.int(1, 30)).filter((x, i, all) => all.indexOf(x) === i);
  const idText = (id: number): string => r.pick([String(id), String(id), String(id), str(String(id)), `${id}.0`, `${id}e0`]);
  let options: string = `[${ids.map((id) => `{"id": ${idText(id)}, "label": ${str(genText(r, 8))}}`).join(', ')}]`;
  if (r.chance(0.1)) options = options.replace(/^\[/, `[${r.pick(['null', '5', '"x"', '{"label": "no id"}', '[1]', '{"id": null, "label": "n"}'])}${ids.length ? ', ' : ''}`);
  if (r.chance(0.08)) options = r.pick(['{}', 'null', '"1,2"', '5', 'true']);
  const someId = (): number => (ids.length && r.chance(0.75) ? r.pick(ids) : r.int(1, 40));
  const valueId = (): string => r.pick([String(someId()), String(someId()), `${someId()}.0`, `-${someId()}`, `${someId()}.5`, str(String(someId())), 'null']);
  let value: Source;
  switch (r.int(0, 3)) {
    case 0:
      value = String(someId());
      break;
    case 1:
      value = `[${Array.from({ length: r.int(0, 5) }, valueId).join(', ')}]`;
      break;
    case 2: {
      const spaces = (): string => Array.from({ length: r.int(0, 2) }, () => r.pick([' ', '\t'])).join('');
      let list = Array.from({ length: r.int(1, 5) }, () => `${spaces()}${someId()}${spaces()}`).join(',');
      if (r.chance(0.15)) list = r.pick([(x: string) => `${x},`, (x: string) => `,${x}`, (x: string) => x.replace(',', ',,'), (x: string) => x.replace(',', ';'), (x: string) => `+${x}`, (x: string) => `${x}.5`])(list);
      value = str(list);
      break;
    }
    default:
      value = r.pick(['null', 'true', '{}', '"x"', '""', undefined, '{"id": 1}']);
  }
  return { value, options };
}

const SEED = 20250301;

function buildCorpus(): { values: Source[]; pairs: Pair[] } {
  const r = new Rng(SEED);
  const values: Source[] = [undefined, ...HAND_NUMBERS, ...HAND_STRINGS.map(str), ...HAND_TIMES.map(str), ...HAND_OTHER];
  for (let i = 0; i < 500; i++) values.push(genNumber(r));
  for (let i = 0; i < 200; i++) values.push(genBoundaryInteger(r));
  for (let i = 0; i < 500; i++) values.push(genNumberString(r));
  for (let i = 0; i < 200; i++) values.push(str(genText(r)));
  for (let i = 0; i < 900; i++) values.push(genTime(r));
  for (let i = 0; i < 300; i++) values.push(genComposite(r));
  const pairs = [...HAND_PAIRS];
  for (let i = 0; i < 400; i++) pairs.push(genPair(r));
  return { values, pairs };
}

// ---------------------------------------------------------------------------------------------
// Comparison and reporting

function same(a: Out, b: Out): boolean {
  if (a === null || b === null || typeof a === 'string' || typeof b === 'string') return a === b;
  if (!Array.isArray(a) || !Array.isArray(b)) return false; // an error is never expected
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A value for a report line: JSON text as is, other values as JSON; control and non-ASCII characters as \\uXXXX. */
function shown(x: unknown, max = 90): string {
  const raw = typeof x === 'string' ? x : JSON.stringify(x);
  const s = raw.replace(/[\u0000-\u001f\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

function isError(x: Out | undefined): x is { error: string } {
  return x !== null && x !== undefined && typeof x === 'object' && !Array.isArray(x);
}

interface Mismatch {
  input: string;
  expected: Out;
  got: Out;
}

function mismatchReport(name: string, total: number, mismatches: Mismatch[]): string {
  const lines = mismatches.slice(0, 40).map((m) => `  input ${shown(m.input)}  expected ${shown(m.expected)}  got ${shown(m.got)}`);
  return `${name}: ${mismatches.length} of ${total} values disagree with the documented contract\n${lines.join('\n')}${mismatches.length > 40 ? '\n  …' : ''}`;
}

// ---------------------------------------------------------------------------------------------

/** A record holding the value under "k" (or not at all): the readers read `record -> 'k'`. */
const recordText = (s: Source): string => (s === undefined ? '{}' : `{"k": ${s}}`);

describe('gold_state JSON readers against their documented contract (real PostgreSQL, hostile corpus)', () => {
  let database: string | undefined;
  let db: pg.Client;
  const { values, pairs } = buildCorpus();
  const parsed = values.map((s) => (s === undefined ? undefined : parseExact(s)));
  let results: Record<string, Out>[] = [];
  let pairResults: Out[] = [];

  beforeAll(async () => {
    const scratch = await createScratchDatabase(inject('databaseUrl'), 'jsonreaders');
    database = scratch.name;
    db = new pg.Client({ connectionString: scratch.url });
    await db.connect();
    // Session settings far from UTC and ISO: "read as UTC" must not depend on them.
    await db.query(`SET TimeZone = 'Asia/Kathmandu'; SET DateStyle = 'SQL, DMY'`);
    await db.query(FRAMEWORK_DDL);
    // One probe per value: every reader in its own exception block, so one error shows as that reader's result.
    const blocks = READERS.map(
      (r, i) => `BEGIN out := out || jsonb_build_object('${i}', ${r.sql}); EXCEPTION WHEN others THEN out := out || jsonb_build_object('${i}', jsonb_build_object('error', SQLERRM)); END;`,
    );
    await db.query(`CREATE SCHEMA probe;
      CREATE FUNCTION probe.readers(v jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE out jsonb := '{}';
      BEGIN
        ${blocks.join('\n        ')}
        RETURN out;
      END $$;
      CREATE FUNCTION probe.labels(v jsonb, o jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
      BEGIN
        RETURN jsonb_build_object('r', to_jsonb(gold_state.jsonb_option_labels(v, o)));
      EXCEPTION WHEN others THEN RETURN jsonb_build_object('r', jsonb_build_object('error', SQLERRM));
      END $$;`);
    const res = await db.query<{ n: string; out: Record<string, Out> }>(
      `SELECT c.n, probe.readers(c.rec::jsonb -> 'k') AS out FROM unnest($1::text[]) WITH ORDINALITY AS c(rec, n) ORDER BY c.n`,
      [values.map(recordText)],
    );
    results = res.rows.map((row) => row.out);
    const pr = await db.query<{ n: string; out: { r: Out } }>(
      `SELECT c.n, probe.labels(c.v::jsonb -> 'k', c.o::jsonb -> 'k') AS out FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS c(v, o, n) ORDER BY c.n`,
      [pairs.map((p) => recordText(p.value)), pairs.map((p) => recordText(p.options))],
    );
    pairResults = pr.rows.map((row) => row.out.r);
  });

  afterAll(async () => {
    await db?.end();
    if (database) await dropScratchDatabase(inject('databaseUrl'), database);
  });

  it(`the corpus is the seeded one (${values.length} values, ${pairs.length} option pairs), and every value reached every reader`, () => {
    expect(values.length).toBeGreaterThan(3000);
    expect(pairs.length).toBeGreaterThan(450);
    expect(results).toHaveLength(values.length);
    expect(pairResults).toHaveLength(pairs.length);
    for (const r of results) expect(Object.keys(r).sort()).toEqual(READERS.map((_, i) => String(i)).sort());
    // The random part is the same on every run.
    expect(buildCorpus().values).toEqual(values);
  });

  it('every function over every corpus value (and every option pair) in one statement succeeds', async () => {
    const counts = READERS.map((r) => `count(${r.call})`).join(', ');
    const statement = db.query(
      `SELECT (SELECT row(count(*), ${counts})::text FROM (SELECT rec::jsonb -> 'k' AS v FROM unnest($1::text[]) AS rec) c) AS singles,
              (SELECT count(gold_state.jsonb_option_labels(p.v::jsonb -> 'k', p.o::jsonb -> 'k')) FROM unnest($2::text[], $3::text[]) AS p(v, o)) AS pairs`,
      [values.map(recordText), pairs.map((p) => recordText(p.value)), pairs.map((p) => recordText(p.options))],
    );
    await expect(statement).resolves.toBeDefined();
  });

  it('no function raises on any single corpus value or option pair (each call on its own)', () => {
    const errors = results.flatMap((r, n) =>
      READERS.flatMap((reader, i) => {
        const got = r[String(i)];
        return isError(got) ? [`${reader.name}(${shown(values[n] ?? '<missing key>')}): ${got.error}`] : [];
      }),
    );
    const pairErrors = pairResults.flatMap((got, n) =>
      isError(got) ? [`jsonb_option_labels(${shown(pairs[n]!.value ?? '<missing>')}, ${shown(pairs[n]!.options ?? '<missing>')}): ${got.error}`] : [],
    );
    const all = [...errors, ...pairErrors];
    expect(all.length, `${all.length} calls raised an error:\n${all.slice(0, 60).join('\n')}`).toBe(0);
  });

  for (const [i, reader] of READERS.entries()) {
    it(`${reader.name} agrees with its documented contract on every corpus value`, () => {
      const mismatches: Mismatch[] = [];
      for (const [n, v] of parsed.entries()) {
        const expected = reader.expected(v);
        const got = results[n]![String(i)]!;
        if (!same(expected, got)) mismatches.push({ input: values[n] ?? '<missing key>', expected, got });
      }
      expect(mismatches.length, mismatchReport(reader.name, values.length, mismatches)).toBe(0);
    });
  }

  it('jsonb_option_labels agrees with its documented contract on every (value, options) pair', () => {
    const mismatches: Mismatch[] = [];
    for (const [n, p] of pairs.entries()) {
      const expected = optionLabels(p.value === undefined ? undefined : parseExact(p.value), p.options === undefined ? undefined : parseExact(p.options));
      const got = pairResults[n]!;
      if (!same(expected, got)) mismatches.push({ input: `value ${p.value ?? '<missing>'} options ${p.options ?? '<missing>'}`, expected, got });
    }
    expect(mismatches.length, mismatchReport('jsonb_option_labels', pairs.length, mismatches)).toBe(0);
  });

  it('the reference reading itself: decimals print as numeric does, times count from the epoch', () => {
    // Guards the test's own helpers with values whose answers are known by hand.
    expect(['1e3', '1E-2', '2.5e+4', '-0', '-0.00', '1500.00', '1.0e-3', '0e5', '123.456e-2'].map((s) => jsonNumber(s).text)).toEqual([
      '1000', '0.01', '25000', '0', '0.00', '1500.00', '0.0010', '0', '1.23456',
    ]);
    expect(parseTime('1970-01-01T00:00:00Z')?.micros).toBe(0n);
    expect(parseTime('2000-03-01T00:00:00+01:00')?.micros).toBe(951_865_200_000_000n);
    expect(parseTime('0001-01-01')?.micros).toBe(-62_135_596_800_000_000n);
    expect(daysFromCivil(2025, 3, 1)).toBe(20148);
    expect([' 2.5e+4 ', '1.e5', '.5', '5.', '-0.00', '+.5e1', '0e999999999', '0e99999999999', '\u00a012', '1e-16384', 'NaN', '1e'].map((t) => textNumeric(t)?.text ?? null)).toEqual([
      '25000', '100000', '0.5', '5', '0.00', '5', '0', null, null, null, null, null,
    ]);
    expect(textNumeric(`0.${'0'.repeat(16382)}1`)?.scale).toBe(16383);
    expect(textNumeric(`${'9'.repeat(131072)}`)?.integerPart.length).toBe(131072);
    expect(textNumeric(`${'9'.repeat(131073)}`)).toBeUndefined();
    expect(parseTime('2025-03-01t12:34:56z')?.micros).toBe(parseTime('2025-03-01T12:34:56Z')?.micros);
    expect([parseTime('2025-03-01T24:00:00Z'), parseTime('2025-03-01Z'), parseTime('2025-02-29')]).toEqual([undefined, undefined, undefined]);
  });
});
