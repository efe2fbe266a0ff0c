metadata name = 'Function app'
metadata description = 'Flex Consumption plan (Linux) and the function app running the medallion code on Node, as a user-assigned managed identity, with identity-based app settings only: no connection string, key or password.'

@description('Required. Name of the function app (globally unique host name).')
param name string

@description('Required. Name of the Flex Consumption plan.')
param planName string

@description('Optional. Azure region of the plan and the app.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the plan and the app.')
param tags object = {}

@description('Optional. azd service name the app is tagged with (must match the service in azure.yaml).')
param serviceName string = 'medallion'

@description('Required. Resource id of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Required. Client id of the user-assigned identity.')
param identityClientId string

@description('Required. Name of the Functions host storage account (AzureWebJobsStorage).')
param hostStorageAccountName string

@description('Required. Container of the host storage account that receives the deployment package.')
param deploymentContainerName string

@description('Required. Name of the lake storage account.')
param lakeAccountName string

@description('Required. Blob endpoint of the lake.')
param lakeBlobEndpoint string

@description('Required. Queue endpoint of the lake.')
param lakeQueueEndpoint string

@description('Required. Fully qualified host name of the Event Hubs namespace.')
param eventHubsFullyQualifiedNamespace string

@description('Required. Name of the customers event hub.')
param eventHubName string

@description('Required. Consumer group the platform reads with.')
param eventHubConsumerGroup string

@description('Required. Host name of the PostgreSQL server.')
param postgresHost string

@description('Required. Name of the platform database.')
param postgresDatabase string

@description('Required. Entra principal name the identity logs in to PostgreSQL as (the identity\'s name).')
param postgresUser string

@description('Required. Name of the Application Insights component.')
param applicationInsightsName string

@description('Optional. Node.js version of the app.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '20'

@description('Optional. Memory of each instance in MB; CPU is allotted in proportion (512 MB = 0.25 vCPU, 2048 MB = 1 vCPU, 4096 MB = 2 vCPU).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Upper bound on the number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. NCRONTAB schedule of the full gold rebuild (GOLD_REFRESH_SCHEDULE), in UTC.')
param goldRefreshSchedule string = '0 30 2 * * *'

@description('Optional. Minutes behind the newest customer update after which an update counts as late (CUSTOMERS_LATENESS_MINUTES).')
@minValue(0)
param customersLatenessMinutes int = 10

@description('Optional. Show e-mail addresses unmasked in gold (GOLD_SHOW_PII).')
param goldShowPii bool = false

@description('Optional. DuckDB memory limit for one file\'s transform (MEDALLION_ENGINE_MEMORY). Empty derives it from instanceMemoryMB.')
param engineMemoryLimit string = ''

@description('Optional. Resource id of a subnet delegated to Microsoft.App/environments for VNet integration (private networking). Empty: no VNet integration.')
param virtualNetworkSubnetId string = ''

// DuckDB shares the instance with the Functions host and Node: give it about 40% of the memory,
// and one thread per allotted vCPU (the VM may report more cores than the instance owns).
var derivedEngineMemory = {
  '512': '200MB'
  '2048': '800MB'
  '4096': '1600MB'
}
var derivedEngineThreads = {
  '512': '1'
  '2048': '1'
  '4096': '2'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Every setting the app reads. The names outside the host/runtime group must be values of
// SETTINGS in shared/config.ts; tests/infra/settings.test.ts fails when the two disagree.
var appSettings = {
  // Functions host storage, identity-based.
  AzureWebJobsStorage__accountName: hostStorage.name
  AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: hostStorage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Application Insights with Entra-authenticated ingestion (the component has local auth disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // Lake: the blob trigger's connection (LakeStorage) and the code's lake adapter.
  LakeStorage__accountName: lakeAccountName
  LakeStorage__blobServiceUri: lakeBlobEndpoint
  LakeStorage__queueServiceUri: lakeQueueEndpoint
  LakeStorage__credential: 'managedidentity'
  LakeStorage__clientId: identityClientId

  // Event Hubs: the trigger's connection (EventHubConnection), hub and consumer group.
  EventHubConnection__fullyQualifiedNamespace: eventHubsFullyQualifiedNamespace
  EventHubConnection__credential: 'managedidentity'
  EventHubConnection__clientId: identityClientId
  EVENTHUB_NAME: eventHubName
  EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroup

  // PostgreSQL with an Entra token for the identity.
  POSTGRES_HOST: postgresHost
  POSTGRES_DATABASE: postgresDatabase
  POSTGRES_USER: postgresUser

  // DefaultAzureCredential picks the user-assigned identity with this.
  AZURE_CLIENT_ID: identityClientId

  // Platform behaviour.
  GOLD_REFRESH_SCHEDULE: goldRefreshSchedule
  CUSTOMERS_LATENESS_MINUTES: string(customersLatenessMinutes)
  GOLD_SHOW_PII: goldShowPii ? 'true' : 'false'
  MEDALLION_ENGINE_MEMORY: empty(engineMemoryLimit) ? derivedEngineMemory[string(instanceMemoryMB)] : engineMemoryLimit
  MEDALLION_ENGINE_THREADS: derivedEngineThreads[string(instanceMemoryMB)]
}

resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
}

@description('Name of the function app.')
output name string = functionApp.name

@description('Resource id of the function app.')
output resourceId string = functionApp.id

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName

@description('HTTPS base address of the function app.')
output uri string = 'https://${functionApp.properties.defaultHostName}'
