targetScope = 'subscription'

metadata name = 'Medallion data platform'
metadata description = 'Everything the platform needs, from an empty subscription: the ADLS Gen2 lake, Event Hubs, PostgreSQL Flexible Server, the Flex Consumption function app, role assignments, the Event Grid system topic and monitoring. No key or password is created or used anywhere: every connection is a Microsoft Entra token for the app\'s user-assigned identity.'

// ------------------------------------------------------------------------------------------
// Environment
// ------------------------------------------------------------------------------------------

@description('Required. Name of the azd environment. Names the resource group and seeds the unique suffix of every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Required. Azure region of every resource; it must offer Flex Consumption and PostgreSQL Flexible Server.')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional. Name of the resource group to create. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Optional. Object id of whoever runs the deployment (azd sets AZURE_PRINCIPAL_ID). Gets data access to drop files into bronze and send test events when grantDeployerAccess is true.')
param principalId string = ''

@description('Optional. Type of principalId (azd sets AZURE_PRINCIPAL_TYPE).')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Optional. Grant principalId Storage Blob Data Contributor on the lake and Event Hubs Data Sender. Turn off for CI deployments.')
param grantDeployerAccess bool = true

@description('Optional. Tags applied to every resource, besides azd-env-name.')
param tags object = {}

// ------------------------------------------------------------------------------------------
// Lake
// ------------------------------------------------------------------------------------------

@description('Optional. Replication of the lake account. Archive tiering applies only to LRS, GRS and RA-GRS.')
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param lakeSkuName string = 'Standard_LRS'

@description('Optional. N: days after which bronze files move to the cool tier.')
@minValue(1)
param bronzeCoolAfterDays int = 30

@description('Optional. M: days after which bronze files move to the archive tier; must exceed N. 0 disables archiving.')
@minValue(0)
param bronzeArchiveAfterDays int = 180

@description('Optional. K: days after which quarantined files are deleted.')
@minValue(1)
param quarantineDeleteAfterDays int = 90

@description('Optional. Days deleted or overwritten blobs stay recoverable (blob soft delete).')
@minValue(1)
@maxValue(365)
param blobSoftDeleteRetentionDays int = 7

// ------------------------------------------------------------------------------------------
// Event Hubs
// ------------------------------------------------------------------------------------------

@description('Optional. Event Hubs tier.')
@allowed([
  'Standard'
  'Premium'
])
param eventHubsSkuName string = 'Standard'

@description('Optional. Event Hubs throughput units (Standard) or processing units (Premium).')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int = 1

@description('Optional. Partition count of the customers hub.')
@minValue(1)
@maxValue(32)
param customersPartitionCount int = 2

@description('Optional. Days events stay in the customers hub.')
@minValue(1)
@maxValue(7)
param customersRetentionDays int = 1

@description('Optional. Consumer group the platform reads the customers hub with.')
param eventHubConsumerGroupName string = 'medallion'

// ------------------------------------------------------------------------------------------
// PostgreSQL
// ------------------------------------------------------------------------------------------

@description('Optional. PostgreSQL major version.')
@allowed([
  '16'
  '17'
])
param postgresVersion string = '16'

@description('Optional. PostgreSQL compute SKU.')
param postgresSkuName string = 'Standard_B1ms'

