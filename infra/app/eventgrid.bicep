metadata name = 'Event Grid system topic'
metadata description = 'System topic on the lake storage account. Its BlobCreated subscription to the bronzeToSilver function is added after the code is deployed (eventgrid-subscription.bicep, run by the azd postdeploy hook), because the webhook needs the blobs_extension key the Functions host creates on first start.'

@description('Required. Name of the system topic.')
param name string

@description('Optional. Azure region of the topic; must be the region of the storage account.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the topic.')
param tags object = {}

@description('Required. Name of the lake storage account whose events the topic publishes.')
param lakeAccountName string

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: lake.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

@description('Name of the system topic.')
output name string = systemTopic.name

@description('Object id of the topic identity (writes dead letters to the lake).')
output principalId string = systemTopic.identity.principalId
