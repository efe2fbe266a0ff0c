metadata name = 'PostgreSQL'
metadata description = 'PostgreSQL Flexible Server with Microsoft Entra authentication only (password authentication disabled), a separate Entra administrator (the deploying person, group or pipeline, never the app identity), the platform database, TLS required, the built-in PgBouncer on General Purpose and Memory Optimized, and public (firewall) or private (VNet) access.'

@description('Required. Name of the server (3-63 lowercase letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(63)
param name string

@description('Optional. Azure region of the server.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the server.')
param tags object = {}

@description('Optional. PostgreSQL major version.')
@allowed([
  '16'
  '17'
])
param version string = '16'

@description('Optional. Compute SKU. Standard_B1ms (Burstable, 1 vCore, 2 GiB) is the cheapest and is billed for every hour the server runs.')
param skuName string = 'Standard_B1ms'

@description('Optional. Compute tier; must match skuName. High availability needs GeneralPurpose or MemoryOptimized.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'Burstable'

@description('Optional. Provisioned storage in GiB.')
@allowed([
  32
  64
  128
  256
  512
  1024
])
param storageSizeGB int = 32

@description('Optional. Days of point-in-time-restore backups kept.')
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 7

@description('Optional. Whether backups are also kept in the paired region.')
@allowed([
  'Disabled'
  'Enabled'
])
param geoRedundantBackup string = 'Disabled'

@description('Optional. High availability mode. Not available on the Burstable tier; ZoneRedundant needs a region with availability zones.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailabilityMode string = 'Disabled'

@description('Optional. Name of the platform database (POSTGRES_DATABASE).')
param databaseName string = 'medallion'

// The administrator runs the deploy-time migration with its own token; the app identity gets a
// plain application role from that migration (pgaadauth_create_principal_with_oid(..., isAdmin =>
// false, ...)), never azure_pg_admin:
// https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users
@description('Required. Object id of the Microsoft Entra administrator of the server: the person, group or pipeline principal that runs the deploy-time migration. Must not be the app identity.')
param administratorObjectId string

@description('Required. Name of that principal as Entra knows it: a user\'s user principal name, a group\'s or service principal\'s display name.')
@minLength(1)
param administratorPrincipalName string

@description('Optional. Type of the administrator principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param administratorPrincipalType string = 'User'

@description('Optional. Further Entra administrators, e.g. your own account or an admin group: [{ objectId, principalName, principalType: User | Group | ServicePrincipal }].')
param additionalAdministrators array = []

@description('Optional. public: reachable over the internet through the firewall rules below (Entra tokens still required). private: injected into a delegated subnet, no public endpoint.')
@allowed([
  'public'
  'private'
])
param networkAccess string = 'public'

@description('Optional. public only: add the 0.0.0.0 rule that admits connections from Azure services, which a Flex Consumption app without VNet integration needs (its outbound addresses are not fixed).')
param allowAzureServices bool = true

@description('Optional. public only: further firewall rules, [{ name, startIpAddress, endIpAddress }], e.g. your own address for psql.')
param firewallRules array = []

@description('Conditional. private only: resource id of the subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers.')
param delegatedSubnetResourceId string = ''

@description('Conditional. private only: resource id of the private DNS zone linked to the virtual network.')
param privateDnsZoneResourceId string = ''

@description('Optional. Extensions to allow-list (azure.extensions), e.g. [\'PGCRYPTO\']. Empty leaves the server default.')
param allowedExtensions array = []

@description('Optional. Enable the built-in PgBouncer (port 6432, transaction pooling). It exists on GeneralPurpose and MemoryOptimized only; connection-budget.bicep decides.')
param pgbouncerEnabled bool = false

@description('Optional. PgBouncer only: pgbouncer.default_pool_size, server connections per user/database pair.')
@minValue(1)
param pgbouncerDefaultPoolSize int = 50

@description('Optional. PgBouncer only: pgbouncer.max_client_conn, client connections PgBouncer accepts.')
@minValue(1)
param pgbouncerMaxClientConn int = 5000

var isPrivate = networkAccess == 'private'

var azureServicesRule = allowAzureServices
  ? [
      {
        name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
        startIpAddress: '0.0.0.0'
        endIpAddress: '0.0.0.0'
      }
    ]
  : []

var effectiveFirewallRules = isPrivate ? [] : concat(azureServicesRule, firewallRules)

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    createMode: 'Default'
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: {
      mode: highAvailabilityMode
    }
    network: isPrivate
      ? {
          delegatedSubnetResourceId: delegatedSubnetResourceId
          privateDnsZoneArmResourceId: privateDnsZoneResourceId
          publicNetworkAccess: 'Disabled'
        }
      : {
          publicNetworkAccess: 'Enabled'
        }
  }
}

// A flexible server accepts one management operation at a time, so every child below is
// chained: firewall rules, then the database, then the administrators, then the parameters.

@batchSize(1)
resource firewall 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = [
  for rule in effectiveFirewallRules: {
    parent: server
    name: rule.name
    properties: {
      startIpAddress: rule.startIpAddress
      endIpAddress: rule.endIpAddress
    }
  }
]

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    firewall
  ]
}

resource entraAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: administratorObjectId
  properties: {
    principalName: administratorPrincipalName
    principalType: administratorPrincipalType
    tenantId: tenant().tenantId
  }
  dependsOn: [
    database
  ]
}

@batchSize(1)
resource extraAdmins 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = [
  for admin in additionalAdministrators: {
    parent: server
    name: admin.objectId
    properties: {
      principalName: admin.principalName
      principalType: admin.principalType
      tenantId: tenant().tenantId
    }
    dependsOn: [
      entraAdmin
    ]
  }
]

resource requireSecureTransport 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'ON'
    source: 'user-override'
  }
  dependsOn: [
    entraAdmin
    extraAdmins
  ]
}

resource extensions 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (!empty(allowedExtensions)) {
  parent: server
  name: 'azure.extensions'
  properties: {
    value: join(allowedExtensions, ',')
    source: 'user-override'
  }
  dependsOn: [
    requireSecureTransport
  ]
}

// Built-in PgBouncer, configured through server parameters ("change the pgbouncer.enabled setting to
// true. There's no need to restart the server"; parameters and defaults in the same page):
// https://learn.microsoft.com/azure/postgresql/connectivity/concepts-pgbouncer#enable-and-configure-pgbouncer
// Transaction pooling is the documented recommendation ("we recommend transaction pooling for most
// users"). Chained like everything else: one management operation at a time.
var pgbouncerParameters = [
  {
    name: 'pgbouncer.enabled'
    value: 'true'
  }
  {
    name: 'pgbouncer.pool_mode'
    value: 'transaction'
  }
  {
    name: 'pgbouncer.default_pool_size'
    value: string(pgbouncerDefaultPoolSize)
  }
  {
    name: 'pgbouncer.max_client_conn'
    value: string(pgbouncerMaxClientConn)
  }
]

@batchSize(1)
resource pgbouncer 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = [
  for parameter in pgbouncerParameters: if (pgbouncerEnabled) {
    parent: server
    name: parameter.name
    properties: {
      value: parameter.value
      source: 'user-override'
    }
    dependsOn: [
      requireSecureTransport
      extensions
    ]
  }
]

@description('Name of the server.')
output name string = server.name

@description('Resource id of the server.')
output resourceId string = server.id

@description('Host name of the server (POSTGRES_HOST).')
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName

@description('Name of the platform database (POSTGRES_DATABASE).')
output databaseName string = database.name

@description('Name of the Entra administrator (the psql user of the deploy-time migration).')
output administratorName string = entraAdmin.properties.principalName