@description('Optional. PostgreSQL compute tier; must match postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('Optional. PostgreSQL storage in GiB.')
@allowed([
  32
  64
  128
  256
  512
  1024
])
param postgresStorageSizeGB int = 32

@description('Optional. Days of PostgreSQL point-in-time-restore backups.')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7

@description('Optional. Geo-redundant PostgreSQL backups.')
@allowed([
  'Disabled'
  'Enabled'
])
param postgresGeoRedundantBackup string = 'Disabled'

@description('Optional. PostgreSQL high availability; needs the GeneralPurpose or MemoryOptimized tier.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@description('Optional. Name of the platform database.')
param postgresDatabaseName string = 'medallion'

@description('Optional. Object id of the PostgreSQL Microsoft Entra administrator, who runs the deploy-time migration (infra/hooks/postprovision) with its own token. Empty: principalId, the deployer (AZURE_PRINCIPAL_ID). Never the app identity.')
param postgresAdminObjectId string = ''

@description('Required. Name of the PostgreSQL Entra administrator as Entra knows it: your user principal name (az ad signed-in-user show --query userPrincipalName -o tsv), or the display name of a group or of the pipeline\'s service principal (MEDALLION_POSTGRES_ADMIN_NAME).')
@minLength(1)
param postgresAdminName string

@description('Optional. Type of the PostgreSQL Entra administrator. Empty: principalType.')
@allowed([
  ''
  'User'
  'Group'
  'ServicePrincipal'
])
param postgresAdminType string = ''

@description('Optional. Further Entra administrators of PostgreSQL: [{ objectId, principalName, principalType }]. Never the app identity.')
param postgresAdditionalAdministrators array = []

@description('Optional. PostgreSQL connections kept free for the administrator, the migration and tools; the app\'s pool sizes are derived from what remains.')
@minValue(0)
param postgresConnectionHeadroom int = 5

@description('Optional. public only: extra PostgreSQL firewall rules, [{ name, startIpAddress, endIpAddress }].')
param postgresFirewallRules array = []

@description('Optional. Extensions to allow-list on PostgreSQL (azure.extensions).')
param postgresAllowedExtensions array = []

// ------------------------------------------------------------------------------------------
// Network
// ------------------------------------------------------------------------------------------

@description('Optional. public: PostgreSQL has a public endpoint behind firewall rules (Azure services allowed) and the app has no VNet. private: a virtual network is created, PostgreSQL is injected into it without a public endpoint and the app reaches it through VNet integration.')
@allowed([
  'public'
  'private'
])
param networkAccess string = 'public'

@description('Optional. private only: address space of the virtual network.')
param vnetAddressPrefix string = '10.40.0.0/16'

// ------------------------------------------------------------------------------------------
// Function app
// ------------------------------------------------------------------------------------------

@description('Optional. Node.js major version of the function app: 22 is the newest LTS that Azure Functions supports GA on Flex Consumption; 24 is in preview there.')
@allowed([
  '22'
  '24'
])
param nodeVersion string = '22'

@description('Optional. Memory per function app instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Maximum number of instances of each per-function scale group (1 to 1000). Each instance\'s PostgreSQL pool (POSTGRES_POOL_MAX) is derived from it and the server\'s connection limit; with Standard_B1ms more than 10 does not fit (see the AZURE_POSTGRES_CONNECTION_BUDGET_FITS output).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Optional. NCRONTAB schedule (UTC) of the full gold rebuild.')
param goldRefreshSchedule string = '0 30 2 * * *'

@description('Optional. Minutes after which a customer update counts as late.')
@minValue(0)
param customersLatenessMinutes int = 10

@description('Optional. Show e-mail addresses unmasked in gold.')
param goldShowPii bool = false

@description('Optional. NCRONTAB schedule (UTC) of the health checks (HEALTH_CHECK_SCHEDULE).')
param healthCheckSchedule string = '0 0 * * * *'

@description('Optional. Quarantined share of a dataset\'s rows over the last day above which its health check fails (HEALTH_QUARANTINE_RATE), a fraction written as text.')
param healthQuarantineRate string = '0.05'

@description('Optional. Attempts of one file version before a transient failure marks it failed (MAX_FILE_ATTEMPTS).')
@minValue(1)
param maxFileAttempts int = 5

// ------------------------------------------------------------------------------------------
// SaaS API sources (tokens in Key Vault: set them after deployment, docs/sources.md)
// ------------------------------------------------------------------------------------------

@description('Optional. Pipedrive company address, e.g. https://acme.pipedrive.com. Empty: Pipedrive extraction is off. Its API token goes into the vault as pipedrive-api-token.')
param pipedriveBaseUrl string = ''

@description('Optional. Zendesk account address, e.g. https://acme.zendesk.com. Empty: Zendesk extraction is off. Its API token goes into the vault as zendesk-api-token.')
param zendeskBaseUrl string = ''

@description('Optional. E-mail address of the Zendesk user the API token belongs to.')
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

@description('Optional. Purge protection on the Key Vault. Off by default so that `azd down --purge` removes the vault; turn it on for production.')
param keyVaultPurgeProtection bool = false

// ------------------------------------------------------------------------------------------
// Monitoring
// ------------------------------------------------------------------------------------------

@description('Optional. Days logs are kept in Log Analytics.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Optional. E-mail address notified by the alert rules. Empty: alerts are raised in Azure Monitor without notification.')
param alertEmailAddress string = ''

@description('Optional. Quarantine-rate alert threshold, in percent of the rows a dataset read in one evaluation window.')
@minValue(0)
@maxValue(100)
param quarantineRateThresholdPercent int = 5

@description('Optional. Failure alert threshold: failures tolerated in one evaluation window.')
@minValue(0)
param functionFailureThreshold int = 0

// ------------------------------------------------------------------------------------------
// Names
// ------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var postgresAdmin = {
  objectId: !empty(postgresAdminObjectId) ? postgresAdminObjectId : principalId
  principalName: postgresAdminName
  principalType: !empty(postgresAdminType) ? postgresAdminType : principalType
}
var allTags = union(tags, { 'azd-env-name': environmentName })
var isPrivate = networkAccess == 'private'

var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  identity: 'id-medallion-${resourceToken}'
  lake: 'stlake${resourceToken}'
  hostStorage: 'stfunc${resourceToken}'
  eventHubs: 'evhns-medallion-${resourceToken}'
  postgres: 'psql-medallion-${resourceToken}'
  plan: 'plan-medallion-${resourceToken}'
  functionApp: 'func-medallion-${resourceToken}'
  logAnalytics: 'log-medallion-${resourceToken}'
  appInsights: 'appi-medallion-${resourceToken}'
  systemTopic: 'evgt-lake-${resourceToken}'
  vnet: 'vnet-medallion-${resourceToken}'
  keyVault: 'kv-med-${resourceToken}'
}

