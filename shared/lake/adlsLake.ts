import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type DataLakeFileClient, DataLakeServiceClient, type DataLakeFileSystemClient, RestError } from '@azure/storage-file-datalake';
import { cleanEtag } from './blobLake';
import { type Lake, type LakeFile, LakeNotFoundError, type UploadOptions, ZONES, type Zone } from './lake';

const CHUNK = 8 * 1024 * 1024;
const CONCURRENCY = 4;

function isNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404;
}

/**
 * Lake adapter over the ADLS Gen2 DFS API. Writes go to a hidden temporary file in the same
 * directory and are renamed over the target: a rename is atomic on a hierarchical namespace,
 * so readers never see a half-written file.
 */
export class AdlsLake implements Lake {
  readonly kind = 'adls' as const;
  constructor(private readonly service: DataLakeServiceClient) {}

  private fs(zone: Zone): DataLakeFileSystemClient {
    return this.service.getFileSystemClient(zone);
  }

  async ensureZones(): Promise<void> {
    for (const zone of ZONES) await this.fs(zone).createIfNotExists();
  }

  async stat(zone: Zone, path: string): Promise<LakeFile | undefined> {
    try {
      const p = await this.fs(zone).getFileClient(path).getProperties();
      return { zone, path, size: p.contentLength ?? 0, etag: cleanEtag(p.etag), lastModified: p.lastModified ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async read(zone: Zone, path: string): Promise<Readable> {
    try {
      const res = await this.fs(zone).getFileClient(path).read(0, undefined, { maxRetryRequests: 5 });
      return res.readableStreamBody as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new LakeNotFoundError(zone, path);
      throw e;
    }
  }

  private tempPath(path: string): string {
    const slash = path.lastIndexOf('/');
    const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
    return `${dir}_tmp_${randomUUID()}_${path.slice(slash + 1)}`;
  }

  private async renameOver(zone: Zone, temp: string, path: string): Promise<LakeFile> {
    await this.fs(zone).getFileClient(temp).move(path);
    return (await this.stat(zone, path))!;
  }

  /** Uploads to a hidden temporary file in the target's folder, then renames it over the target. */
  private async viaTemp(zone: Zone, path: string, upload: (file: DataLakeFileClient) => Promise<unknown>): Promise<LakeFile> {
    const temp = this.tempPath(path);
    try {
      await upload(this.fs(zone).getFileClient(temp));
      return await this.renameOver(zone, temp, path);
    } catch (e) {
      await this.fs(zone).getFileClient(temp).deleteIfExists().catch(() => undefined);
      throw e;
    }
  }

  write(zone: Zone, path: string, source: Readable, options: UploadOptions = {}): Promise<LakeFile> {
    return this.viaTemp(zone, path, (f) =>
      f.uploadStream(source, { chunkSize: CHUNK, maxConcurrency: CONCURRENCY, pathHttpHeaders: { contentType: options.contentType }, metadata: options.metadata }),
    );
  }

  writeFile(zone: Zone, path: string, localPath: string, options: UploadOptions = {}): Promise<LakeFile> {
    return this.viaTemp(zone, path, (f) =>
      f.uploadFile(localPath, { chunkSize: CHUNK, maxConcurrency: CONCURRENCY, pathHttpHeaders: { contentType: options.contentType }, metadata: options.metadata }),
    );
  }

  async *list(zone: Zone, prefix: string): AsyncIterable<LakeFile> {
    // listPaths takes a directory; list the deepest complete directory of the prefix and filter.
    const slash = prefix.lastIndexOf('/');
    const dir = slash > 0 ? prefix.slice(0, slash) : undefined;
    try {
      const found: LakeFile[] = [];
      for await (const p of this.fs(zone).listPaths({ path: dir, recursive: true })) {
        if (p.isDirectory || !p.name || !p.name.startsWith(prefix)) continue;
        found.push({ zone, path: p.name, size: p.contentLength ?? 0, etag: cleanEtag(p.etag), lastModified: p.lastModified ?? new Date(0) });
        if (found.length >= 5000) {
          found.sort((a, b) => (a.path < b.path ? -1 : 1));
          yield* found.splice(0);
        }
      }
      found.sort((a, b) => (a.path < b.path ? -1 : 1));
      yield* found;
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  async copy(from: { zone: Zone; path: string }, to: { zone: Zone; path: string }): Promise<void> {
    const stream = await this.read(from.zone, from.path);
    await this.write(to.zone, to.path, stream);
  }

  async delete(zone: Zone, path: string): Promise<void> {
    await this.fs(zone).getFileClient(path).deleteIfExists();
  }
}
