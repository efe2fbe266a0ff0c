import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { classifyLine, decodeContent, readExpected, splitLines, typeRow } from '../support/lineReader';

const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';
const run = { runStart: new Date('2026-01-01T00:00:00Z') };
const row = (o: Partial<Record<string, string>> = {}) =>
  [
    o.event_time ?? '2019-10-01 00:00:00 UTC',
    o.event_type ?? 'view',
    o.product_id ?? '5',
    o.category_id ?? '2053013555631882655',
    o.category_code ?? 'electronics.smartphone',
    o.brand ?? 'apple',
    o.price ?? '10.00',
    o.user_id ?? '7',
    o.user_session ?? 's1',
  ].join(',');
const vals = (o: Partial<Record<string, string>> = {}) => {
  const f = row(o).split(',');
  const cols = ['event_time', 'event_type', 'product_id', 'category_id', 'category_code', 'brand', 'price', 'user_id', 'user_session'];
  return Object.fromEntries(cols.map((c, i) => [c, f[i]!])) as Parameters<typeof typeRow>[0];
};
const reasons = (text: string | Buffer) => readExpected(Buffer.isBuffer(text) ? text : Buffer.from(text), run);

describe('lineReader: lines', () => {
  it('splits on CRLF, LF and lone CR; the last line needs no ending', () => {
    expect(splitLines(Buffer.from('a\r\nb\nc\rd')).map(String)).toEqual(['a', 'b', 'c', 'd']);
    expect(splitLines(Buffer.from('a\r\n')).map(String)).toEqual(['a']);
    expect(splitLines(Buffer.from('a\n\n')).map(String)).toEqual(['a', '']);
    expect(splitLines(Buffer.from('a\r\r\nb')).map(String)).toEqual(['a', '', 'b']);
    expect(splitLines(Buffer.from('a\n\rb')).map(String)).toEqual(['a', '', 'b']);
  });

  it('decodes gzip, drops a UTF-8 BOM, transcodes UTF-16 LE/BE', () => {
    expect(decodeContent(gzipSync(Buffer.from('x'))).text.toString()).toBe('x');
    expect(decodeContent(Buffer.from('\ufeffé', 'utf8')).text.toString()).toBe('é');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('h😀\n', 'utf16le')]);
    expect(decodeContent(le)).toMatchObject({ encoding: 'utf-16le' });
    expect(decodeContent(le).text.toString()).toBe('h😀\n');
    const be = Buffer.from(le.subarray(2)).swap16();
    expect(decodeContent(Buffer.concat([Buffer.from([0xfe, 0xff]), be])).text.toString()).toBe('h😀\n');
  });

  it('classifies line defects in the spec order', () => {
    expect(classifyLine(Buffer.from('a,\u0000,c'), 3)).toEqual({ reason: 'nul_byte' });
    expect(classifyLine(Buffer.from([0x61, 0xff, 0x2c, 0x62, 0x2c, 0x63]), 3)).toEqual({ reason: 'invalid_utf8' });
    expect(classifyLine(Buffer.from([0x61, 0xff, 0x00]), 3)).toEqual({ reason: 'nul_byte' });
    expect(classifyLine(Buffer.from(`a,b,${'x'.repeat(1024 * 1024)}`), 3)).toEqual({ reason: 'line_too_long' });
    // An overlong line is not inspected further.
    expect(classifyLine(Buffer.from(`a,\u0000,${'x'.repeat(2 * 1024 * 1024)}`), 3)).toEqual({ reason: 'line_too_long' });
    expect(classifyLine(Buffer.concat([Buffer.from([0xff]), Buffer.from(`,b,${'x'.repeat(2 * 1024 * 1024)}`)]), 3)).toEqual({ reason: 'line_too_long' });
    expect(classifyLine(Buffer.from('a, "b",c'), 3)).toEqual({ reason: 'malformed_row' });
    expect(classifyLine(Buffer.from('a,"b" ,c'), 3)).toEqual({ reason: 'malformed_row' });
    expect(classifyLine(Buffer.from('a,"b,c'), 3)).toEqual({ reason: 'unclosed_quote' });
    expect(classifyLine(Buffer.from('a,b"c,"d'), 3)).toEqual({ reason: 'unclosed_quote' });
    // A quote inside an unquoted value is a literal character.
    expect(classifyLine(Buffer.from('a,b"c,d'), 3)).toEqual({ fields: ['a', 'b"c', 'd'] });
    expect(classifyLine(Buffer.from('a,"b"x,d'), 3)).toEqual({ reason: 'malformed_row' });
    expect(classifyLine(Buffer.from('a,b'), 3)).toEqual({ reason: 'malformed_row' });
    expect(classifyLine(Buffer.from('a,b,c,d'), 3)).toEqual({ reason: 'malformed_row' });
    expect(classifyLine(Buffer.from('a,"b,""c""",d'), 3)).toEqual({ fields: ['a', 'b,"c"', 'd'] });
    expect(classifyLine(Buffer.from('a,"",d'), 3)).toEqual({ fields: ['a', '', 'd'] });
  });
});