var functionsSubnetName = 'snet-functions'
var postgresSubnetName = 'snet-postgres'
var postgresDnsZoneName = '${names.postgres}.private.postgres.database.azure.com'
var customersEventHubName = 'customers'
var deadLetterContainerName = 'eventgrid-deadletter'
var bronzeFunctionName = 'bronzeToSilver'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: allTags
}

// ------------------------------------------------------------------------------------------
// Modules, one per concern
// ------------------------------------------------------------------------------------------

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module lake 'app/lake.bicep' = {
  name: 'lake'
  scope: rg
  params: {
    name: names.lake
    location: location
    tags: allTags
    skuName: lakeSkuName
    bronzeCoolAfterDays: bronzeCoolAfterDays
    bronzeArchiveAfterDays: bronzeArchiveAfterDays
    quarantineDeleteAfterDays: quarantineDeleteAfterDays
    softDeleteRetentionDays: blobSoftDeleteRetentionDays
    deadLetterContainerName: deadLetterContainerName
  }
}

module hostStorage 'app/hoststorage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: names.hostStorage
    location: location
    tags: allTags
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    name: names.eventHubs
    location: location
    tags: allTags
    skuName: eventHubsSkuName
    skuCapacity: eventHubsCapacity
    eventHubName: customersEventHubName
    partitionCount: customersPartitionCount
    messageRetentionInDays: customersRetentionDays
    consumerGroupName: eventHubConsumerGroupName
  }
}

module network 'app/network.bicep' = if (isPrivate) {
  name: 'network'
  scope: rg
  params: {
    name: names.vnet
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    functionsSubnetName: functionsSubnetName
    postgresSubnetName: postgresSubnetName
    postgresDnsZoneName: postgresDnsZoneName
  }
}

// Pool size per instance, PgBouncer or not, PgBouncer's parameters and the app role's connection
// limit, all derived from the SKU's max_connections and the scale-out limit (formula in the module).
module connectionBudget 'app/connection-budget.bicep' = {
  name: 'connection-budget'
  scope: rg
  params: {
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    maximumInstanceCount: maximumInstanceCount
    headroomConnections: postgresConnectionHeadroom
  }
}

