/**
 * The strict check of one JSON-lines record for staging (`dedup.mode: 'line'`) datasets, whose
 * record lands in a PostgreSQL `jsonb` column. The engine's own JSON reader (DuckDB) accepts more
 * than PostgreSQL (`NaN`, `Infinity`, trailing commas, `\u0000`, numbers beyond any numeric) and
 * reads a repeated key's first value where jsonb keeps the last, so a record it lets through could
 * fail the whole file's load or disagree with its own id. Each line is therefore checked here,
 * in the staging pass, against RFC 8259 and what `jsonb` can hold; a line that fails costs only
 * itself (docs/ingestion.md):
 *
 *   malformed_row     not JSON (RFC 8259), or JSON but not an object
 *   unsupported_json  JSON that jsonb cannot hold, or that readers would not agree on:
 *                     a \u0000 escape, an unpaired surrogate escape (\uD800 alone), a number
 *                     outside PostgreSQL numeric's range (more than 131,072 digits before the
 *                     point or 16,383 after it, once the exponent is applied), nesting deeper
 *                     than MAX_JSON_DEPTH, or a key repeated at the top level
 *
 * Expects a line that is valid UTF-8 without NUL bytes (the staging pass checks that first).
 */

export interface JsonLineProblem {
  reason: 'malformed_row' | 'unsupported_json';
  detail: string;
}

/** Deepest nesting of objects and arrays a record may have (PostgreSQL's parser recurses per level). */
export const MAX_JSON_DEPTH = 1000;
/** PostgreSQL numeric: decimal digits before the point (NUMERIC_WEIGHT_MAX + 1 base-10000 digits). */
const NUMERIC_MAX_INT_DIGITS = 131_072;
/** PostgreSQL numeric: digits after the point (NUMERIC_DSCALE_MAX). */
const NUMERIC_MAX_SCALE = 16_383;
/** PostgreSQL refuses exponents beyond this whatever the digits (INT_MAX / 2). */
const NUMERIC_MAX_EXPONENT = 1_073_741_823;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

