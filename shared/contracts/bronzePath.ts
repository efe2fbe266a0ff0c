// Which bronze paths belong to a dataset. A contract names a `bronzePrefix` (a folder: every path
// under it is the dataset's) and, optionally, a `bronzePattern`: the same folder path with
// wildcard segments, for sources that keep several datasets under one folder, e.g. the API
// sources' `pipedrive/scope=acme/entity=deals/...` (seed 004):
//
//   bronzePrefix: 'pipedrive/', bronzePattern: 'pipedrive/scope=*/entity=deals/'
//
// A pattern is a list of folder segments ending in '/', each one of:
//   - literal text (`pipedrive`, `entity=deals`): the path's segment must be equal;
//   - `*`: any one segment;
//   - `<name>=*` (a Hive-style key with any value): a segment `<name>=<value>` with a non-empty value.
// A path matches when its leading folder segments match the pattern's, one for one (the file
// may sit any depth below). The pattern must start with the contract's `bronzePrefix`, so listing
// a dataset's files is still listing a folder.
//
// Two contracts conflict when some path could belong to both: their patterns (or prefixes) agree
// segment by segment over the shorter one. Literal prefixes therefore conflict exactly when one
// is a folder of the other, as before patterns existed.

export type PatternSegment = { kind: 'literal'; text: string } | { kind: 'any' } | { kind: 'key'; key: string };

/** A segment of `<name>=*`: lower snake_case-ish names (letters, digits, _ and -). */
const KEY_WILDCARD = /^([a-z0-9][a-z0-9_-]*)=\*$/;

/** Problems of a pattern's shape (empty: none); `prefix` is the contract's bronzePrefix. */
export function bronzePatternProblems(pattern: unknown, prefix: unknown): string[] {
  const example = typeof prefix === 'string' ? `'${prefix}scope=*/entity=deals/'` : "'source/scope=*/entity=deals/'";
  if (typeof pattern !== 'string' || pattern === '') return [`bronzePattern must be text like ${example}`];
  const out: string[] = [];
  if (!pattern.endsWith('/') || pattern.startsWith('/') || pattern.includes('//') || pattern.includes('\\') || /\s/.test(pattern)) {
    out.push(`bronzePattern '${pattern}' must look like ${example} (no leading '/', ending in '/', no spaces or empty segments)`);
    return out;
  }
  for (const s of pattern.slice(0, -1).split('/')) {
    if (s === '.' || s === '..') out.push(`bronzePattern '${pattern}': '${s}' is not a folder`);
    else if (s.includes('*') && s !== '*' && !KEY_WILDCARD.test(s)) {
      out.push(`bronzePattern '${pattern}': segment '${s}' — a wildcard is a whole segment ('*') or a whole value ('name=*')`);
    }
  }
  if (typeof prefix === 'string' && !pattern.startsWith(prefix)) out.push(`bronzePattern '${pattern}' must start with the bronzePrefix '${prefix}' (the folder its files are listed from)`);
  return out;
}

export function parsePattern(pattern: string): PatternSegment[] {
  return pattern
    .slice(0, pattern.endsWith('/') ? -1 : undefined)
    .split('/')
    .map((s): PatternSegment => {
      if (s === '*') return { kind: 'any' };
      const m = KEY_WILDCARD.exec(s);
      return m ? { kind: 'key', key: m[1]! } : { kind: 'literal', text: s };
    });
}

function segmentMatches(p: PatternSegment, s: string): boolean {
  if (p.kind === 'any') return s !== '';
  if (p.kind === 'key') return s.startsWith(`${p.key}=`) && s.length > p.key.length + 1;
  return p.text === s;
}

/** Whether the path's leading folder segments match the pattern (the file itself is never a folder). */
export function pathMatchesPattern(pattern: string, bronzePath: string): boolean {
  const want = parsePattern(pattern);
  const folders = bronzePath.split('/').slice(0, -1);
  if (folders.length < want.length) return false;
  return want.every((p, i) => segmentMatches(p, folders[i]!));
}

/** Whether some segment could match both (literal vs wildcard: the literal fits the wildcard). */
function segmentsCompatible(a: PatternSegment, b: PatternSegment): boolean {
  if (a.kind === 'any' || b.kind === 'any') return true;
  if (a.kind === 'literal' && b.kind === 'literal') return a.text === b.text;
  if (a.kind === 'key' && b.kind === 'key') return a.key === b.key;
  const [key, lit] = a.kind === 'key' ? [a, b as { kind: 'literal'; text: string }] : [b as { kind: 'key'; key: string }, a as { kind: 'literal'; text: string }];
  return segmentMatches(key, lit.text);
}

/** Whether some bronze path could belong to both patterns (or prefixes, which are literal patterns). */
export function patternsOverlap(a: string, b: string): boolean {
  const pa = parsePattern(a);
  const pb = parsePattern(b);
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) if (!segmentsCompatible(pa[i]!, pb[i]!)) return false;
  return true;
}

/** The values of a path's Hive-style folder segments (`scope=acme` → scope: 'acme'); the first of each key wins. */
export function hiveValues(bronzePath: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of bronzePath.split('/').slice(0, -1)) {
    const eq = s.indexOf('=');
    if (eq <= 0 || eq === s.length - 1) continue;
    const key = s.slice(0, eq);
    if (!(key in out)) out[key] = s.slice(eq + 1);
  }
  return out;
}

/**
 * A folder path under the pattern for a file that has none yet (a local file given to
 * `medallion ingest` or `medallion dataset check`): each `*` becomes `fill`, each `name=*`
 * becomes `name=<fill>`.
 */
export function fillPattern(pattern: string, fill: string): string {
  return `${parsePattern(pattern)
    .map((p) => (p.kind === 'any' ? fill : p.kind === 'key' ? `${p.key}=${fill}` : p.text))
    .join('/')}/`;
}
