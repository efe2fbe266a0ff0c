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

@description('Required. PostgreSQL role the app logs in as (POSTGRES_USER): the application role the deploy-time migration (infra/hooks/postprovision) creates for the identity, named after it. Not an administrator.')
param postgresUser string

@description('Optional. Port the app connects to (POSTGRES_PORT): 6432 is the server\'s built-in PgBouncer, 5432 PostgreSQL itself. Derived by connection-budget.bicep.')
@allowed([
  5432
  6432
])
param postgresPort int = 5432

@description('Optional. Connections one instance may open (POSTGRES_POOL_MAX), derived by connection-budget.bicep from the server\'s connection limit and maximumInstanceCount.')
@minValue(1)
param postgresPoolMax int = 1

@description('Optional. POSTGRES_POOL_MODE: transaction when the app connects through PgBouncer in transaction mode, empty when it connects to PostgreSQL directly.')
@allowed([
  ''
  'transaction'
])
param postgresPoolMode string = ''

@description('Required. Name of the Application Insights component.')
param applicationInsightsName string

// Node.js 20 reached end of life on 2026-04-30. Flex Consumption supports "Node.js 20, Node.js 22"
// (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#supported-language-stack-versions),
// and the language support table lists Node.js 22 as GA (end of support April 30, 2027) and Node.js 24
// as Preview (https://learn.microsoft.com/azure/azure-functions/supported-languages?pivots=programming-language-javascript).
// 22 is therefore the newest LTS that is GA on this plan; 24 is allowed for when it goes GA on Flex.
@description('Optional. Node.js major version of the app (functionAppConfig.runtime.version). 22: the newest LTS Azure Functions supports GA on Flex Consumption; 24 is in preview there (check the supported languages page before choosing it).')
@allowed([
  '22'
  '24'
])
param nodeVersion string = '22'

