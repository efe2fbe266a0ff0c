metadata name = 'Functions host storage'
metadata description = 'General-purpose v2 account the Functions host uses (AzureWebJobsStorage: leases, checkpoints, blob receipts) and the Flex Consumption deployment container. Kept apart from the lake so the lake holds data only. Shared keys and public access are off.'

@description('Required. Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Optional. Azure region of the account.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the account.')
param tags object = {}

@description('Optional. Replication of the account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string = 'Standard_LRS'

@description('Optional. Blob container the deployment package of the function app is uploaded to.')
@minLength(3)
@maxLength(63)
param deploymentContainerName string = 'app-package'

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
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
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

@description('Name of the host storage account (AzureWebJobsStorage__accountName).')
output name string = hostStorage.name

@description('Resource id of the host storage account.')
output resourceId string = hostStorage.id

@description('Name of the deployment container.')
output deploymentContainerName string = deploymentContainer.name
