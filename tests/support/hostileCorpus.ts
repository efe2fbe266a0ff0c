import { gzipSync } from 'node:zlib';

/**
 * A seeded generator of hostile bronze files for dataset `ecommerce_events` (nothing is copied
 * from anywhere: every byte comes from the PRNG below). Each file says what it is; what the
 * platform must make of it is computed by the independent reader (tests/support/lineReader.ts),
 * never written here. `mustHave` names reasons the file was built to provoke, so a reader that
 * silently misses them fails too. Every file uses its own user_session values, so no two files
 * share a dedup key (cases stay independent when ingested into one platform).
 */
export interface HostileFile {
  name: string;
  bytes: Buffer;
  description: string;
  /** Quarantine reasons (or 'blank', 'duplicate', 'silver') this file must provoke at least once. */
  mustHave?: string[];
}

export interface RefusedFile {
  name: string;
  bytes: Buffer;
  description: string;
  /** What the failure message must say. */
  refusal: RegExp;
}

export const HEADER = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ['view', 'view', 'view', 'cart', 'remove_from_cart', 'purchase'];
const BRANDS = ['apple', 'samsung', 'xiaomi', 'huawei', 'lenovo', 'Sony', '', 'bosch', 'lg'];
const CODES = ['electronics.smartphone', 'appliances.kitchen.washer', 'computers.notebook', '', 'apparel.shoes'];

type Row = Record<'event_time' | 'event_type' | 'product_id' | 'category_id' | 'category_code' | 'brand' | 'price' | 'user_id' | 'user_session', string>;

