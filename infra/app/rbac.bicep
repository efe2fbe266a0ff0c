metadata name = 'Role assignments'
metadata description = 'Every data-plane permission of the platform, each assignment named guid(scope, principal, role): the function identity on the lake, the host storage, Event Hubs (receive only) and Application Insights; the Event Grid system topic on the lake (dead letters); and, optionally, the deploying user.'

@description('Required. Object (principal) id of the function app identity.')
param identityPrincipalId string

@description('Required. Name of the lake storage account.')
param lakeAccountName string

@description('Required. Name of the Functions host storage account.')
param hostStorageAccountName string

@description('Required. Name of the Event Hubs namespace.')
param eventHubsNamespaceName string

@description('Required. Name of the Application Insights component.')
param applicationInsightsName string

@description('Required. Object id of the Event Grid system topic identity; it writes undeliverable events to the lake\'s dead-letter container.')
param systemTopicPrincipalId string

@description('Optional. Object id of the person or pipeline deploying the platform; gets Storage Blob Data Contributor on the lake (to drop files into bronze) and Event Hubs Data Sender (to send test events). Empty grants nothing.')
param deployerPrincipalId string = ''

@description('Optional. Type of deployerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var grantDeployer = !empty(deployerPrincipalId)

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeAccountName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource eventHubsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---- Function identity on the lake: read bronze, write silver/gold/quarantine (blob trigger connection LakeStorage).

resource lakeBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, identityPrincipalId, roles.storageBlobDataOwner)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: read and write the lake (bronze, silver, gold, quarantine).'
  }
}

resource lakeQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, identityPrincipalId, roles.storageQueueDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: blob trigger poison queue on the lake connection.'
  }
}

// ---- Function identity on the host storage: AzureWebJobsStorage and the deployment container.

resource hostBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: host storage (leases, Event Hubs checkpoints, blob receipts) and deployment package.'
  }
}

resource hostQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roles.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: host queues (blob trigger).'
  }
}

resource hostTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identityPrincipalId, roles.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: host diagnostic events table.'
  }
}

// ---- Function identity on Event Hubs.

resource eventHubsDataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubsNamespace.id, identityPrincipalId, roles.eventHubsDataReceiver)
  scope: eventHubsNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: read the customers hub (Event Hubs trigger).'
  }
}

// No Azure Event Hubs Data Sender for the app: no function sends events (least privilege). Data
// Receiver is what the Event Hubs trigger needs with an identity-based connection:
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-event-hubs-trigger#identity-based-connections

// ---- Function identity on Application Insights (Entra-authenticated telemetry ingestion).

resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: send telemetry to Application Insights with an Entra token.'
  }
}

// ---- Event Grid system topic identity: dead-letter undeliverable BlobCreated events into the lake.

resource systemTopicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, systemTopicPrincipalId, roles.storageBlobDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: systemTopicPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Event Grid system topic: write dead-lettered events.'
  }
}

// ---- Optional: the deploying principal, so `az storage blob upload --auth-mode login` into bronze works.

resource deployerLakeBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(lake.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'Deployer: drop files into bronze and read the lake.'
  }
}

resource deployerEventHubsDataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantDeployer) {
  name: guid(eventHubsNamespace.id, deployerPrincipalId, roles.eventHubsDataSender)
  scope: eventHubsNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    description: 'Deployer: send test events to the customers hub.'
  }
}
