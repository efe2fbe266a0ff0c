metadata name = 'Data lake'
metadata description = 'ADLS Gen2 account (hierarchical namespace) holding the bronze, silver, gold and quarantine containers, with shared keys and public blob access off, TLS 1.2, blob soft delete and a lifecycle policy.'

@description('Required. Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Optional. Azure region of the account.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the account.')
param tags object = {}

@description('Optional. Replication of the account. The archive tier exists only on LRS, GRS and RA-GRS accounts, so on zone-redundant SKUs the bronze archive step is left out of the lifecycle policy.')
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_LRS'

@description('Optional. Days after its last modification before a bronze file moves to the cool tier (N).')
@minValue(1)
param bronzeCoolAfterDays int = 30

@description('Optional. Days after its last modification before a bronze file moves to the archive tier (M). Must be greater than bronzeCoolAfterDays; 0 keeps bronze out of archive. Archived files must be rehydrated before they can be reprocessed.')
@minValue(0)
param bronzeArchiveAfterDays int = 180

@description('Optional. Days after its last modification before a quarantined file (and an Event Grid dead letter) is deleted (K).')
@minValue(1)
param quarantineDeleteAfterDays int = 90

@description('Optional. Days a deleted or overwritten blob stays recoverable (blob soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

@description('Optional. Container that receives Event Grid events that could not be delivered to the function app.')
param deadLetterContainerName string = 'eventgrid-deadletter'

// The medallion layers. `bronze` is where files are dropped; the blob trigger reads only from it.
var dataContainerNames = [
  'bronze'
  'silver'
  'gold'
  'quarantine'
]

var archiveSupported = contains(['Standard_LRS', 'Standard_GRS', 'Standard_RAGRS'], skuName)
var archiveEnabled = archiveSupported && bronzeArchiveAfterDays > bronzeCoolAfterDays

var bronzeTierToCool = {
  tierToCool: {
    daysAfterModificationGreaterThan: bronzeCoolAfterDays
  }
}

var bronzeTierToArchive = archiveEnabled
  ? {
      tierToArchive: {
        daysAfterModificationGreaterThan: bronzeArchiveAfterDays
      }
    }
  : {}

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    isHnsEnabled: true
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: lake
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in concat(dataContainerNames, [deadLetterContainerName]): {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: lake
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          enabled: true
          name: 'bronze-cool-then-archive'
          type: 'Lifecycle'
          definition: {
            actions: {
              baseBlob: union(bronzeTierToCool, bronzeTierToArchive)
            }
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'bronze/'
              ]
            }
          }
        }
        {
          enabled: true
          name: 'quarantine-expiry'
          type: 'Lifecycle'
          definition: {
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: quarantineDeleteAfterDays
                }
              }
            }
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'quarantine/'
                '${deadLetterContainerName}/'
              ]
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

@description('Name of the lake account (LakeStorage__accountName).')
output name string = lake.name

@description('Resource id of the lake account.')
output resourceId string = lake.id

@description('Blob endpoint of the lake (LakeStorage__blobServiceUri).')
output blobEndpoint string = lake.properties.primaryEndpoints.blob

@description('Queue endpoint of the lake (LakeStorage__queueServiceUri; the blob trigger keeps its poison queue here).')
output queueEndpoint string = lake.properties.primaryEndpoints.queue

@description('Data Lake (dfs) endpoint of the lake.')
output dfsEndpoint string = lake.properties.primaryEndpoints.dfs

@description('Name of the container that receives undeliverable Event Grid events.')
output deadLetterContainerName string = deadLetterContainerName
