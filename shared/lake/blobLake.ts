import type { Readable } from 'node:stream';
import { BlobServiceClient, type ContainerClient, RestError } from '@azure/storage-blob';
import { isTemporaryPath, type Lake, type LakeFile, LakeNotFoundError, LakeWriteConflictError, type UploadOptions, ZONES, type Zone } from './lake';

const BLOCK_SIZE = 8 * 1024 * 1024;
const CONCURRENCY = 4;

export interface BlobLakeOptions {
  /** Bytes per staged block (default 8 MiB). */
  blockSize?: number;
  /** Blocks uploaded at once (default 4). */
  concurrency?: number;
  /** writeFile: files up to this size go in one Put Blob (default: the SDK's 256 MiB). */
  maxSingleShotSize?: number;
}

export function cleanEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function isNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404;
}

/**
 * Put Block List refused the blocks this upload staged (error code InvalidBlockList, "The specified
 * block list is invalid."): another upload committed the same blob in between, and a commit
 * discards every uncommitted block of the blob (Put Block List, "Remarks":
 * https://learn.microsoft.com/rest/api/storageservices/put-block-list). The SDK gives each upload
 * block IDs of its own (a random prefix), so this is the one way an upload's own blocks go missing.
 */
function isLostBlocks(e: unknown): boolean {
  return e instanceof RestError && e.code === 'InvalidBlockList';
}

/** Runs an upload to `zone/path`; a concurrent commit of the same blob is reported as a LakeWriteConflictError. */
async function committed<T>(zone: Zone, path: string, upload: () => Promise<T>): Promise<T> {
  try {
    return await upload();
  } catch (e) {
    if (isLostBlocks(e)) throw new LakeWriteConflictError(zone, path, { cause: e });
    throw e;
  }
}

/**
 * Lake adapter over the Blob API: Azurite locally, or the blob endpoint of any account.
 *
 * Writes are block-blob commits, which raise exactly one BlobCreated for the blob's own path:
 * - Blob storage events schema (https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage):
 *   BlobCreated is triggered by `PutBlob`, `PutBlockList` or `CopyBlob` "and when the Block Blob is
 *   completely committed" (data.api says which). On a hierarchical namespace account a
 *   PutBlockList upload carries the Blob API's data (not the Data Lake CreateFile/FlushWithClose
 *   pair), so the bronze subscription's data.api filter passes it either way.
 * - Put Block (https://learn.microsoft.com/rest/api/storageservices/put-block) "creates a new block
 *   to be committed as part of a blob": staged blocks are in the uncommitted block list, not part
 *   of the blob (https://learn.microsoft.com/rest/api/storageservices/get-block-list), so they raise
 *   no event and readers keep seeing the old blob (or none).
 * - Put Block List (https://learn.microsoft.com/rest/api/storageservices/put-block-list) writes the
 *   blob from the staged block IDs in one request: the replace is atomic, and a failed upload leaves
 *   nothing visible (uncommitted blocks expire after 7 days). A commit also discards every other
 *   uncommitted block of the blob: of two uploads of one path at once, the first to commit wins
 *   and the other's Put Block List fails (InvalidBlockList), raised as LakeWriteConflictError — the
 *   path holds the winner's bytes, never a mix. (A single Put Blob replaces the blob: the last wins.)
 * So `write` (Put Block × n + Put Block List) and `writeFile` (one Put Blob, or Put Block × n + Put
 * Block List above `maxSingleShotSize`) need no temporary name. `copy` streams through `write`
 * instead of Copy Blob: on a hierarchical namespace account BlobCreated(CopyBlob) may be raised
 * when the copy starts, before the data is committed.
 */
export class BlobLake implements Lake {
  readonly kind = 'blob' as const;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly maxSingleShotSize: number | undefined;

  constructor(
    private readonly service: BlobServiceClient,
    options: BlobLakeOptions = {},
  ) {
    this.blockSize = options.blockSize ?? BLOCK_SIZE;
    this.concurrency = Math.max(1, options.concurrency ?? CONCURRENCY);
    this.maxSingleShotSize = options.maxSingleShotSize;
  }

  private container(zone: Zone): ContainerClient {
    return this.service.getContainerClient(zone);
  }

  async ensureZones(): Promise<void> {
    for (const zone of ZONES) await this.container(zone).createIfNotExists();
  }

  async stat(zone: Zone, path: string): Promise<LakeFile | undefined> {
    try {
      const p = await this.container(zone).getBlobClient(path).getProperties();
      return { zone, path, size: p.contentLength ?? 0, etag: cleanEtag(p.etag), lastModified: p.lastModified ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async read(zone: Zone, path: string): Promise<Readable> {
    try {
      const res = await this.container(zone).getBlobClient(path).download(0, undefined, { maxRetryRequests: 5 });
      return res.readableStreamBody as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new LakeNotFoundError(zone, path);
      throw e;
    }
  }

  async write(zone: Zone, path: string, source: Readable, options: UploadOptions = {}): Promise<LakeFile> {
    const blob = this.container(zone).getBlockBlobClient(path);
    // Blocks are staged and committed in one Put Block List: readers see the old or the new blob.
    await committed(zone, path, () =>
      blob.uploadStream(source, this.blockSize, this.concurrency, {
        blobHTTPHeaders: { blobContentType: options.contentType },
        metadata: options.metadata,
      }),
    );
    return (await this.stat(zone, path))!;
  }

  async writeFile(zone: Zone, path: string, localPath: string, options: UploadOptions = {}): Promise<LakeFile> {
    const blob = this.container(zone).getBlockBlobClient(path);
    await committed(zone, path, () =>
      blob.uploadFile(localPath, {
        blockSize: this.blockSize,
        concurrency: this.concurrency,
        maxSingleShotSize: this.maxSingleShotSize,
        blobHTTPHeaders: { blobContentType: options.contentType },
        metadata: options.metadata,
      }),
    );
    return (await this.stat(zone, path))!;
  }

  async *list(zone: Zone, prefix: string): AsyncIterable<LakeFile> {
    for await (const b of this.container(zone).listBlobsFlat({ prefix, includeMetadata: true })) {
      // On an HNS account the blob API also lists directories as zero-length blobs.
      if (b.metadata?.hdi_isfolder === 'true') continue;
      // An AdlsLake on the same account stages files in `_tmp/` (never in bronze): not lake files.
      if (isTemporaryPath(b.name)) continue;
      yield {
        zone,
        path: b.name,
        size: b.properties.contentLength ?? 0,
        etag: cleanEtag(b.properties.etag),
        lastModified: b.properties.lastModified,
      };
    }
  }

  async copy(from: { zone: Zone; path: string }, to: { zone: Zone; path: string }): Promise<void> {
    // Streamed through this process: works with every credential type and keeps memory bounded.
    const stream = await this.read(from.zone, from.path);
    await this.write(to.zone, to.path, stream);
  }

  async delete(zone: Zone, path: string): Promise<void> {
    await this.container(zone).getBlobClient(path).deleteIfExists();
  }
}
