import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { type DataLakeFileClient, DataLakeServiceClient, type DataLakeFileSystemClient, RestError } from '@azure/storage-file-datalake';
import { cleanEtag } from './blobLake';
import { isTemporaryPath, type Lake, type LakeFile, LakeNotFoundError, TEMP_FOLDER, type UploadOptions, ZONES, type Zone } from './lake';

const CHUNK = 8 * 1024 * 1024;
const CONCURRENCY = 4;

function isNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404;
}

export interface AdlsLakeOptions {
  /**
   * Zones an Event Grid subscription watches for BlobCreated (infra/app/eventgrid-subscription.bicep:
   * the bronze container). Writes there go straight to the final path and end with the one
   * flush(close=true); writes elsewhere are staged in `_tmp/` and renamed into place.
   */
  watchedZones?: readonly Zone[];
  /** Bytes per Path Update append request (default 8 MiB). */
  chunkSize?: number;
  /** Append requests in flight at once (default 4). */
  concurrency?: number;
}

/**
 * Lake adapter over the ADLS Gen2 DFS API (hierarchical namespace).
 *
 * How a write becomes visible, and which Event Grid events it raises, decides whether
 * bronzeToSilver ever runs. From the docs:
 *
 * - Blob storage events schema, "Data Lake Storage Gen 2 events"
 *   (https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage): on a hierarchical
 *   namespace, Microsoft.Storage.BlobCreated is raised for `CreateFile` (the empty file of Path
 *   Create, data.api "CreateFile", contentLength 0) and for `FlushWithClose`; only FlushWithClose
 *   means "data fully committed". `RenameFile` raises Microsoft.Storage.BlobRenamed (subject =
 *   the destination), never BlobCreated.
 * - Path - Update (https://learn.microsoft.com/rest/api/storageservices/datalakestoragegen2/path/update):
 *   action=append uploads data that is not part of the file until action=flush&position=<length>
 *   writes it; the `close` query parameter makes the change notification the final one ("the file
 *   stream has been closed"). It defaults to false.
 * - Path - Create (https://learn.microsoft.com/rest/api/storageservices/datalakestoragegen2/path/create):
 *   creates the file (replacing an existing one, unless If-None-Match: *), or with
 *   `x-ms-rename-source` renames a file over the destination atomically.
 * - Reacting to Blob storage events / filtering
 *   (https://learn.microsoft.com/azure/storage/blobs/storage-blob-event-overview): subjects are
 *   `/blobServices/default/containers/<container>/blobs/<path>`; to react only to complete files,
 *   filter data.api on CopyBlob, PutBlob, PutBlockList or FlushWithClose — which is what the
 *   bronze subscription does (https://learn.microsoft.com/azure/event-grid/how-to-filter-events).
 *
 * The SDK's `uploadStream`/`uploadFile` (@azure/storage-file-datalake 12.31) send Path Create
 * (resource=file), Path Update append(s) and one Path Update flush whose `close` is whatever the
 * caller passed — nothing, so close was never sent; `uploadFile` of an empty file sends no flush
 * at all. The previous adapter used them on a temporary name and renamed it over the target: no
 * FlushWithClose, only CreateFile (dropped by the subscription's data.api filter) and BlobRenamed
 * (not subscribed), so nothing the platform wrote reached bronzeToSilver.
 *
 * The write sequence is therefore spelled out here, one request per step:
 *
 * Watched zones (bronze): Path Create on the FINAL path → append × n → ONE flush(position=size,
 * close=true). Exactly one BlobCreated passes the subscription (FlushWithClose, final path); the
 * CreateFile BlobCreated is filtered out by data.api; no temporary path ever exists in bronze. No
 * subscription change is needed. Trade-off: Path Create makes the final path exist, empty, until
 * the flush (appended data is invisible until flushed, and we flush once, so readers see 0 bytes
 * or the whole file, never a prefix); replacing an existing bronze file empties it at Path Create
 * instead of swapping atomically. Bronze files are write-once landing files (a redelivered Event
 * Hubs batch is rewritten with the same bytes), and the trigger only runs on FlushWithClose, so
 * that window is acceptable there. A failed write deletes what it created (BlobDeleted, not
 * subscribed) so no empty file is left behind.
 *
 * Other zones (silver, gold, quarantine — no subscription): staged as `_tmp/<uuid>` in the same
 * file system (flushed without close: no complete-file event for a temporary name), then renamed
 * over the target (atomic replace: readers see the old or the new file). `list` skips `_tmp/`.
 *
 * `copy` streams through `write` rather than using server-side Copy Blob: on a hierarchical
 * namespace account BlobCreated(CopyBlob) may be raised when the copy is initiated, before the data
 * is committed (event schema page above).
 */
