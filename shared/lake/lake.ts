import type { Readable } from 'node:stream';

/** The four zones of the lake. Containers (file systems on ADLS Gen2) of these names. */
export const ZONES = ['bronze', 'silver', 'gold', 'quarantine'] as const;
export type Zone = (typeof ZONES)[number];

export interface LakeFile {
  zone: Zone;
  path: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface UploadOptions {
  contentType?: string;
  /** Metadata stored with the file (ASCII keys and values). */
  metadata?: Record<string, string>;
}

/**
 * The lake port: everything the platform does with files goes through it, so the same
 * pipeline runs on ADLS Gen2 (DFS API) in Azure and on the Blob API (Azurite locally; an
 * ADLS Gen2 account's blob endpoint works too). Reads and writes are streams: no method
 * loads a whole file into memory.
 */
export interface Lake {
  readonly kind: 'adls' | 'blob';
  /** Creates the four zone containers when missing. */
  ensureZones(): Promise<void>;
  stat(zone: Zone, path: string): Promise<LakeFile | undefined>;
  /** Streams a file. Throws LakeNotFoundError when it does not exist. */
  read(zone: Zone, path: string): Promise<Readable>;
  /**
   * Streams `source` into a file. Every write into a zone an Event Grid subscription watches
   * (bronze) raises exactly one complete-file BlobCreated for the final path (PutBlob,
   * PutBlockList or FlushWithClose) and none for any other path. Readers never see a partial
   * file's bytes; see each adapter for how it replaces an existing file.
   */
  write(zone: Zone, path: string, source: Readable, options?: UploadOptions): Promise<LakeFile>;
  /** Uploads a local file (parallel blocks or appends); same guarantees as `write`. */
  writeFile(zone: Zone, path: string, localPath: string, options?: UploadOptions): Promise<LakeFile>;
  /** Lists files (not folders, not the adapters' temporary files) under a prefix, recursively, in lexical order. */
  list(zone: Zone, prefix: string): AsyncIterable<LakeFile>;
  copy(from: { zone: Zone; path: string }, to: { zone: Zone; path: string }): Promise<void>;
  /** Deletes a file; a missing file is not an error. */
  delete(zone: Zone, path: string): Promise<void>;
}

/**
 * Root folder of a zone where an adapter stages a file before renaming it into place (AdlsLake
 * outside the watched zones). It is outside every dataset prefix, `list` skips it, and it never
 * exists in bronze, so neither the bronze Event Grid subscription nor a reader sees it.
 */
export const TEMP_FOLDER = '_tmp';

/** True for a path inside a zone's temporary folder (`_tmp/...`). */
export function isTemporaryPath(path: string): boolean {
  return path === TEMP_FOLDER || path.startsWith(`${TEMP_FOLDER}/`);
}

export class LakeNotFoundError extends Error {
  override name = 'LakeNotFoundError';
  constructor(
    readonly zone: Zone,
    readonly path: string,
  ) {
    super(`${zone}/${path} does not exist in the lake`);
  }
}

/**
 * Another write to the same path committed while this one was under way, so this one could not
 * be committed (the Blob API's InvalidBlockList: committing a blob discards every block staged for
 * it and not in that commit, another writer's included). The path holds the other write's bytes;
 * writing again makes this one the newest version.
 */
export class LakeWriteConflictError extends Error {
  override name = 'LakeWriteConflictError';
  constructor(
    readonly zone: Zone,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`another upload to ${zone}/${path} was in progress at the same time and was committed first: write the file again`, options);
  }
}

/** Streams a Readable to completion and returns its bytes. Only for small files (manifests). */
export async function readSmall(stream: Readable, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += b.length;
    if (total > maxBytes) {
      stream.destroy();
      throw new Error(`file is larger than ${maxBytes} bytes; stream it instead`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
