import { DefaultAzureCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import { DataLakeServiceClient } from '@azure/storage-file-datalake';
import type { LakeSettings } from '../config';
import { AdlsLake } from './adlsLake';
import { BlobLake } from './blobLake';
import type { Lake } from './lake';

/** Builds the lake adapter the settings ask for: connection string locally, managed identity in Azure. */
export function createLake(settings: LakeSettings): Lake {
  if (settings.kind === 'connectionString') {
    if (settings.adapter === 'blob') return new BlobLake(BlobServiceClient.fromConnectionString(settings.connectionString));
    return new AdlsLake(DataLakeServiceClient.fromConnectionString(settings.connectionString));
  }
  const credential = new DefaultAzureCredential(settings.clientId ? { managedIdentityClientId: settings.clientId } : {});
  if (settings.adapter === 'blob') {
    const url = settings.blobUrl ?? `https://${settings.accountName}.blob.core.windows.net`;
    return new BlobLake(new BlobServiceClient(url, credential));
  }
  return new AdlsLake(new DataLakeServiceClient(`https://${settings.accountName}.dfs.core.windows.net`, credential));
}