export class AdlsLake implements Lake {
  readonly kind = 'adls' as const;
  private readonly watched: ReadonlySet<Zone>;
  private readonly chunkSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly service: DataLakeServiceClient,
    options: AdlsLakeOptions = {},
  ) {
    this.watched = new Set(options.watchedZones ?? ['bronze']);
    this.chunkSize = options.chunkSize ?? CHUNK;
    this.concurrency = Math.max(1, options.concurrency ?? CONCURRENCY);
  }

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

  write(zone: Zone, path: string, source: Readable, options: UploadOptions = {}): Promise<LakeFile> {
    return this.watched.has(zone) ? this.writeInPlace(zone, path, source, options) : this.writeViaTemp(zone, path, source, options);
  }

  writeFile(zone: Zone, path: string, localPath: string, options: UploadOptions = {}): Promise<LakeFile> {
    return this.write(zone, path, createReadStream(localPath, { highWaterMark: Math.min(this.chunkSize, 1024 * 1024) }), options);
  }

  /** Path Create (final path) → append × n → flush(close=true) once: one BlobCreated(FlushWithClose). */
  private async writeInPlace(zone: Zone, path: string, source: Readable, options: UploadOptions): Promise<LakeFile> {
    const file = this.fs(zone).getFileClient(path);
    const headers = { contentType: options.contentType };
    let created = false;
    try {
      await file.create({ metadata: options.metadata, pathHttpHeaders: headers });
      created = true;
      const size = await this.appendAll(file, source);
      // The one request that raises the BlobCreated the subscription passes (data.api FlushWithClose).
      await file.flush(size, { close: true, pathHttpHeaders: headers });
    } catch (e) {
      source.destroy();
      // Path Create already made the file exist (empty): remove it, so no empty or stale file stays visible.
      if (created) await file.deleteIfExists().catch(() => undefined);
      throw e;
    }
    return (await this.stat(zone, path))!;
  }

  /** Staged in `_tmp/`, flushed without close, renamed over the target (atomic; BlobRenamed only). */
  private async writeViaTemp(zone: Zone, path: string, source: Readable, options: UploadOptions): Promise<LakeFile> {
    const slash = path.lastIndexOf('/');
    const temp = `${TEMP_FOLDER}/${randomUUID()}-${path.slice(slash + 1)}`;
    const file = this.fs(zone).getFileClient(temp);
    const headers = { contentType: options.contentType };
    try {
      await file.create({ metadata: options.metadata, pathHttpHeaders: headers });
      const size = await this.appendAll(file, source);
      await file.flush(size, { close: false, pathHttpHeaders: headers });
      // A rename needs the destination's parent directory (RenameDestinationParentPathNotFound otherwise).
      if (slash > 0) await this.fs(zone).getDirectoryClient(path.slice(0, slash)).createIfNotExists();
      await file.move(path);
    } catch (e) {
      source.destroy();
      await file.deleteIfExists().catch(() => undefined);
      throw e;
    }
    return (await this.stat(zone, path))!;
  }

  /**
   * Sends the stream as Path Update append requests of `chunkSize` bytes at increasing positions,
   * at most `concurrency` in flight (memory stays bounded), and returns the total length: the
   * position of the flush. Appended data is invisible until that flush.
   */
  private async appendAll(file: DataLakeFileClient, source: Readable): Promise<number> {
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let position = 0;
    const send = (body: Buffer) => {
      const at = position;
      position += body.length;
      const p: Promise<void> = file.append(body, at, body.length).then(
        () => void inFlight.delete(p),
        (error: unknown) => {
          inFlight.delete(p);
          failure ??= { error };
        },
      );
      inFlight.add(p);
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const chunk of source) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      pending.push(b);
      pendingBytes += b.length;
      if (pendingBytes < this.chunkSize) continue;
      let all = Buffer.concat(pending, pendingBytes);
      while (all.length >= this.chunkSize) {
        send(all.subarray(0, this.chunkSize));
        all = all.subarray(this.chunkSize);
        while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
        if (failure) break;
      }
      pending = all.length > 0 ? [all] : [];
      pendingBytes = all.length;
      if (failure) break;
    }
    if (!failure && pendingBytes > 0) send(Buffer.concat(pending, pendingBytes));
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    return position;
  }

  async *list(zone: Zone, prefix: string): AsyncIterable<LakeFile> {
    // listPaths takes a directory; list the deepest complete directory of the prefix and filter.
    const slash = prefix.lastIndexOf('/');
    const dir = slash > 0 ? prefix.slice(0, slash) : undefined;
    try {
      const found: LakeFile[] = [];
      for await (const p of this.fs(zone).listPaths({ path: dir, recursive: true })) {
        if (p.isDirectory || !p.name || !p.name.startsWith(prefix) || isTemporaryPath(p.name)) continue;
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
    // Streamed through write(): one FlushWithClose for the target (see the class comment on Copy Blob).
    const stream = await this.read(from.zone, from.path);
    await this.write(to.zone, to.path, stream);
  }

  async delete(zone: Zone, path: string): Promise<void> {
    await this.fs(zone).getFileClient(path).deleteIfExists();
  }
}