module postgres 'app/postgres.bicep' = {
  name: 'postgres'
  scope: rg
  params: {
    name: names.postgres
    location: location
    tags: allTags
    version: postgresVersion
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    backupRetentionDays: postgresBackupRetentionDays
    geoRedundantBackup: postgresGeoRedundantBackup
    highAvailabilityMode: postgresHighAvailability
    databaseName: postgresDatabaseName
    administratorObjectId: postgresAdmin.objectId
    administratorPrincipalName: postgresAdmin.principalName
    administratorPrincipalType: postgresAdmin.principalType
    additionalAdministrators: postgresAdditionalAdministrators
    networkAccess: networkAccess
    firewallRules: postgresFirewallRules
    allowedExtensions: postgresAllowedExtensions
    pgbouncerEnabled: connectionBudget.outputs.pgbouncerEnabled
    pgbouncerDefaultPoolSize: connectionBudget.outputs.pgbouncerDefaultPoolSize
    pgbouncerMaxClientConn: connectionBudget.outputs.pgbouncerMaxClientConn
    delegatedSubnetResourceId: isPrivate
      ? resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Network/virtualNetworks/subnets', names.vnet, postgresSubnetName)
      : ''
    privateDnsZoneResourceId: isPrivate
      ? resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Network/privateDnsZones', postgresDnsZoneName)
      : ''
  }
  dependsOn: [
    network
  ]
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.appInsights
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
    alertEmailAddress: alertEmailAddress
    quarantineRateThresholdPercent: quarantineRateThresholdPercent
    functionFailureThreshold: functionFailureThreshold
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: names.systemTopic
    location: location
    tags: allTags
    lakeAccountName: lake.outputs.name
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    lakeAccountName: lake.outputs.name
    hostStorageAccountName: hostStorage.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    systemTopicPrincipalId: eventGrid.outputs.principalId
    deployerPrincipalId: grantDeployerAccess ? principalId : ''
    deployerPrincipalType: principalType
  }
}

// The vault of the SaaS API tokens; the app identity may read them, the deployer set them.
module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    readerPrincipalId: identity.outputs.principalId
    writerPrincipalId: grantDeployerAccess ? principalId : ''
    writerPrincipalType: principalType
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

module functionApp 'app/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: allTags
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: hostStorage.outputs.name
    deploymentContainerName: hostStorage.outputs.deploymentContainerName
    lakeAccountName: lake.outputs.name
    lakeBlobEndpoint: lake.outputs.blobEndpoint
    lakeQueueEndpoint: lake.outputs.queueEndpoint
    eventHubsFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    eventHubConsumerGroup: eventHubs.outputs.consumerGroupName
    postgresHost: postgres.outputs.fullyQualifiedDomainName
    postgresDatabase: postgres.outputs.databaseName
    postgresUser: identity.outputs.name
    postgresPort: connectionBudget.outputs.port
    postgresPoolMax: connectionBudget.outputs.poolMax
    postgresPoolMode: connectionBudget.outputs.poolMode
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    nodeVersion: nodeVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    goldRefreshSchedule: goldRefreshSchedule
    customersLatenessMinutes: customersLatenessMinutes
    goldShowPii: goldShowPii
    healthCheckSchedule: healthCheckSchedule
    healthQuarantineRate: healthQuarantineRate
    maxFileAttempts: maxFileAttempts
    keyVaultName: keyVault.outputs.name
    pipedriveBaseUrl: pipedriveBaseUrl
    zendeskBaseUrl: zendeskBaseUrl
    zendeskEmail: zendeskEmail
    pipedriveExtractSchedule: pipedriveExtractSchedule
    zendeskExtractSchedule: zendeskExtractSchedule
    extractOverlapMinutes: extractOverlapMinutes
    extractPartMaxBytes: extractPartMaxBytes
    virtualNetworkSubnetId: isPrivate
      ? resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Network/virtualNetworks/subnets', names.vnet, functionsSubnetName)
      : ''
  }
  // The app must not start before its identity can read the deployment container and the lake.
  dependsOn: [
    rbac
    network
  ]
}