class Gen {
  readonly r: () => number;
  private n = 0;
  constructor(
    seed: number,
    private readonly tag: string,
  ) {
    this.r = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  time(): string {
    const p = (v: number) => String(v).padStart(2, '0');
    return `2019-10-${p(this.int(1, 28))} ${p(this.int(0, 23))}:${p(this.int(0, 59))}:${p(this.int(0, 59))} UTC`;
  }
  /** A valid row with a session no other file uses. */
  row(over: Partial<Row> = {}): Row {
    this.n++;
    return {
      event_time: this.time(),
      event_type: this.pick(TYPES),
      product_id: String(this.int(1, 60_000_000)),
      category_id: `20530135556${String(this.int(10_000_000, 99_999_999))}`,
      category_code: this.pick(CODES),
      brand: this.pick(BRANDS),
      price: this.r() < 0.05 ? '0.00' : (this.int(1, 250_000) / 100).toFixed(2),
      user_id: String(this.int(500_000_000, 599_999_999)),
      user_session: `${this.tag}-${this.n}-${this.int(0, 1e9).toString(36)}`,
      ...over,
    };
  }
}

const ORDER: (keyof Row)[] = ['event_time', 'event_type', 'product_id', 'category_id', 'category_code', 'brand', 'price', 'user_id', 'user_session'];
function line(row: Row): string {
  return ORDER.map((k) => row[k]).join(',');
}

/** Lines joined with one ending (or a per-line choice), with or without a final ending. */
function join(lines: string[], eol: string | ((i: number) => string) = '\n', final = true): Buffer {
  const end = typeof eol === 'string' ? () => eol : eol;
  let out = '';
  lines.forEach((l, i) => {
    out += l;
    if (i < lines.length - 1 || final) out += end(i);
  });
  return Buffer.from(out, 'utf8');
}

function concat(...parts: (Buffer | string)[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'))));
}

function rows(g: Gen, n: number): string[] {
  return Array.from({ length: n }, () => line(g.row()));
}

function utf16(text: string, big: boolean): Buffer {
  const le = Buffer.from(text, 'utf16le');
  const body = big ? Buffer.from(le).swap16() : le;
  return Buffer.concat([Buffer.from(big ? [0xfe, 0xff] : [0xff, 0xfe]), body]);
}

/** Builds the hostile corpus. `now` is the run start the bounds are relative to (a few rows test them). */
export function hostileCorpus(seed = 20191001, now = new Date()): { files: HostileFile[]; refused: RefusedFile[] } {
  const files: HostileFile[] = [];
  let k = 0;
  const add = (name: string, description: string, build: (g: Gen) => Buffer, mustHave?: string[]) => {
    const g = new Gen(seed + ++k * 7919, name.replace(/\W+/g, ''));
    files.push({ name, description, bytes: build(g), mustHave });
  };
  const iso = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

  // --- line endings -------------------------------------------------------------------------
  add('crlf.csv', 'CRLF line endings', (g) => join([HEADER, ...rows(g, 300)], '\r\n'), ['silver']);
  add('lf.csv', 'LF line endings', (g) => join([HEADER, ...rows(g, 300)], '\n'), ['silver']);
  add('cr_only.csv', 'classic Mac CR-only line endings', (g) => join([HEADER, ...rows(g, 300)], '\r'), ['silver']);
  add('crlf_then_lf.csv', 'a CRLF export and an LF export (without its header) concatenated', (g) =>
    concat(join([HEADER, ...rows(g, 150)], '\r\n'), join(rows(g, 150), '\n')),
  );
  add('crlf_then_lf_with_header.csv', 'two exports concatenated: the second header line is a data line (invalid_event_time)', (g) =>
    concat(join([HEADER, ...rows(g, 120)], '\r\n'), join([HEADER, ...rows(g, 120)], '\n')),
  ['invalid_event_time']);
  add('crlf_last_lf.csv', 'CRLF file whose last line ends in LF', (g) => {
    const ls = [HEADER, ...rows(g, 200)];
    return concat(join(ls.slice(0, -1), '\r\n'), `${ls.at(-1)}\n`);
  });
  add('lone_cr_in_row.csv', 'a lone \\r inside a brand value splits the row into two short lines', (g) => {
    const ls = [HEADER, ...rows(g, 200)];
    const r = g.row({ brand: 'sam\rsung' });
    ls.splice(77, 0, line(r));
    return join(ls, '\r\n');
  }, ['malformed_row']);
  add('lone_cr_between_quotes.csv', 'a lone \\r inside a QUOTED value: still a line end (records never span lines)', (g) => {
    const ls = [HEADER, ...rows(g, 100)];
    ls.splice(40, 0, line(g.row({ brand: '"sam\rsung"' })));
    return join(ls, '\n');
  }, ['unclosed_quote']);
  add('no_trailing_newline_lf.csv', 'LF, no line ending after the last row', (g) => join([HEADER, ...rows(g, 150)], '\n', false));
  add('no_trailing_newline_crlf.csv', 'CRLF, no line ending after the last row', (g) => join([HEADER, ...rows(g, 150)], '\r\n', false));
  add('mixed_endings_random.csv', 'every line ends at random in CRLF, LF or CR', (g) =>
    join([HEADER, ...rows(g, 400)], () => g.pick(['\r\n', '\n', '\r'])),
  );

  // --- quotes ---------------------------------------------------------------------------------
  add('stray_quote_before_then_after.csv', 'a stray " before a value, and another after a value 100 lines later', (g) => {
    const ls = [HEADER, ...rows(g, 300)];
    ls[20] = line(g.row({ brand: '"apple' }));
    ls[120] = line(g.row({ brand: 'apple"' }));
    return join(ls, '\n');
  }, ['unclosed_quote']);
  add('stray_quote_large.csv', 'one stray quote early in a file of 5,000 rows', (g) => {
    const ls = [HEADER, ...rows(g, 5000)];
    ls[3] = line(g.row({ category_code: '"electronics.smartphone' }));
    return join(ls, '\r\n');
  }, ['unclosed_quote']);
  add('quotes_proper.csv', 'quoted fields with commas and "" escapes, quoted numbers and quoted empty values', (g) => {
    const ls = [HEADER];
    for (let i = 0; i < 200; i++) {
      const r = g.row();
      const v = i % 5;
      if (v === 0) r.brand = `"${r.brand}, inc."`;
      if (v === 1) r.category_code = `"say ""hi"", ${r.category_code}"`;
      if (v === 2) r.product_id = `"${r.product_id}"`;
      if (v === 3) r.brand = '""';
      if (v === 4) r.event_time = `"${r.event_time}"`;
      ls.push(line(r));
    }
    return join(ls, '\r\n');
  }, ['silver']);
  add('quotes_with_blanks.csv', 'blanks between a delimiter and an opening quote, or a closing quote and a delimiter (the quote is misplaced)', (g) => {
    const ls = [HEADER, ...rows(g, 40)];
    ls[10] = line(g.row({ brand: ' "apple"' }));
    ls[20] = line(g.row({ brand: '"apple" ' }));
    ls[30] = line(g.row({ brand: '  "apple, inc."  ' }));
    return join(ls, '\n');
  }, ['malformed_row']);
  add('quote_after_closing.csv', 'text after a closing quote', (g) => {
    const ls = [HEADER, ...rows(g, 50)];
    ls[10] = line(g.row({ brand: '"apple"x' }));
    return join(ls, '\n');
  }, ['malformed_row']);

  // --- bytes ----------------------------------------------------------------------------------
  add('nul_early.csv', 'a NUL byte in one early row', (g) => {
    const ls = [HEADER, ...rows(g, 300)];
    ls[5] = line(g.row({ brand: 'app\u0000le' }));
    return join(ls, '\n');
  }, ['nul_byte']);
  add('nul_after_64k.csv', 'a NUL byte in one row past the first 64 KiB', (g) => {
    const ls = [HEADER, ...rows(g, 1500)];
    ls[1200] = line(g.row({ category_code: 'electronics\u0000smartphone' }));
    const b = join(ls, '\r\n');
    if (b.indexOf(0) < 70 * 1024) throw new Error('corpus: NUL not past 64 KiB');
    return b;
  }, ['nul_byte']);
  add('invalid_utf8.csv', 'invalid UTF-8 in three rows (lone 0xFF, truncated sequence, overlong encoding)', (g) => {
    const ls = rows(g, 300);
    const parts: Buffer[] = [Buffer.from(`${HEADER}\n`)];
    ls.forEach((l, i) => {
      if (i === 10) parts.push(Buffer.from(l.slice(0, 30)), Buffer.from([0xff]), Buffer.from(`${l.slice(30)}\n`));
      else if (i === 100) parts.push(Buffer.from(`${l},`), Buffer.from([0xe2, 0x82]), Buffer.from('\n'));
      else if (i === 200) parts.push(Buffer.from([0xc0, 0xaf]), Buffer.from(`${l}\n`));
      else parts.push(Buffer.from(`${l}\n`));
    });
    return Buffer.concat(parts);
  }, ['invalid_utf8']);
  add('invalid_utf8_past_64k.csv', 'invalid UTF-8 in one row past the first 64 KiB, valid multibyte text everywhere else', (g) => {
    const ls = Array.from({ length: 1500 }, () => line(g.row({ brand: g.pick(['ünïcödé', 'ブランド', 'марка']) })));
    const parts: Buffer[] = [Buffer.from(`${HEADER}\r\n`)];
    ls.forEach((l, i) => parts.push(Buffer.from(l), i === 1100 ? Buffer.from([0xed, 0xa0, 0x80]) : Buffer.alloc(0), Buffer.from('\r\n')));
    return Buffer.concat(parts);
  }, ['invalid_utf8']);
  add('line_2mib.csv', 'one 2 MiB line in the middle; the rows after it land', (g) => {
    const ls = [HEADER, ...rows(g, 200)];
    ls[50] = line(g.row({ brand: 'x'.repeat(2 * 1024 * 1024) }));
    return join(ls, '\n');
  }, ['line_too_long']);
  add('line_2mib_last_no_eol.csv', 'the last line is 2 MiB of multibyte text and has no line ending', (g) => {
    const ls = [HEADER, ...rows(g, 100), line(g.row({ category_code: 'é'.repeat(1024 * 1024 + 7) }))];
    return join(ls, '\n', false);
  }, ['line_too_long']);
  add('line_2mib_with_nul.csv', 'a 2 MiB line with a NUL byte near its start, and one with invalid UTF-8: an overlong line is line_too_long whatever else it holds', (g) => {
    const ls: (string | Buffer)[] = [HEADER, ...rows(g, 60)];
    ls[20] = line(g.row({ brand: `a\u0000${'y'.repeat(2 * 1024 * 1024)}` }));
    ls[40] = Buffer.concat([Buffer.from(line(g.row({ brand: 'b' })).slice(0, 30)), Buffer.from([0xff]), Buffer.from('z'.repeat(2 * 1024 * 1024))]);
    return Buffer.concat(ls.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  }, ['line_too_long']);
  add('line_just_under_1mib.csv', 'a valid quoted brand of ~900 KiB (under the 1 MiB line limit) lands', (g) => {
    const ls = [HEADER, ...rows(g, 50)];
    ls[25] = line(g.row({ brand: `"${'long brand, '.repeat(75_000)}"` }));
    return join(ls, '\n');
  }, ['silver']);
  add('very_long_brand_quoted.csv', 'a 100 KiB brand with commas and "" escapes in a valid quoted field', (g) => {
    const ls = [HEADER, ...rows(g, 40)];
    ls[7] = line(g.row({ brand: `"${'Big ""Brand"", '.repeat(7000)}"` }));
    return join(ls, '\r\n');
  }, ['silver']);

  // --- encodings ------------------------------------------------------------------------------
  add('utf8_bom.csv', 'UTF-8 with a BOM', (g) => concat(Buffer.from([0xef, 0xbb, 0xbf]), join([HEADER, ...rows(g, 200)], '\r\n')));
  add('utf16le_bom.csv', 'UTF-16 LE with a BOM, non-ASCII brands', (g) =>
    utf16(join([HEADER, ...Array.from({ length: 200 }, () => line(g.row({ brand: g.pick(['Äpfel', 'نوكيا', '小米', 'apple', '😀brand']) })))], '\r\n').toString('utf8'), false),
  ['silver']);
  add('utf16be_bom.csv', 'UTF-16 BE with a BOM, non-ASCII brands, LF', (g) =>
    utf16(join([HEADER, ...Array.from({ length: 200 }, () => line(g.row({ brand: g.pick(['Äpfel', 'נוקיה', '小米', 'sony']) })))], '\n').toString('utf8'), true),
  ['silver']);
  add('utf16le_bad_rows.csv', 'UTF-16 LE with bad values, blank lines and a stray quote', (g) => {
    const ls = [HEADER, ...rows(g, 100)];
    ls[10] = line(g.row({ product_id: '1.5' }));
    ls[20] = '';
    ls[30] = line(g.row({ brand: '"x' }));
    return utf16(join(ls, '\r\n').toString('utf8'), false);
  }, ['invalid_product_id', 'unclosed_quote', 'blank']);

  // --- typing ---------------------------------------------------------------------------------
  add('ids_strict.csv', 'product_id and user_id spellings: 1.5, 0x1F, 1e3, 1_000, -0, +7, overflow, padded', (g) => {
    const ls = [HEADER, ...rows(g, 20)];
    for (const v of ['1.5', '0x1F', '1e3', '1_000', '-0', '+7', '99999999999999999999', ' 12 ', '-5', '007', '9223372036854775807', '9223372036854775808', '']) {
      ls.push(line(g.row({ product_id: v })));
      ls.push(line(g.row({ user_id: v })));
    }
    return join(ls, '\n');
  }, ['invalid_product_id', 'invalid_user_id', 'valid_product_id', 'valid_user_id', 'silver']);
  add('category_id_bad.csv', 'category_id: text, decimal, overflow, hex, blank (NULL is fine: no expectation)', (g) => {
    const ls = [HEADER, ...rows(g, 20)];
    for (const v of ['abc', '1.0', '99999999999999999999', '0x1F', '', ' 2053013555631882655 ', '-1']) ls.push(line(g.row({ category_id: v })));
    return join(ls, '\n');
  }, ['invalid_category_id', 'silver']);
  add('event_time_bounds.csv', 'event times 9999-12-31, 1800-01-01, 1899/1900 edges, Feb 30, near-future, blank, other formats', (g) => {
    const ls = [HEADER, ...rows(g, 20)];
    const soon = iso(new Date(now.getTime() + 12 * 3600e3));
    const late = iso(new Date(now.getTime() + 36 * 3600e3));
    for (const v of [
      '9999-12-31 23:59:59 UTC',
      '1800-01-01 00:00:00 UTC',
      '1899-12-31 23:59:59 UTC',
      '1900-01-01 00:00:00 UTC',
      '2019-02-30 10:00:00 UTC',
      '2019-10-01 24:00:00 UTC',
      `${soon} UTC`,
      `${late} UTC`,
      '',
      'yesterday',
      '2019-10-05T10:11:12Z',
      '2019-10-05T10:11:13',
      '2019-10-05 10:11:14',
    ])
      ls.push(line(g.row({ event_time: v })));
    return join(ls, '\r\n');
  }, ['invalid_event_time', 'valid_event_time', 'silver']);
  add('prices.csv', 'prices: NaN, Infinity, 1e400, exponent, negative, above 100000, zero, blank, text', (g) => {
    const ls = [HEADER, ...rows(g, 20)];
    for (const v of ['NaN', 'Infinity', '-Infinity', '1e400', '1.5e2', '-3.00', '100000', '100000.01', '0', '0.00', '-0', '', 'abc', '.5', '5.', '"1,5"', ' 7.25 '])
      ls.push(line(g.row({ price: v })));
    return join(ls, '\n');
  }, ['invalid_price', 'valid_price', 'silver']);
  add('event_types.csv', 'event types in other cases, padded, unknown, blank', (g) => {
    const ls = [HEADER, ...rows(g, 10)];
    for (const v of ['VIEW', ' Cart ', 'purchase', 'remove_from_cart', 'click', '', 'view;']) ls.push(line(g.row({ event_type: v })));
    return join(ls, '\n');
  }, ['valid_event_type', 'silver']);
  add('precedence.csv', 'rows failing several rules: the first in spec order wins', (g) => {
    const ls = [HEADER];
    ls.push(line(g.row({ event_type: 'bogus', price: 'abc', user_id: '1.5' })));
    ls.push(line(g.row({ event_time: '', product_id: 'x', price: '-1' })));
    ls.push(line(g.row({ event_time: '1800-01-01 00:00:00 UTC', category_id: 'x' })));
    ls.push(line(g.row({ event_type: '', product_id: '0', user_session: '' })));
    ls.push(line(g.row({ category_id: '1.5', price: '-1', user_session: '' })));
    ls.push(line(g.row({ price: '200000', user_session: '' })));
    ls.push(line(g.row({ user_session: '   ' })));
    return join(ls, '\n');
  }, ['invalid_price', 'invalid_product_id', 'invalid_event_time', 'valid_event_type', 'invalid_category_id', 'valid_price', 'valid_user_session']);
  add('long_sessions.csv', 'long sessions, over the ~2.7 kB PostgreSQL indexes per key (kept: no gold state indexes a session)', (g) => {
    const ls = [HEADER, ...rows(g, 10)];
    const sized = (bytes: number, pad: string) => {
      const base = g.row().user_session;
      return base + pad.repeat(Math.floor((bytes - base.length) / Buffer.byteLength(pad))) + 'x'.repeat((bytes - base.length) % Buffer.byteLength(pad));
    };
    for (const [bytes, pad] of [[2700, 'x'], [2710, 'é'], [3000, 'x'], [40000, '€']] as const) ls.push(line(g.row({ user_session: sized(bytes, pad) })));
    ls.push(line(g.row({ user_session: `  ${sized(3000, 'x')}  ` })));
    return join(ls, '\n');
  }, ['silver']);

  // --- blank lines, field counts, whole-file shapes ---------------------------------------------
  add('blank_lines.csv', 'empty and whitespace-only lines in the middle and at the end', (g) => {
    const ls = [HEADER, ...rows(g, 100)];
    ls.splice(30, 0, '', '   ', '\t', ' \t ');
    ls.splice(80, 0, '');
    ls.push('', '  ', '');
    return join(ls, '\r\n');
  }, ['blank']);
  add('blank_lines_only.csv', 'a header followed only by blank lines', () => join([HEADER, '', ' ', '\t\t', ''], '\n'), ['blank']);
  add('field_counts.csv', 'rows with too few and too many fields', (g) => {
    const ls = [HEADER, ...rows(g, 60)];
    ls[5] = line(g.row()).split(',').slice(0, 8).join(',');
    ls[15] = `${line(g.row())},extra`;
    ls[25] = 'just one field';
    ls[35] = `${line(g.row())},`;
    ls[45] = ',,,,,,,,';
    return join(ls, '\n');
  }, ['malformed_row', 'valid_event_time']);
  add('all_bad.csv', 'every row is bad, in a different way', (g) => {
    const ls = [HEADER];
    ls.push(line(g.row({ product_id: '1e3' })), line(g.row({ price: '-1' })), line(g.row({ user_session: '' })), 'x,y', line(g.row({ brand: '"open' })));
    ls.push(line(g.row({ event_time: 'never' })), line(g.row({ event_type: 'hover' })));
    return join(ls, '\n');
  }, ['malformed_row', 'unclosed_quote']);
  add('header_only.csv', 'a header and nothing else', () => join([HEADER], '\r\n'));
  add('header_only_no_eol.csv', 'a header without a line ending', () => Buffer.from(`${HEADER}`));
  add('duplicates_in_file.csv', 'exact duplicates and duplicates spelt differently (case, padding, +sign, T…Z time)', (g) => {
    const ls = [HEADER];
    for (let i = 0; i < 60; i++) {
      const r = g.row();
      ls.push(line(r));
      if (i % 3 === 0) ls.push(line(r));
      if (i % 5 === 0) ls.push(line({ ...r, event_type: ` ${r.event_type.toUpperCase()} `, user_id: `+${r.user_id}`, event_time: r.event_time.replace(' ', 'T').replace(' UTC', 'Z') }));
      if (i % 7 === 0) ls.push(line({ ...r, user_session: ` ${r.user_session} `, product_id: ` 0${r.product_id}` }));
    }
    return join(ls, '\n');
  }, ['duplicate']);
  add('reordered_columns.csv', 'columns in another order and case, plus an unknown column', (g) => {
    const order: (keyof Row)[] = ['user_session', 'price', 'event_type', 'event_time', 'product_id', 'category_id', 'category_code', 'brand', 'user_id'];
    const head = ['User_Session', 'PRICE', 'extra', 'Event-Type', 'eventTime', 'product_id', 'category_id', 'category code', 'BRAND', 'user_id'].join(',');
    const ls = [head];
    for (let i = 0; i < 80; i++) {
      const r = g.row(i === 9 ? { price: 'free' } : {});
      const v = order.map((c) => r[c]);
      v.splice(2, 0, g.pick(['zzz', '', '"a,b"']));
      ls.push(v.join(','));
    }
    return join(ls, '\n');
  }, ['invalid_price', 'silver']);
  add('unicode_brands.csv', 'tabs, emoji, RTL, combining marks and zero-width chars in brand values', (g) => {
    const ls = [HEADER];
    for (const b of ['tab\there', 'a\t\tb', '😀🚀', 'שלום', 'مرحبا\u200f', 'e\u0301', 'zero\u200bwidth', 'UNKNOWN', ' Mixed Case ', '"quoted, 😀"', '\u202eevil'])
      ls.push(line(g.row({ brand: b })));
    ls.push(...rows(g, 30));
    return join(ls, '\r\n');
  }, ['silver']);

  // --- gzip -----------------------------------------------------------------------------------
  const gz = (name: string, of: string, level = 6) => {
    const src = files.find((f) => f.name === of)!;
    // A different session prefix is not possible inside gzip bytes: the gzip files reuse a source
    // file's text with its sessions renamed, so they stay independent of the plain file.
    const text = src.bytes.toString('latin1').replace(new RegExp(src.name.replace(/\W+/g, ''), 'g'), `gz${src.name.replace(/\W+/g, '')}`);
    files.push({ name, description: `gzip of ${of} (${src.description})`, bytes: gzipSync(Buffer.from(text, 'latin1'), { level }), mustHave: src.mustHave });
  };
  gz('crlf.csv.gz', 'crlf.csv');
  gz('cr_only.csv.gz', 'cr_only.csv');
  gz('nul_after_64k.csv.gz', 'nul_after_64k.csv', 1);
  gz('invalid_utf8.csv.gz', 'invalid_utf8.csv');
  gz('line_2mib.csv.gz', 'line_2mib.csv', 9);
  gz('stray_quote_large.csv.gz', 'stray_quote_large.csv');
  gz('utf8_bom.csv.gz', 'utf8_bom.csv');
  gz('gzip_named_plain.csv', 'mixed_endings_random.csv');

  // --- seeded mixtures ------------------------------------------------------------------------
  const defects: { name: string; make: (g: Gen) => string | Buffer }[] = [
    { name: 'nul', make: (g) => line(g.row({ brand: 'a\u0000b' })) },
    { name: 'utf8', make: (g) => Buffer.concat([Buffer.from(line(g.row())), Buffer.from([0xfe])]) },
    { name: 'unclosed', make: (g) => line(g.row({ brand: '"ope,n' })) },
    { name: 'misplaced', make: (g) => line(g.row({ category_code: 'elec"tronics' })) },
    { name: 'few', make: (g) => line(g.row()).split(',').slice(0, 7).join(',') },
    { name: 'many', make: (g) => `${line(g.row())},1,2` },
    { name: 'blank', make: () => '' },
    { name: 'spaces', make: (g) => ' '.repeat(g.int(1, 5)) },
    { name: 'badint', make: (g) => line(g.row({ product_id: g.pick(['1.5', '0x1F', '1e3', '1_000', '99999999999999999999']) })) },
    { name: 'badcat', make: (g) => line(g.row({ category_id: g.pick(['x', '1.5', '-']) })) },
    { name: 'badtime', make: (g) => line(g.row({ event_time: g.pick(['9999-12-31 23:59:59 UTC', '1800-01-01 00:00:00 UTC', 'n/a', '']) })) },
    { name: 'badtype', make: (g) => line(g.row({ event_type: g.pick(['', 'click', 'views']) })) },
    { name: 'zeroid', make: (g) => line(g.row({ user_id: g.pick(['0', '-0', '-12', '']) })) },
    { name: 'badprice', make: (g) => line(g.row({ price: g.pick(['-1', '100001', 'NaN', '', '1,5']) })) },
    { name: 'nosession', make: (g) => line(g.row({ user_session: g.pick(['', '   ']) })) },
    { name: 'quoted', make: (g) => line(g.row({ brand: '"a ""b"", c"' })) },
    { name: 'zeroprice', make: (g) => line(g.row({ price: '0', brand: '' })) },
    { name: 'lonecr', make: (g) => line(g.row({ brand: 'x\ry' })) },
    { name: 'long', make: (g) => line(g.row({ brand: 'z'.repeat(1024 * 1024 + g.int(1, 1000)) })) },
  ];
  for (let m = 0; m < 16; m++) {
    add(`mixture_${String(m).padStart(2, '0')}.csv`, `seeded mixture #${m}: defects at random positions, random line endings, duplicates`, (g) => {
      const n = g.int(50, 600);
      const body: (string | Buffer)[] = rows(g, n);
      const kinds = g.int(3, 8);
      for (let d = 0; d < kinds; d++) {
        const defect = g.pick(m % 4 === 3 ? defects : defects.filter((x) => x.name !== 'long'));
        const times = g.int(1, 4);
        for (let t = 0; t < times; t++) body.splice(g.int(0, body.length), 0, defect.make(g));
      }
      if (m % 4 === 3) body.splice(g.int(0, body.length), 0, defects.find((x) => x.name === 'long')!.make(g));
      for (let d = g.int(0, 5); d > 0; d--) body.splice(g.int(0, body.length), 0, body[g.int(0, body.length - 1)]!);
      const eol = g.pick(['\r\n', '\n', '\r', 'mixed']);
      const parts: Buffer[] = [];
      [HEADER, ...body].forEach((l, i, all) => {
        parts.push(Buffer.isBuffer(l) ? l : Buffer.from(l));
        if (i < all.length - 1 || g.r() < 0.7) parts.push(Buffer.from(eol === 'mixed' ? g.pick(['\r\n', '\n', '\r']) : eol));
      });
      let b: Buffer = Buffer.concat(parts);
      if (m % 5 === 4) b = concat(Buffer.from([0xef, 0xbb, 0xbf]), b);
      if (m % 6 === 5) b = gzipSync(b);
      return b;
    });
  }

  const refused: RefusedFile[] = [
    {
      name: 'refused_duplicate_brand.csv',
      description: 'header names brand twice (brand … Brand)',
      bytes: Buffer.from(`${HEADER},Brand\n2019-10-01 00:00:00 UTC,view,1,2,a.b,x,1.00,3,refused-dup,y\n`),
      refusal: /'brand' twice/,
    },
    {
      name: 'refused_duplicate_normalised.csv',
      description: 'header names user_id twice once normalised (user_id, User ID)',
      bytes: Buffer.from(`${HEADER},User ID\r\n2019-10-01 00:00:00 UTC,view,1,2,a.b,x,1.00,3,refused-dup2,4\r\n`),
      refusal: /'user_id' twice/,
    },
    {
      name: 'refused_missing_session.csv',
      description: 'header lacks user_session',
      bytes: Buffer.from(`${HEADER.replace(',user_session', '')}\n2019-10-01 00:00:00 UTC,view,1,2,a.b,x,1.00,3\n`),
      refusal: /missing required column\(s\): user_session/,
    },
    {
      name: 'refused_missing_many.csv.gz',
      description: 'gzip, header lacks price and brand',
      bytes: gzipSync(Buffer.from(`event_time,event_type,product_id,category_id,category_code,user_id,user_session\n`)),
      refusal: /missing required column\(s\): brand, price/,
    },
  ];
  return { files, refused };
}