@description('Optional. Memory of each instance in MB; CPU is allotted in proportion (512 MB = 0.25 vCPU, 2048 MB = 1 vCPU, 4096 MB = 2 vCPU).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// "Currently the lowest maximum instance count value is 1, and the highest supported maximum instance
// count value is 1000" - and it applies to each per-function scale group:
// https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out
@description('Optional. Upper bound on the instances of each per-function scale group (1 to 1000). The PostgreSQL pool size of each instance is derived from it (connection-budget.bicep).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Optional. NCRONTAB schedule of the full gold rebuild (GOLD_REFRESH_SCHEDULE), in UTC.')
param goldRefreshSchedule string = '0 30 2 * * *'

@description('Optional. Minutes behind the newest customer update after which an update counts as late (CUSTOMERS_LATENESS_MINUTES).')
@minValue(0)
param customersLatenessMinutes int = 10

@description('Optional. Show e-mail addresses unmasked in gold (GOLD_SHOW_PII).')
param goldShowPii bool = false

@description('Optional. NCRONTAB schedule of the health checks (HEALTH_CHECK_SCHEDULE), in UTC; default hourly.')
param healthCheckSchedule string = '0 0 * * * *'

@description('Optional. Quarantined share of a dataset\'s rows over the last day above which its health check fails (HEALTH_QUARANTINE_RATE), a fraction between 0 and 1 written as text, e.g. \'0.05\'.')
param healthQuarantineRate string = '0.05'

@description('Optional. Attempts of one file version before a transient failure is given up on and the file is marked failed (MAX_FILE_ATTEMPTS).')
@minValue(1)
param maxFileAttempts int = 5

@description('Optional. DuckDB memory limit for one file\'s transform (MEDALLION_ENGINE_MEMORY). Empty derives it from instanceMemoryMB.')
param engineMemoryLimit string = ''

@description('Required. Name of the Key Vault holding the API tokens of the SaaS sources (keyvault.bicep); the app reads them through Key Vault references, as its user-assigned identity.')
param keyVaultName string

@description('Optional. Pipedrive company address, e.g. https://acme.pipedrive.com (PIPEDRIVE_BASE_URL). Empty: Pipedrive extraction is off. Its API token is the vault secret pipedrive-api-token.')
param pipedriveBaseUrl string = ''

@description('Optional. Zendesk account address, e.g. https://acme.zendesk.com (ZENDESK_BASE_URL). Empty: Zendesk extraction is off. Its API token is the vault secret zendesk-api-token.')
param zendeskBaseUrl string = ''

@description('Optional. E-mail address of the Zendesk user the API token belongs to (ZENDESK_EMAIL).')
param zendeskEmail string = ''

@description('Optional. NCRONTAB schedule (UTC) of the Pipedrive extraction (PIPEDRIVE_EXTRACT_SCHEDULE).')
param pipedriveExtractSchedule string = '0 0,30 * * * *'

@description('Optional. NCRONTAB schedule (UTC) of the Zendesk extraction (ZENDESK_EXTRACT_SCHEDULE).')
param zendeskExtractSchedule string = '0 15,45 * * * *'

@description('Optional. Minutes before the watermark each incremental extraction reads again (EXTRACT_OVERLAP_MINUTES).')
@minValue(0)
param extractOverlapMinutes int = 10

@description('Optional. Uncompressed bytes after which an extraction closes a bronze part file (EXTRACT_PART_MAX_BYTES).')
@minValue(1024)
param extractPartMaxBytes int = 67108864

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
    // Key Vault references resolve as the user-assigned identity (it has Key Vault Secrets User).
    keyVaultReferenceIdentity: identityResourceId
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

// Names of the vault entries holding the SaaS API tokens (set with az keyvault secret set; docs/sources.md).
var sourceTokenNames = {
  pipedrive: 'pipedrive-api-token'
  zendesk: 'zendesk-api-token'
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

  // PostgreSQL with an Entra token for the identity, as its application role (not an administrator).
  POSTGRES_HOST: postgresHost
  POSTGRES_DATABASE: postgresDatabase
  POSTGRES_USER: postgresUser
  // The connection budget (connection-budget.bicep): pool size per instance, and PgBouncer's port and
  // pool mode on General Purpose / Memory Optimized (https://learn.microsoft.com/azure/postgresql/connectivity/concepts-pgbouncer).
  POSTGRES_PORT: string(postgresPort)
  POSTGRES_POOL_MAX: string(postgresPoolMax)
  POSTGRES_POOL_MODE: postgresPoolMode

  // DefaultAzureCredential picks the user-assigned identity with this.
  AZURE_CLIENT_ID: identityClientId

  // Platform behaviour.
  GOLD_REFRESH_SCHEDULE: goldRefreshSchedule
  CUSTOMERS_LATENESS_MINUTES: string(customersLatenessMinutes)
  GOLD_SHOW_PII: goldShowPii ? 'true' : 'false'
  HEALTH_CHECK_SCHEDULE: healthCheckSchedule
  HEALTH_QUARANTINE_RATE: healthQuarantineRate
  MAX_FILE_ATTEMPTS: string(maxFileAttempts)
  MEDALLION_ENGINE_MEMORY: empty(engineMemoryLimit) ? derivedEngineMemory[string(instanceMemoryMB)] : engineMemoryLimit
  MEDALLION_ENGINE_THREADS: derivedEngineThreads[string(instanceMemoryMB)]

  // SaaS API sources (shared/sources/): addresses and schedules here, the tokens in Key Vault
  // (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
  PIPEDRIVE_BASE_URL: pipedriveBaseUrl
  PIPEDRIVE_API_TOKEN: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${sourceTokenNames.pipedrive})'
  ZENDESK_BASE_URL: zendeskBaseUrl
  ZENDESK_EMAIL: zendeskEmail
  ZENDESK_API_TOKEN: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${sourceTokenNames.zendesk})'
  PIPEDRIVE_EXTRACT_SCHEDULE: pipedriveExtractSchedule
  ZENDESK_EXTRACT_SCHEDULE: zendeskExtractSchedule
  EXTRACT_OVERLAP_MINUTES: string(extractOverlapMinutes)
  EXTRACT_PART_MAX_BYTES: string(extractPartMaxBytes)
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