// ------------------------------------------------------------------------------------------
// Outputs (azd stores each in the environment; the postdeploy hook reads them)
// ------------------------------------------------------------------------------------------

@description('Region of the deployment.')
output AZURE_LOCATION string = location

@description('Tenant of the deployment.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('Resource group holding the platform.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the function app.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('HTTPS address of the function app.')
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.uri

@description('Name of the blob-triggered function the Event Grid subscription targets.')
output AZURE_BRONZE_FUNCTION_NAME string = bronzeFunctionName

@description('Client id of the platform identity.')
output AZURE_PLATFORM_IDENTITY_CLIENT_ID string = identity.outputs.clientId

@description('Name of the lake (ADLS Gen2) account.')
output AZURE_LAKE_ACCOUNT_NAME string = lake.outputs.name

@description('Data Lake endpoint of the lake.')
output AZURE_LAKE_DFS_ENDPOINT string = lake.outputs.dfsEndpoint

@description('Name of the Functions host storage account.')
output AZURE_HOST_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name

@description('Name of the Event Grid system topic on the lake.')
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name

@description('Lake container for undeliverable Event Grid events.')
output AZURE_EVENTGRID_DEADLETTER_CONTAINER string = lake.outputs.deadLetterContainerName

@description('Fully qualified Event Hubs namespace.')
output AZURE_EVENTHUBS_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace

@description('Name of the customers event hub.')
output EVENTHUB_NAME string = eventHubs.outputs.eventHubName

@description('Consumer group of the platform.')
output EVENTHUB_CONSUMER_GROUP string = eventHubs.outputs.consumerGroupName

@description('Name of the PostgreSQL server.')
output AZURE_POSTGRES_SERVER_NAME string = postgres.outputs.name

@description('Host name of the PostgreSQL server.')
output POSTGRES_HOST string = postgres.outputs.fullyQualifiedDomainName

@description('Name of the platform database.')
output POSTGRES_DATABASE string = postgres.outputs.databaseName

@description('PostgreSQL application role the function app logs in as (created by the postprovision hook; named after the app identity).')
output POSTGRES_USER string = identity.outputs.name

@description('Object id of the app identity: the postprovision hook maps the application role to it (pgaadauth_create_principal_with_oid).')
output AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Entra administrator of PostgreSQL: the postprovision hook connects as this principal.')
output AZURE_POSTGRES_ADMIN_NAME string = postgres.outputs.administratorName

@description('Object id of the Entra administrator of PostgreSQL.')
output AZURE_POSTGRES_ADMIN_OBJECT_ID string = postgresAdmin.objectId

@description('CONNECTION LIMIT the postprovision hook sets on the application role.')
output POSTGRES_APP_CONNECTION_LIMIT int = connectionBudget.outputs.appRoleConnectionLimit

@description('Port the app connects to (6432: PgBouncer).')
output POSTGRES_PORT int = connectionBudget.outputs.port

@description('Pool size of one app instance (POSTGRES_POOL_MAX).')
output POSTGRES_POOL_MAX int = connectionBudget.outputs.poolMax

@description('Connections the app opens with every scale group at maximumInstanceCount, against the budget it may use.')
output AZURE_POSTGRES_CONNECTION_BUDGET string = '${connectionBudget.outputs.worstCaseConnections} of ${connectionBudget.outputs.connectionBudget}'

@description('False when the app can open more connections than the budget (lower maximumInstanceCount or choose a larger SKU); the postprovision hook warns.')
output AZURE_POSTGRES_CONNECTION_BUDGET_FITS bool = connectionBudget.outputs.fits

@description('Name of the Key Vault holding the SaaS API tokens (az keyvault secret set --vault-name <it> --name pipedrive-api-token | zendesk-api-token).')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name

@description('Address of that Key Vault.')
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri

@description('Name of the Application Insights component.')
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName

@description('Name of the Log Analytics workspace.')
output AZURE_LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName

@description('Resource id of the platform workbook.')
output AZURE_WORKBOOK_ID string = monitoring.outputs.workbookId
