import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Lake, type LakeFile, LakeNotFoundError, type UploadOptions, ZONES, type Zone } from './lake';
import { safeLakePath } from './paths';

/**
 * A lake in a local folder: `<root>/<zone>/<path>`. Used for throwaway runs (`medallion dataset
 * check`), never as the platform's lake. Writes go to a temporary name and are renamed over the
 * target (atomic on one file system); the ETag is derived from size and modification time.
 */
export class FsLake implements Lake {
  readonly kind = 'blob' as const;

  constructor(private readonly root: string) {}

  private file(zone: Zone, p: string): string {
    return path.join(this.root, zone, ...safeLakePath(p).split('/'));
  }

  async ensureZones(): Promise<void> {
    for (const z of ZONES) await mkdir(path.join(this.root, z), { recursive: true });
  }

  async stat(zone: Zone, p: string): Promise<LakeFile | undefined> {
    try {
      const s = await stat(this.file(zone, p));
      if (!s.isFile()) return undefined;
      return { zone, path: safeLakePath(p), size: s.size, etag: etagOf(s.size, s.mtimeMs), lastModified: s.mtime };
    } catch {
      return undefined;
    }
  }

  async read(zone: Zone, p: string): Promise<Readable> {
    if (!(await this.stat(zone, p))) throw new LakeNotFoundError(zone, p);
    return createReadStream(this.file(zone, p));
  }

  async write(zone: Zone, p: string, source: Readable, _options?: UploadOptions): Promise<LakeFile> {
    const target = this.file(zone, p);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    await pipeline(source, createWriteStream(tmp));
    await rename(tmp, target);
    return (await this.stat(zone, p))!;
  }

  async writeFile(zone: Zone, p: string, localPath: string, options?: UploadOptions): Promise<LakeFile> {
    return this.write(zone, p, createReadStream(localPath), options);
  }

  async *list(zone: Zone, prefix: string): AsyncIterable<LakeFile> {
    const base = path.join(this.root, zone);
    const all: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (!e.name.includes('.tmp-')) all.push(path.relative(base, full).split(path.sep).join('/'));
      }
    };
    await walk(base);
    for (const p of all.filter((f) => f.startsWith(prefix)).sort()) {
      const s = await this.stat(zone, p);
      if (s) yield s;
    }
  }

  async copy(from: { zone: Zone; path: string }, to: { zone: Zone; path: string }): Promise<void> {
    const target = this.file(to.zone, to.path);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(this.file(from.zone, from.path), target);
  }

  async delete(zone: Zone, p: string): Promise<void> {
    await rm(this.file(zone, p), { force: true });
  }
}

function etagOf(size: number, mtimeMs: number): string {
  return createHash('sha256').update(`${size}:${mtimeMs}`).digest('hex').slice(0, 16);
}
