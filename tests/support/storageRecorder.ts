import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * A local stand-in for one storage account with a hierarchical namespace, speaking the few Blob
 * and Data Lake (DFS) REST operations the lake adapters send. Files live in memory. Every request
 * is recorded, and the Event Grid events Azure would raise for it are derived from the docs:
 *
 * - Blob storage events schema (https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage):
 *   Blob API: BlobCreated on PutBlob, PutBlockList, CopyBlob; BlobDeleted on DeleteBlob.
 *   Data Lake API: BlobCreated on CreateFile (empty file, contentLength 0) and FlushWithClose;
 *   BlobDeleted on DeleteFile; BlobRenamed on RenameFile (subject = destination);
 *   DirectoryCreated on CreateDirectory. Put Block and append/flush without close raise no
 *   BlobCreated. (The Path - Update page says a flush without close still raises a "file changed"
 *   notification; whatever it is, it is not data.api FlushWithClose, so the bronze subscription's
 *   filter drops it: modelling it as nothing changes no assertion.)
 * - Path - Create / Path - Update (https://learn.microsoft.com/rest/api/storageservices/datalakestoragegen2/path/create,
 *   .../path/update): Path Create makes an empty file (replacing one); appended data becomes part
 *   of the file only when flushed at position = length; rename needs the destination's parent.
 * - Put Block / Put Block List (https://learn.microsoft.com/rest/api/storageservices/put-block-list):
 *   staged blocks are not part of the blob until the block list is committed.
 *
 * Blob and DFS requests arrive at the same address (the SDKs only swap ".blob." and ".dfs." in
 * host names); DFS requests are told apart by their `resource`/`action` query parameters,
 * `x-ms-rename-source` header, or (DELETE) their JSON Accept header. Signatures are not checked.
 */

export const ACCOUNT = 'devstoreaccount1';
/** A syntactically valid shared key (base64); never checked. */
export const ACCOUNT_KEY = Buffer.from('storage-recorder-dummy-key-000000000000000000000000').toString('base64');

export type Operation =
  | 'CreateContainer'
  | 'CreateFile'
  | 'CreateDirectory'
  | 'RenameFile'
  | 'AppendData'
  | 'FlushData'
  | 'ListPaths'
  | 'DeleteFile'
  | 'GetProperties'
  | 'Read'
  | 'ListBlobs'
  | 'PutBlock'
  | 'PutBlockList'
  | 'PutBlob'
  | 'CopyBlob'
  | 'DeleteBlob'
  | 'Unknown';

export interface RecordedRequest {
  seq: number;
  method: string;
  op: Operation;
  container: string;
  /** Path inside the container ('' for container-level requests). */
  path: string;
  query: Record<string, string>;
  /** The headers that matter to the write sequence. */
  headers: Record<string, string>;
  bodyBytes: number;
  status: number;
}

export interface StorageEvent {
  eventType: string;
  subject: string;
  data: {
    api: string;
    url?: string;
    contentLength?: number;
    contentOffset?: number;
    sourceUrl?: string;
    destinationUrl?: string;
    eTag?: string;
  };
}

export interface Fault {
  op: Operation;
  status: number;
  /** Only requests on this path (default: any). */
  path?: string;
  /** How many requests fail (default: all). */
  times?: number;
}

interface StoredFile {
  content: Buffer;
  contentType?: string;
  metadata: Record<string, string>;
  etag: string;
  lastModified: Date;
  /** DFS appends not yet flushed, by position. */
  appended: Map<number, Buffer>;
}

const KEPT_HEADERS = [
  'x-ms-rename-source',
  'x-ms-blob-type',
  'x-ms-copy-source',
  'x-ms-content-type',
  'x-ms-blob-content-type',
  'x-ms-properties',
  'if-none-match',
  'if-match',
  'range',
  'x-ms-range',
  'accept',
];

export class StorageRecorder {
  readonly requests: RecordedRequest[] = [];
  readonly events: StorageEvent[] = [];
  private readonly containers = new Map<string, Map<string, StoredFile>>();
  private readonly directories = new Map<string, Set<string>>();
  /** Blob API blocks staged and not committed, per container/blob. */
  private readonly staged = new Map<string, Map<string, Buffer>>();
  private faults: Fault[] = [];
  private server: Server | undefined;
  private port = 0;
  private seq = 0;
  private etagCounter = 0x8d4bcc2e4835cd0;

  /** The account endpoint, e.g. http://127.0.0.1:PORT/devstoreaccount1 (blob and dfs alike). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/${ACCOUNT}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) this.error(res, 500, 'InternalError', String(e), false);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets recorded requests and events (the files stay). */
  clearLog(): void {
    this.requests.length = 0;
    this.events.length = 0;
  }

  fail(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Committed files of a container (what any reader can see), sorted. */
  visiblePaths(container: string): string[] {
    return [...(this.containers.get(container)?.keys() ?? [])].sort();
  }

  content(container: string, p: string): Buffer | undefined {
    return this.containers.get(container)?.get(p)?.content;
  }

  /** Puts a file in place without recording anything (test set-up). */
  seed(container: string, p: string, content: Buffer): void {
    const files = this.containerFiles(container);
    files.set(p, { content, metadata: {}, etag: this.nextEtag(), lastModified: new Date(), appended: new Map() });
  }

  /** Requests that touched one path of one container, in order. */
  requestsFor(container: string, p: string): RecordedRequest[] {
    return this.requests.filter((r) => r.container === container && r.path === p);
  }

  private containerFiles(container: string): Map<string, StoredFile> {
    let files = this.containers.get(container);
    if (!files) {
      files = new Map();
      this.containers.set(container, files);
      this.directories.set(container, new Set());
    }
    return files;
  }

  private nextEtag(): string {
    this.etagCounter += 1;
    return `"0x${this.etagCounter.toString(16).toUpperCase()}"`;
  }

  private subject(container: string, p: string): string {
    return `/blobServices/default/containers/${container}/blobs/${p}`;
  }

  private emit(eventType: string, container: string, p: string, data: StorageEvent['data']): void {
    this.events.push({ eventType, subject: this.subject(container, p), data });
  }

  private fileUrl(kind: 'blob' | 'dfs', container: string, p: string): string {
    return `https://${ACCOUNT}.${kind}.core.windows.net/${container}/${p}`;
  }

  /** Splits /account/container/path (the account segment is optional: rename destinations drop it). */
  private locate(rawPath: string): { container: string; path: string } {
    const segments = rawPath.split('/').filter((s) => s.length > 0).map((s) => decodeURIComponent(s));
    if (segments[0] === ACCOUNT) segments.shift();
    return { container: segments[0] ?? '', path: segments.slice(1).join('/') };
  }

  private classify(method: string, query: Record<string, string>, headers: IncomingMessage['headers'], p: string): Operation {
    const accept = String(headers.accept ?? '');
    if (method === 'PUT') {
      if (query.restype === 'container' && !p) return 'CreateContainer';
      if (headers['x-ms-rename-source']) return 'RenameFile';
      if (query.resource === 'file') return 'CreateFile';
      if (query.resource === 'directory') return 'CreateDirectory';
      if (query.comp === 'block') return 'PutBlock';
      if (query.comp === 'blocklist') return 'PutBlockList';
      if (headers['x-ms-copy-source']) return 'CopyBlob';
      if (headers['x-ms-blob-type']) return 'PutBlob';
    }
    if (method === 'PATCH' && query.action === 'append') return 'AppendData';
    if (method === 'PATCH' && query.action === 'flush') return 'FlushData';
    if (method === 'GET' && query.resource === 'filesystem') return 'ListPaths';
    if (method === 'GET' && query.comp === 'list') return 'ListBlobs';
    if (method === 'GET' && p) return 'Read';
    if (method === 'HEAD' && p) return 'GetProperties';
    if (method === 'DELETE' && p) return accept.includes('json') || 'recursive' in query ? 'DeleteFile' : 'DeleteBlob';
    return 'Unknown';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const { container, path: p } = this.locate(url.pathname);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? 'GET';
    const op = this.classify(method, query, req.headers, p);
    const headers: Record<string, string> = {};
    for (const h of KEPT_HEADERS) if (req.headers[h] !== undefined) headers[h] = String(req.headers[h]);
    const record: RecordedRequest = { seq: ++this.seq, method, op, container, path: p, query, headers, bodyBytes: body.length, status: 0 };
    this.requests.push(record);
    const dfs = ['CreateFile', 'CreateDirectory', 'RenameFile', 'AppendData', 'FlushData', 'ListPaths', 'DeleteFile'].includes(op);
    res.on('finish', () => (record.status = res.statusCode));

    const fault = this.faults.find((f) => f.op === op && (f.path === undefined || f.path === p) && (f.times === undefined || f.times > 0));
    if (fault) {
      if (fault.times !== undefined) fault.times -= 1;
      return this.error(res, fault.status, 'InternalError', `injected ${op} failure`, dfs);
    }
    switch (op) {
      case 'CreateContainer':
        return this.createContainer(res, container);
      case 'CreateFile':
        return this.createFile(req, res, container, p);
      case 'CreateDirectory':
        return this.createDirectory(req, res, container, p);
      case 'RenameFile':
        return this.rename(req, res, container, p);
      case 'AppendData':
        return this.append(res, container, p, Number(query.position), body);
      case 'FlushData':
        return this.flush(req, res, container, p, Number(query.position), query.close === 'true');
      case 'ListPaths':
        return this.listPaths(res, container, query);
      case 'DeleteFile':
      case 'DeleteBlob':
        return this.deletePath(res, container, p, op === 'DeleteFile');
      case 'GetProperties':
      case 'Read':
        return this.getBlob(req, res, container, p, op === 'Read');
      case 'ListBlobs':
        return this.listBlobs(res, container, query);
      case 'PutBlock':
        return this.putBlock(res, container, p, query.blockid ?? '', body);
      case 'PutBlockList':
        return this.putBlockList(req, res, container, p, body);
      case 'PutBlob':
        return this.putBlob(req, res, container, p, body);
      case 'CopyBlob':
        return this.copyBlob(req, res, container, p);
      default:
        return this.error(res, 400, 'UnsupportedOperation', `${method} ${req.url} is not modelled`, false);
    }
  }

  private common(res: ServerResponse): void {
    res.setHeader('x-ms-request-id', randomUUID());
    res.setHeader('x-ms-version', '2025-05-05');
    res.setHeader('Date', new Date().toUTCString());
  }

  private error(res: ServerResponse, status: number, code: string, message: string, json: boolean): void {
    this.common(res);
    res.setHeader('x-ms-error-code', code);
    const text = json
      ? JSON.stringify({ error: { code, message } })
      : `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
    res.setHeader('Content-Type', json ? 'application/json;charset=utf-8' : 'application/xml');
    res.statusCode = status;
    res.end(res.req.method === 'HEAD' ? undefined : text);
  }

  private ok(res: ServerResponse, status: number, file?: StoredFile, extra: Record<string, string> = {}): void {
    this.common(res);
    if (file) {
      res.setHeader('ETag', file.etag);
      res.setHeader('Last-Modified', file.lastModified.toUTCString());
    }
    for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
    res.statusCode = status;
    res.setHeader('Content-Length', '0');
    res.end();
  }

  private files(res: ServerResponse, container: string, json: boolean): Map<string, StoredFile> | undefined {
    const files = this.containers.get(container);
    if (!files) this.error(res, 404, json ? 'FilesystemNotFound' : 'ContainerNotFound', `${container} does not exist`, json);
    return files;
  }

  private createContainer(res: ServerResponse, container: string): void {
    if (this.containers.has(container)) return this.error(res, 409, 'ContainerAlreadyExists', 'The specified container already exists.', false);
    this.containerFiles(container);
    this.ok(res, 201, undefined, { ETag: this.nextEtag(), 'Last-Modified': new Date().toUTCString() });
  }

  private directoryExists(container: string, dir: string): boolean {
    if (dir === '') return true;
    if (this.directories.get(container)?.has(dir)) return true;
    for (const f of this.containers.get(container)?.keys() ?? []) if (f.startsWith(`${dir}/`)) return true;
    return false;
  }

  private addParents(container: string, p: string): void {
    const dirs = this.directories.get(container)!;
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }

  private createFile(req: IncomingMessage, res: ServerResponse, container: string, p: string): void {
    const files = this.files(res, container, true);
    if (!files) return;
    if (req.headers['if-none-match'] === '*' && files.has(p)) return this.error(res, 409, 'PathAlreadyExists', 'The specified path already exists.', true);
    // Path Create replaces an existing file with an empty one: readers now see 0 bytes.
    const file: StoredFile = {
      content: Buffer.alloc(0),
      contentType: headerText(req, 'x-ms-content-type'),
      metadata: parseProperties(headerText(req, 'x-ms-properties')),
      etag: this.nextEtag(),
      lastModified: new Date(),
      appended: new Map(),
    };
    files.set(p, file);
    this.addParents(container, p);
    this.emit('Microsoft.Storage.BlobCreated', container, p, {
      api: 'CreateFile',
      url: this.fileUrl('dfs', container, p),
      contentLength: 0,
      contentOffset: 0,
      eTag: file.etag,
    });
    this.ok(res, 201, file);
  }

  private createDirectory(req: IncomingMessage, res: ServerResponse, container: string, p: string): void {
    if (!this.files(res, container, true)) return;
    if (req.headers['if-none-match'] === '*' && this.directoryExists(container, p)) {
      return this.error(res, 409, 'PathAlreadyExists', 'The specified path already exists.', true);
    }
    this.directories.get(container)!.add(p);
    this.addParents(container, p);
    this.emit('Microsoft.Storage.DirectoryCreated', container, p, { api: 'CreateDirectory', url: this.fileUrl('dfs', container, p) });
    this.ok(res, 201, undefined, { ETag: this.nextEtag(), 'Last-Modified': new Date().toUTCString() });
  }

  private rename(req: IncomingMessage, res: ServerResponse, container: string, p: string): void {
    const files = this.files(res, container, true);
    if (!files) return;
    const source = this.locate(headerText(req, 'x-ms-rename-source')!.split('?')[0]!);
    const from = this.containers.get(source.container)?.get(source.path);
    if (!from) return this.error(res, 404, 'SourcePathNotFound', 'The source path for a rename operation does not exist.', true);
    const slash = p.lastIndexOf('/');
    if (slash > 0 && !this.directoryExists(container, p.slice(0, slash))) {
      return this.error(res, 404, 'RenameDestinationParentPathNotFound', 'The parent directory of the destination path does not exist.', true);
    }
    this.containers.get(source.container)!.delete(source.path);
    files.set(p, from);
    this.emit('Microsoft.Storage.BlobRenamed', container, p, {
      api: 'RenameFile',
      sourceUrl: this.fileUrl('dfs', source.container, source.path),
      destinationUrl: this.fileUrl('dfs', container, p),
    });
    this.ok(res, 201, from);
  }

  private append(res: ServerResponse, container: string, p: string, position: number, body: Buffer): void {
    const files = this.files(res, container, true);
    if (!files) return;
    const file = files.get(p);
    if (!file) return this.error(res, 404, 'PathNotFound', 'The specified path does not exist.', true);
    if (!Number.isInteger(position) || position < file.content.length) {
      return this.error(res, 400, 'InvalidFlushPosition', 'The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.', true);
    }
    file.appended.set(position, body);
    this.ok(res, 202);
  }

  private flush(req: IncomingMessage, res: ServerResponse, container: string, p: string, position: number, close: boolean): void {
    const files = this.files(res, container, true);
    if (!files) return;
    const file = files.get(p);
    if (!file) return this.error(res, 404, 'PathNotFound', 'The specified path does not exist.', true);
    const parts = [file.content];
    let at = file.content.length;
    while (at < position) {
      const next = file.appended.get(at);
      if (!next) break;
      parts.push(next);
      at += next.length;
    }
    if (at !== position) {
      return this.error(res, 400, 'InvalidFlushPosition', 'The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.', true);
    }
    // retainUncommittedData defaults to false: the rest of the appended data is dropped.
    file.appended.clear();
    file.content = Buffer.concat(parts);
    const contentType = headerText(req, 'x-ms-content-type');
    if (contentType !== undefined) file.contentType = contentType;
    file.etag = this.nextEtag();
    file.lastModified = new Date();
    if (close) {
      this.emit('Microsoft.Storage.BlobCreated', container, p, {
        api: 'FlushWithClose',
        url: this.fileUrl('dfs', container, p),
        contentLength: file.content.length,
        contentOffset: 0,
        eTag: file.etag,
      });
    }
    this.ok(res, 200, file);
  }

  private listPaths(res: ServerResponse, container: string, query: Record<string, string>): void {
    const files = this.files(res, container, true);
    if (!files) return;
    const dir = query.directory ?? '';
    if (dir && !this.directoryExists(container, dir)) return this.error(res, 404, 'PathNotFound', 'The specified path does not exist.', true);
    const recursive = query.recursive === 'true';
    const under = (name: string) => !dir || name.startsWith(`${dir}/`);
    const direct = (name: string) => recursive || !name.slice(dir ? dir.length + 1 : 0).includes('/');
    const paths: Record<string, unknown>[] = [];
    for (const d of [...this.directories.get(container)!].sort()) {
      if (under(d) && direct(d)) paths.push({ name: d, isDirectory: 'true', lastModified: new Date().toUTCString(), etag: '0x1', contentLength: '0' });
    }
    for (const [name, f] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (under(name) && direct(name)) {
        paths.push({ name, lastModified: f.lastModified.toUTCString(), etag: f.etag.replace(/"/g, ''), contentLength: String(f.content.length) });
      }
    }
    this.common(res);
    res.setHeader('Content-Type', 'application/json;charset=utf-8');
    res.statusCode = 200;
    res.end(JSON.stringify({ paths }));
  }

  private deletePath(res: ServerResponse, container: string, p: string, dfs: boolean): void {
    const files = this.files(res, container, dfs);
    if (!files) return;
    const file = files.get(p);
    if (!file) return this.error(res, 404, dfs ? 'PathNotFound' : 'BlobNotFound', 'The specified path does not exist.', dfs);
    files.delete(p);
    this.emit('Microsoft.Storage.BlobDeleted', container, p, {
      api: dfs ? 'DeleteFile' : 'DeleteBlob',
      url: this.fileUrl(dfs ? 'dfs' : 'blob', container, p),
    });
    this.ok(res, dfs ? 200 : 202);
  }

  private blobHeaders(res: ServerResponse, file: StoredFile): void {
    res.setHeader('ETag', file.etag);
    res.setHeader('Last-Modified', file.lastModified.toUTCString());
    res.setHeader('x-ms-blob-type', 'BlockBlob');
    res.setHeader('Accept-Ranges', 'bytes');
    if (file.contentType) res.setHeader('Content-Type', file.contentType);
    for (const [k, v] of Object.entries(file.metadata)) res.setHeader(`x-ms-meta-${k}`, v);
  }

  private getBlob(req: IncomingMessage, res: ServerResponse, container: string, p: string, withBody: boolean): void {
    const files = this.files(res, container, false);
    if (!files) return;
    const file = files.get(p);
    if (!file) return this.error(res, 404, 'BlobNotFound', 'The specified blob does not exist.', false);
    this.common(res);
    this.blobHeaders(res, file);
    const range = /bytes=(\d+)-(\d*)/.exec(headerText(req, 'x-ms-range') ?? headerText(req, 'range') ?? '');
    let body = file.content;
    if (withBody && range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      body = file.content.subarray(start, end + 1);
      res.setHeader('Content-Range', `bytes ${start}-${end}/${file.content.length}`);
      res.statusCode = 206;
    } else {
      res.statusCode = 200;
    }
    res.setHeader('Content-Length', String(body.length));
    res.end(withBody ? body : undefined);
  }

  private listBlobs(res: ServerResponse, container: string, query: Record<string, string>): void {
    const files = this.files(res, container, false);
    if (!files) return;
    const prefix = query.prefix ?? '';
    const withMetadata = (query.include ?? '').includes('metadata');
    const items: string[] = [];
    for (const [name, f] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!name.startsWith(prefix)) continue;
      const metadata = withMetadata
        ? `<Metadata>${Object.entries(f.metadata)
            .map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`)
            .join('')}</Metadata>`
        : '';
      items.push(
        `<Blob><Name>${escapeXml(name)}</Name><Properties><Last-Modified>${f.lastModified.toUTCString()}</Last-Modified><Etag>${f.etag}</Etag>` +
          `<Content-Length>${f.content.length}</Content-Length><Content-Type>${escapeXml(f.contentType ?? 'application/octet-stream')}</Content-Type>` +
          `<BlobType>BlockBlob</BlobType></Properties>${metadata}</Blob>`,
      );
    }
    this.common(res);
    res.setHeader('Content-Type', 'application/xml');
    res.statusCode = 200;
    res.end(
      `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${this.url}/" ContainerName="${container}">` +
        `<Prefix>${escapeXml(prefix)}</Prefix><Blobs>${items.join('')}</Blobs><NextMarker /></EnumerationResults>`,
    );
  }

  private putBlock(res: ServerResponse, container: string, p: string, blockId: string, body: Buffer): void {
    if (!this.files(res, container, false)) return;
    const key = `${container}/${p}`;
    let blocks = this.staged.get(key);
    if (!blocks) this.staged.set(key, (blocks = new Map()));
    blocks.set(blockId, body);
    // Staged blocks are not part of the blob: no event, nothing visible.
    this.ok(res, 201);
  }

  private putBlockList(req: IncomingMessage, res: ServerResponse, container: string, p: string, body: Buffer): void {
    const files = this.files(res, container, false);
    if (!files) return;
    const blocks = this.staged.get(`${container}/${p}`) ?? new Map<string, Buffer>();
    const ids = [...body.toString('utf8').matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map((m) => m[2]!);
    const parts: Buffer[] = [];
    for (const id of ids) {
      const block = blocks.get(id);
      if (!block) return this.error(res, 400, 'InvalidBlockList', `block ${id} was not staged`, false);
      parts.push(block);
    }
    this.staged.delete(`${container}/${p}`);
    this.commitBlob(req, res, files, container, p, Buffer.concat(parts), 'PutBlockList');
  }

  private putBlob(req: IncomingMessage, res: ServerResponse, container: string, p: string, body: Buffer): void {
    const files = this.files(res, container, false);
    if (!files) return;
    this.commitBlob(req, res, files, container, p, body, 'PutBlob');
  }

  private copyBlob(req: IncomingMessage, res: ServerResponse, container: string, p: string): void {
    const files = this.files(res, container, false);
    if (!files) return;
    const sourceUrl = new URL(headerText(req, 'x-ms-copy-source')!);
    const source = this.locate(sourceUrl.pathname);
    const from = this.containers.get(source.container)?.get(source.path);
    if (!from) return this.error(res, 404, 'CannotVerifyCopySource', 'The specified blob does not exist.', false);
    const file = this.commitFile(files, container, p, Buffer.from(from.content), from.contentType, { ...from.metadata });
    this.emitBlobCreated('CopyBlob', container, p, file);
    this.ok(res, 202, file, { 'x-ms-copy-id': randomUUID(), 'x-ms-copy-status': 'success' });
  }

  private commitBlob(req: IncomingMessage, res: ServerResponse, files: Map<string, StoredFile>, container: string, p: string, content: Buffer, api: string): void {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-ms-meta-') && v !== undefined) metadata[k.slice(10)] = String(v);
    const file = this.commitFile(files, container, p, content, headerText(req, 'x-ms-blob-content-type'), metadata);
    this.emitBlobCreated(api, container, p, file);
    this.ok(res, 201, file);
  }

  private commitFile(files: Map<string, StoredFile>, container: string, p: string, content: Buffer, contentType: string | undefined, metadata: Record<string, string>): StoredFile {
    const file: StoredFile = { content, contentType, metadata, etag: this.nextEtag(), lastModified: new Date(), appended: new Map() };
    files.set(p, file);
    this.addParents(container, p);
    return file;
  }

  private emitBlobCreated(api: string, container: string, p: string, file: StoredFile): void {
    this.emit('Microsoft.Storage.BlobCreated', container, p, {
      api,
      url: this.fileUrl('blob', container, p),
      contentLength: file.content.length,
      eTag: file.etag,
    });
  }
}

function headerText(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(',') : v;
}

/** x-ms-properties: "key=base64(value),key2=base64(value2)". */
function parseProperties(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq).trim()] = Buffer.from(pair.slice(eq + 1), 'base64').toString('utf8');
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** The filter of the bronze Event Grid subscription, as deployed by infra/app/eventgrid-subscription.bicep. */
export interface SubscriptionFilter {
  includedEventTypes: string[];
  subjectBeginsWith: string;
  /** advancedFilters StringIn on data.api, when present. */
  apiIn?: string[];
}

/**
 * Reads the subscription's filter from the bicep file (so the tests follow infra changes):
 * includedEventTypes, subjectBeginsWith (with the containerName parameter's default substituted)
 * and a StringIn advanced filter on data.api. Event Grid filter semantics:
 * https://learn.microsoft.com/azure/event-grid/how-to-filter-events and the filter reference
 * https://learn.microsoft.com/javascript/api/@azure/arm-eventgrid/eventsubscriptionfilter (event
 * types, subject prefix without wildcards, compared case-insensitively unless
 * isSubjectCaseSensitive, advanced filters ANDed with the rest).
 */
export function bronzeSubscriptionFilter(repoRoot: string = path.resolve(__dirname, '..', '..')): SubscriptionFilter {
  const text = readFileSync(path.join(repoRoot, 'infra', 'app', 'eventgrid-subscription.bicep'), 'utf8');
  const params: Record<string, string> = {};
  for (const m of text.matchAll(/^param\s+(\w+)\s+string\s*=\s*'([^']*)'/gm)) params[m[1]!] = m[2]!;
  const types = /includedEventTypes:\s*\[([^\]]*)\]/.exec(text);
  const subject = /subjectBeginsWith:\s*'([^']*)'/.exec(text);
  if (!types || !subject) throw new Error('eventgrid-subscription.bicep has no includedEventTypes/subjectBeginsWith filter');
  const filter: SubscriptionFilter = {
    includedEventTypes: [...types[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!),
    subjectBeginsWith: subject[1]!.replace(/\$\{(\w+)\}/g, (_, name: string) => params[name] ?? `\${${name}}`),
  };
  const api = /key:\s*'data\.api'\s*values:\s*\[([^\]]*)\]/.exec(text);
  const apiOperator = /operatorType:\s*'(\w+)'\s*key:\s*'data\.api'/.exec(text);
  if (api) {
    if (apiOperator?.[1] !== 'StringIn') throw new Error(`unexpected operator on data.api: ${apiOperator?.[1]}`);
    filter.apiIn = [...api[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  }
  return filter;
}

/** True when Event Grid would deliver the event to the subscription. */
export function passesFilter(event: StorageEvent, filter: SubscriptionFilter): boolean {
  if (!filter.includedEventTypes.includes(event.eventType)) return false;
  // isSubjectCaseSensitive is not set in the bicep: its default, false, applies.
  if (!event.subject.toLowerCase().startsWith(filter.subjectBeginsWith.toLowerCase())) return false;
  if (filter.apiIn && !filter.apiIn.includes(event.data.api)) return false;
  return true;
}
