/**
 * Lake paths come from outside (blob names, event payloads, CLI arguments): validate them
 * before they reach storage calls, SQL or local file names.
 */
export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

const MAX_PATH = 1024;

/** Normalises a lake path: forward slashes, no leading slash, no empty/dot segments, no control chars. */
export function safeLakePath(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new UnsafePathError('lake path is empty');
  if (raw.length > MAX_PATH) throw new UnsafePathError(`lake path is longer than ${MAX_PATH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new UnsafePathError(`lake path contains control characters: ${JSON.stringify(raw)}`);
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
