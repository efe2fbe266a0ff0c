import type { Readable } from 'node:stream';
import { BlobServiceClient, type ContainerClient, RestError } from '@azure/storage-blob';
import { type Lake, type LakeFile, LakeNotFoundError, type UploadOptions, ZONES, type Zone } from './lake';

const BLOCK_SIZE = 8 * 1024 * 1024;
const CONCURRENCY = 4;

export function cleanEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function isNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404;
}

/** Lake adapter over the Blob API: Azurite locally, or the blob endpoint of any account. */
export class BlobLake implements Lake {
  readonly kind = 'blob' as const;
  constructor(private readonly service: BlobServiceClient) {}

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
    await blob.uploadStream(source, BLOCK_SIZE, CONCURRENCY, {
      blobHTTPHeaders: { blobContentType: options.contentType },
      metadata: options.metadata,
    });
    return (await this.stat(zone, path))!;
  }

  async writeFile(zone: Zone, path: string, localPath: string, options: UploadOptions = {}): Promise<LakeFile> {
    const blob = this.container(zone).getBlockBlobClient(path);
    await blob.uploadFile(localPath, {
      blockSize: BLOCK_SIZE,
      concurrency: CONCURRENCY,
      blobHTTPHeaders: { blobContentType: options.contentType },
      metadata: options.metadata,
    });
    return (await this.stat(zone, path))!;
  }

  async *list(zone: Zone, prefix: string): AsyncIterable<LakeFile> {
    for await (const b of this.container(zone).listBlobsFlat({ prefix, includeMetadata: true })) {
      // On an HNS account the blob API also lists directories as zero-length blobs.
      if (b.metadata?.hdi_isfolder === 'true') continue;
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
