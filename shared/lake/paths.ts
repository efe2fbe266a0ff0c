/**
 * Lake paths come from outside (blob names, event payloads, CLI arguments): validate them
 * before they reach storage calls, SQL or local file names.
 */
export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

const MAX_PATH = 1024;
/** C0 and C1 control characters, DEL, and the Unicode line/paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** True when a name has characters that break lines, logs or terminals (tab, newline, …). */
export function hasControlCharacters(name: string): boolean {
  return CONTROL.test(name);
}

const ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A name as it can be printed on one line: control characters escaped (\t, \n, \r, \u0001). */
export function printablePath(name: string): string {
  return name.replace(new RegExp(CONTROL.source, 'g'), (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Normalises a lake path: forward slashes, no leading slash, no empty/dot segments, no control chars. */
export function safeLakePath(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new UnsafePathError('lake path is empty');
  if (raw.length > MAX_PATH) throw new UnsafePathError(`lake path is longer than ${MAX_PATH} characters`);
  if (CONTROL.test(raw)) throw new UnsafePathError(`lake path contains control characters (tab, newline, …): ${printablePath(raw)}`);
  const path = raw.replace(/\\/g, '/').replace(/^\/+/, '');
  const segments = path.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') {
      throw new UnsafePathError(`lake path '${raw}' has an empty, '.' or '..' segment`);
    }
  }
  return segments.join('/');
}

/** A string safe to use as one file-name component (local temp files, partition values). */
export function fileNameToken(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120);
}