class NotJson extends Error {}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hex4(b: Buffer, at: number): number {
  if (at + 4 > b.length) return -1;
  let v = 0;
  for (let i = at; i < at + 4; i++) {
    const c = b[i]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** Checks one record (see the module comment); undefined when it can be staged. */
export function checkJsonLine(b: Buffer): JsonLineProblem | undefined {
  let pos = 0;
  let unsupported: string | undefined;
  const note = (detail: string) => {
    unsupported ??= detail;
  };
  const fail = (what: string): never => {
    throw new NotJson(`${what} at byte ${pos + 1}`);
  };
  const skipWs = () => {
    while (pos < b.length && isWs(b[pos]!)) pos++;
  };

  /** A string from the opening quote at `pos`; returns the index after the closing quote. */
  const string = (): number => {
    const start = pos;
    pos++;
    for (;;) {
      if (pos >= b.length) {
        pos = start;
        fail('a string that is never closed');
      }
      const c = b[pos]!;
      if (c === QUOTE) return ++pos;
      if (c < 0x20) fail('a control character (U+00' + c.toString(16).padStart(2, '0').toUpperCase() + ') inside a string (it must be escaped)');
      if (c !== BACKSLASH) {
        pos++;
        continue;
      }
      const e = b[pos + 1];
      if (e === 0x75 /* u */) {
        const v = hex4(b, pos + 2);
        if (v < 0) fail('a \\u escape without four hex digits');
        if (v === 0) note(`a \\u0000 escape at byte ${pos + 1} (PostgreSQL jsonb cannot hold U+0000)`);
        if (v >= 0xd800 && v <= 0xdbff) {
          const low = b[pos + 6] === BACKSLASH && b[pos + 7] === 0x75 ? hex4(b, pos + 8) : -1;
          if (low >= 0xdc00 && low <= 0xdfff) {
            pos += 12;
            continue;
          }
          note(`an unpaired surrogate escape \\u${v.toString(16)} at byte ${pos + 1} (a high surrogate must be followed by a low one)`);
        } else if (v >= 0xdc00 && v <= 0xdfff) {
          note(`an unpaired surrogate escape \\u${v.toString(16)} at byte ${pos + 1} (a low surrogate without a high one)`);
        }
        pos += 6;
        continue;
      }
      if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        pos += 2;
        continue;
      }
      fail('an invalid escape in a string');
    }
  };

  const number = (): void => {
    const start = pos;
    if (b[pos] === 0x2d) pos++;
    const intStart = pos;
    if (b[pos] === 0x30) pos++;
    else if (pos < b.length && b[pos]! >= 0x31 && b[pos]! <= 0x39) while (pos < b.length && isDigit(b[pos]!)) pos++;
    else fail('a number without digits');
    const intEnd = pos;
    let fracStart = pos;
    let fracEnd = pos;
    if (b[pos] === 0x2e) {
      pos++;
      fracStart = pos;
      while (pos < b.length && isDigit(b[pos]!)) pos++;
      fracEnd = pos;
      if (fracEnd === fracStart) fail('a number with no digit after the decimal point');
    }
    let expSign = 1;
    let expStart = pos;
    let expEnd = pos;
    if (b[pos] === 0x65 || b[pos] === 0x45) {
      pos++;
      if (b[pos] === 0x2b || b[pos] === 0x2d) expSign = b[pos++] === 0x2d ? -1 : 1;
      expStart = pos;
      while (pos < b.length && isDigit(b[pos]!)) pos++;
      expEnd = pos;
      if (expEnd === expStart) fail('a number with no digit in its exponent');
    }
    // The range PostgreSQL numeric holds (src/backend/utils/adt/numeric.c, set_var_from_str / make_result).
    let e = expStart;
    while (e < expEnd - 1 && b[e] === 0x30) e++;
    const expDigits = expEnd - e;
    const exponent = expDigits === 0 ? 0 : expDigits > 10 ? Infinity : expSign * Number(b.toString('latin1', e, expEnd));
    const text = () => {
      const t = b.toString('latin1', start, pos);
      return t.length > 40 ? `${t.slice(0, 20)}…${t.slice(-12)} (${t.length} characters)` : t;
    };
    if (Math.abs(exponent) > NUMERIC_MAX_EXPONENT) return note(`the number ${text()} is outside PostgreSQL numeric's range`);
    const scale = Math.max(0, fracEnd - fracStart - exponent);
    if (scale > NUMERIC_MAX_SCALE) return note(`the number ${text()} has more than ${NUMERIC_MAX_SCALE} digits after the decimal point (PostgreSQL numeric's limit)`);
    let first = -1;
    for (let i = intStart; i < intEnd && first < 0; i++) if (b[i] !== 0x30) first = i - intStart;
    for (let i = fracStart; i < fracEnd && first < 0; i++) if (b[i] !== 0x30) first = intEnd - intStart + (i - fracStart);
    if (first >= 0 && intEnd - intStart - 1 - first + exponent >= NUMERIC_MAX_INT_DIGITS) {
      note(`the number ${text()} has more than ${NUMERIC_MAX_INT_DIGITS} digits before the decimal point (PostgreSQL numeric's limit)`);
    }
  };

  const literal = (word: string): void => {
    for (let i = 0; i < word.length; i++) if (b[pos + i] !== word.charCodeAt(i)) fail('an unexpected character');
    pos += word.length;
  };

  // Containers open (true: object), iteratively: no recursion however deep the record.
  const stack: boolean[] = [];
  const topKeys = new Set<string>();
  let depthNoted = false;
  let kind = '';
  try {
    skipWs();
    if (pos >= b.length) fail('nothing');
    let expectValue = true;
    for (;;) {
      if (expectValue) {
        skipWs();
        const c = b[pos];
        if (stack.length === 0) kind = c === 0x7b ? 'object' : c === 0x5b ? 'array' : c === QUOTE ? 'string' : c === 0x74 || c === 0x66 ? 'boolean' : c === 0x6e ? 'null' : 'number';
        if (c === 0x7b || c === 0x5b) {
          pos++;
          stack.push(c === 0x7b);
          if (stack.length > MAX_JSON_DEPTH && !depthNoted) {
            depthNoted = true;
            note(`objects and arrays nested more than ${MAX_JSON_DEPTH} deep`);
          }
          skipWs();
          if (b[pos] === (c === 0x7b ? 0x7d : 0x5d)) {
            pos++;
            stack.pop();
            expectValue = false;
            continue;
          }
          if (c === 0x5b) continue;
          // first member of an object: its key
        } else {
          if (c === QUOTE) string();
          else if (c === 0x74) literal('true');
          else if (c === 0x66) literal('false');
          else if (c === 0x6e) literal('null');
          else if (c === 0x2d || (c !== undefined && isDigit(c))) number();
          else fail(c === undefined ? 'the line ends where a value is expected' : 'an unexpected character where a value is expected');
          expectValue = false;
          continue;
        }
      } else {
        skipWs();
        if (stack.length === 0) {
          if (pos < b.length) fail('text after the end of the JSON value');
          break;
        }
        const inObject = stack[stack.length - 1]!;
        const c = b[pos];
        if (c === (inObject ? 0x7d : 0x5d)) {
          pos++;
          stack.pop();
          continue;
        }
        if (c !== 0x2c) fail(c === undefined ? 'the line ends inside an object or array' : `expected ',' or '${inObject ? '}' : ']'}'`);
        pos++;
        if (!inObject) {
          expectValue = true;
          continue;
        }
        skipWs();
      }
      // A member's key (after '{' or ',' in an object), then ':'.
      if (b[pos] !== QUOTE) fail(b[pos] === 0x7d ? "a ',' before '}'" : 'expected a key (a string)');
      const keyStart = pos;
      const keyEnd = string();
      if (stack.length === 1) {
        const raw = b.toString('utf8', keyStart, keyEnd);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (topKeys.has(key)) note(`the key ${JSON.stringify(key)} appears twice at the top level (readers disagree on which value counts)`);
        topKeys.add(key);
      }
      skipWs();
      if (b[pos] !== 0x3a) fail("expected ':' after a key");
      pos++;
      expectValue = true;
    }
  } catch (e) {
    if (e instanceof NotJson) return { reason: 'malformed_row', detail: `not JSON: ${e.message}` };
    throw e;
  }
  if (kind !== 'object') return { reason: 'malformed_row', detail: `JSON but not an object (${kind === 'array' ? 'an array' : `a ${kind}`}): each line must be one record` };
  if (unsupported) return { reason: 'unsupported_json', detail: unsupported };
  return undefined;
}