describe('lineReader: typing and expectations', () => {
  it('integers are digits only, in int64 range; a blank value is NULL', () => {
    for (const bad of ['1.5', '0x1F', '1e3', '1_000', '99999999999999999999', 'abc']) {
      expect(typeRow(vals({ product_id: bad }), run.runStart).reason).toBe('invalid_product_id');
      expect(typeRow(vals({ user_id: bad }), run.runStart).reason).toBe('invalid_user_id');
      expect(typeRow(vals({ category_id: bad }), run.runStart).reason).toBe('invalid_category_id');
    }
    expect(typeRow(vals({ product_id: '-0' }), run.runStart).reason).toBe('valid_product_id');
    expect(typeRow(vals({ product_id: '' }), run.runStart).reason).toBe('valid_product_id');
    expect(typeRow(vals({ category_id: '' }), run.runStart).reason).toBeUndefined();
    expect(typeRow(vals({ product_id: '+7' }), run.runStart).key).toContain('|7|s1|');
    expect(typeRow(vals({ user_id: ' 12 ' }), run.runStart).key).toContain('|12|5|');
    expect(typeRow(vals({ user_id: '9223372036854775807' }), run.runStart).reason).toBeUndefined();
    expect(typeRow(vals({ user_id: '9223372036854775808' }), run.runStart).reason).toBe('invalid_user_id');
  });

  it('event_time: the contract formats, bounds 1900-01-01 .. run start + 1 day', () => {
    expect(typeRow(vals({ event_time: '9999-12-31 23:59:59 UTC' }), run.runStart).reason).toBe('invalid_event_time');
    expect(typeRow(vals({ event_time: '1800-01-01 00:00:00 UTC' }), run.runStart).reason).toBe('invalid_event_time');
    expect(typeRow(vals({ event_time: '1900-01-01 00:00:00 UTC' }), run.runStart).reason).toBeUndefined();
    expect(typeRow(vals({ event_time: '2026-01-01 23:00:00' }), run.runStart).reason).toBeUndefined();
    expect(typeRow(vals({ event_time: '2026-01-02 01:00:00' }), run.runStart).reason).toBe('invalid_event_time');
    expect(typeRow(vals({ event_time: '2019-02-30 00:00:00 UTC' }), run.runStart).reason).toBe('invalid_event_time');
    expect(typeRow(vals({ event_time: '2019-10-01T00:00:00Z' }), run.runStart).key).toBe(typeRow(vals(), run.runStart).key);
    expect(typeRow(vals({ event_time: '' }), run.runStart).reason).toBe('valid_event_time');
  });

  it('precedence: invalid_<column> in contract order before any expectation', () => {
    expect(typeRow(vals({ event_type: 'bogus', user_id: '1.5', price: 'abc' }), run.runStart).reason).toBe('invalid_price');
    expect(typeRow(vals({ event_type: 'bogus', price: '-1' }), run.runStart).reason).toBe('valid_event_type');
    expect(typeRow(vals({ price: 'NaN' }), run.runStart).reason).toBe('invalid_price');
    expect(typeRow(vals({ price: '1e400' }), run.runStart).reason).toBe('invalid_price');
    expect(typeRow(vals({ price: '100000.01' }), run.runStart).reason).toBe('valid_price');
    expect(typeRow(vals({ user_session: '  ' }), run.runStart).reason).toBe('valid_user_session');
  });
});

describe('lineReader: accounting of a file', () => {
  it('counts blank lines, rows, duplicates (in file and across files) and warnings on kept rows', () => {
    const text = [
      H,
      row(),
      '',
      ' \t ',
      row({ event_type: 'VIEW', user_id: '+7' }), // same key as line 2
      row({ user_session: 's2', brand: '', price: '0' }),
      row({ user_session: 's2', brand: '', price: '0' }),
      row({ price: 'x' }),
      'a,b',
      '',
    ].join('\n');
    const seen = new Set<string>();
    const r = readExpected(Buffer.from(text), { ...run, seen });
    expect(r).toMatchObject({ lines: 9, rowsRead: 6, blankLines: 2, duplicatesInFile: 2, duplicatesCrossFile: 0 });
    expect(r.quarantineReasons).toEqual({ invalid_price: 1, malformed_row: 1 });
    expect(r.quarantined.map((q) => q.line)).toEqual([8, 9]);
    expect(r.silver.map((s) => s.line)).toEqual([2, 6]);
    expect(r.warnings).toEqual({ known_brand: 1, nonzero_price: 1 });
    const again = readExpected(Buffer.from(`${H}\r\n${row()}\r\n${row({ user_session: 's3' })}`), { ...run, seen });
    expect(again).toMatchObject({ rowsRead: 2, duplicatesCrossFile: 1, duplicatesInFile: 0 });
    expect(again.silver.map((s) => s.line)).toEqual([3]);
  });

  it('reads columns by header name in any order and case', () => {
    const r = reasons(`User_Session,PRICE,extra,event_type,event_time,product_id,category_id,category_code,brand,user_id\ns-x,1.50,zzz,cart,2019-11-03 08:00:00 UTC,9,1,,Acme ,11\n`);
    expect(r.silver).toHaveLength(1);
    expect(r.silver[0]).toMatchObject({ brand: 'acme', price: 1.5 });
  });

  it('refuses duplicate or missing header columns and empty files', () => {
    expect(reasons(`${H},Brand\n`).refused).toMatchObject({ kind: 'duplicate_column' });
    expect(reasons('event_time,event_type,product_id\n').refused?.message.test('missing required column(s): category_id, category_code, brand, price, user_id, user_session.')).toBe(true);
    expect(reasons('').refused).toMatchObject({ kind: 'empty' });
  });

  it('a header-only file has no rows', () => {
    expect(reasons(H)).toMatchObject({ rowsRead: 0, blankLines: 0, silver: [], quarantined: [] });
  });

  it('a lone CR inside a row makes two short lines; a stray quote costs only its own line', () => {
    const r = reasons([H, row().replace('apple', 'ap\rple'), row({ brand: '"apple' }), row({ user_session: 's9' })].join('\n'));
    expect(r.quarantined.map((q) => [q.line, q.reason])).toEqual([
      [2, 'malformed_row'],
      [3, 'malformed_row'],
      [4, 'unclosed_quote'],
    ]);
    expect(r.silver.map((s) => s.line)).toEqual([5]);
  });
});
