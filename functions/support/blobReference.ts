import type { ModelBindingData, ResourceFactoryResolver as Resolver } from '@azure/functions-extensions-base';

// The CommonJS build on purpose: @azure/functions require()s it, and the resolver is a singleton
// per module instance (an ESM import would get a second, empty registry).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ResourceFactoryResolver } = require('@azure/functions-extensions-base') as { ResourceFactoryResolver: typeof Resolver };

/** Where a triggering blob is: the SDK-type binding hands us this instead of the blob's bytes. */
export interface BlobReference {
  container: string;
  blobName: string;
}

const SOURCE = 'AzureStorageBlobs';

function parse(data: ModelBindingData): BlobReference {
  const raw = data.content ? Buffer.from(data.content).toString('utf8') : '{}';
  const json = JSON.parse(raw) as { ContainerName?: string; BlobName?: string };
  if (!json.ContainerName || !json.BlobName) throw new Error(`blob binding data without ContainerName/BlobName: ${raw.slice(0, 200)}`);
  return { container: json.ContainerName, blobName: json.BlobName };
}

/**
 * With `sdkBinding: true` the host sends binding data (container + blob name) rather than the
 * content, so a multi-GB file never passes through the worker's memory. We register a factory
 * that turns it into a reference; the pipeline then streams the blob itself.
 */
export function registerBlobReferenceFactory(): void {
  const resolver = ResourceFactoryResolver.getInstance();
  if (!resolver.hasResourceFactory(SOURCE)) {
    resolver.registerResourceFactory(SOURCE, (data) => parse(Array.isArray(data) ? data[0]! : data));
  }
}

/** The bronze path of the triggering blob, from the binding value or the trigger metadata. */
export function bronzePathOf(value: unknown, triggerMetadata: Record<string, unknown> | undefined): string {
  if (value && typeof value === 'object' && 'blobName' in value) return (value as BlobReference).blobName;
  const trigger = triggerMetadata?.blobTrigger;
  if (typeof trigger === 'string' && trigger.startsWith('bronze/')) return trigger.slice('bronze/'.length);
  const name = triggerMetadata?.name;
  if (typeof name === 'string') return name;
  throw new Error('cannot tell which blob triggered this invocation (no binding data, blobTrigger or name)');
}
