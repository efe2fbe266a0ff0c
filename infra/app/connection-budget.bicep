metadata name = 'PostgreSQL connection budget'
metadata description = 'Derives, from the PostgreSQL compute SKU and the function app\'s scale-out limit, the connection pool size of one app instance (POSTGRES_POOL_MAX), whether the app goes through the server\'s built-in PgBouncer (port 6432, transaction pooling) or straight to PostgreSQL (port 5432), the PgBouncer server parameters, and the connection limit of the app\'s database role. Deploys nothing: outputs only.'

// ------------------------------------------------------------------------------------------
// The formula (every number is an output, so `azd provision` shows what it derived):
//
//   instances    = scaleOutGroups x maximumInstanceCount      bronzeToSilver (Blob/Event Grid group), customersFromEventHub
//                + timerFunctionCount                         each timer runs on one instance at a time
//   serverUsers  = maxConnections[sku] - reservedConnections             what the server leaves to users (15 reserved)
//   budget       = PgBouncer ? pgbouncerMaxClientConn - headroomConnections
//                            : serverUsers - headroomConnections
//   poolMax      = max(1, min(poolCeiling, budget / instances))          integer division
//
// The maximum instance count of a Flex Consumption app applies to each per-function scale group,
// not to the app as a whole ("The maximum instance count applies to on-demand instances in each
// per-function scale group (function group) rather than to the app's combined instances"):
// https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out
// HTTP, Blob (Event Grid) and Durable triggers share a group per kind; every other function scales
// on its own instances: https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#per-function-scaling
// The Event Hubs group is counted at the full limit too (conservative: idle instances without a
// partition would not query, but nothing here relies on that).
// "The timer trigger uses a storage lock to ensure that there is only one timer instance when a
// function app scales out to multiple instances":
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#function-apps-sharing-storage
// ------------------------------------------------------------------------------------------

@description('Required. PostgreSQL compute SKU, e.g. Standard_B1ms, Standard_D2ds_v5; must be a key of the skus table below.')
param skuName string

@description('Required. PostgreSQL compute tier of skuName. PgBouncer exists on GeneralPurpose and MemoryOptimized only.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string

@description('Required. maximumInstanceCount of the function app (per scale group).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Optional. Scale groups of the app that scale out to maximumInstanceCount each: the Blob (Event Grid) group (bronzeToSilver) and the Event Hubs function (customersFromEventHub).')
@minValue(1)
param scaleOutGroups int = 2

@description('Optional. Timer-triggered functions of the app, each one instance at a time: goldRefresh (GOLD_REFRESH_SCHEDULE), the health checks (HEALTH_CHECK_SCHEDULE) and the API extractions extractPipedrive and extractZendesk (PIPEDRIVE_EXTRACT_SCHEDULE, ZENDESK_EXTRACT_SCHEDULE).')
@minValue(0)
param timerFunctionCount int = 4

@description('Optional. Connections kept free for people and tools: the deploy-time migration (infra/hooks/postprovision), psql sessions of the Entra administrator, Azure tooling.')
@minValue(0)
param headroomConnections int = 5

@description('Optional. Largest pool one instance needs: the blob trigger runs up to 4 files at once (host.json blobs.maxDegreeOfParallelism) besides the Event Hubs batch and the timers; 8 is also the code\'s default.')
@minValue(1)
param poolCeiling int = 8

@description('Optional. PgBouncer only: pgbouncer.max_client_conn, the client connections PgBouncer accepts (documented default 5000).')
@minValue(1)
param pgbouncerMaxClientConn int = 5000

@description('Optional. PgBouncer only: server connections per vCore for pgbouncer.default_pool_size; the limits page recommends starting at 2 to 5 times the vCores.')
@minValue(1)
@maxValue(5)
param pgbouncerPoolSizePerVCore int = 5

// Default max_connections per compute SKU, from the "Maximum connections" table of
// https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-limits#maximum-connections
// (vCores from the same table). A SKU missing here fails the deployment: add its row.
var skus = {
  // Burstable
  Standard_B1ms: { vCores: 1, maxConnections: 50 }
  Standard_B2s: { vCores: 2, maxConnections: 429 }
  Standard_B2ms: { vCores: 2, maxConnections: 859 }
  Standard_B4ms: { vCores: 4, maxConnections: 1718 }
  Standard_B8ms: { vCores: 8, maxConnections: 3437 }
  Standard_B12ms: { vCores: 12, maxConnections: 5000 }
  Standard_B16ms: { vCores: 16, maxConnections: 5000 }
  Standard_B20ms: { vCores: 20, maxConnections: 5000 }
  // General Purpose
  Standard_D2s_v3: { vCores: 2, maxConnections: 859 }
  Standard_D2ds_v4: { vCores: 2, maxConnections: 859 }
  Standard_D2ds_v5: { vCores: 2, maxConnections: 859 }
  Standard_D2ads_v5: { vCores: 2, maxConnections: 859 }
  Standard_D4s_v3: { vCores: 4, maxConnections: 1718 }
  Standard_D4ds_v4: { vCores: 4, maxConnections: 1718 }
  Standard_D4ds_v5: { vCores: 4, maxConnections: 1718 }
  Standard_D4ads_v5: { vCores: 4, maxConnections: 1718 }
  Standard_D8s_v3: { vCores: 8, maxConnections: 3437 }
  Standard_D8ds_v4: { vCores: 8, maxConnections: 3437 }
  Standard_D8ds_v5: { vCores: 8, maxConnections: 3437 }
  Standard_D8ads_v5: { vCores: 8, maxConnections: 3437 }
  Standard_D16s_v3: { vCores: 16, maxConnections: 5000 }
  Standard_D16ds_v4: { vCores: 16, maxConnections: 5000 }
  Standard_D16ds_v5: { vCores: 16, maxConnections: 5000 }
  Standard_D16ads_v5: { vCores: 16, maxConnections: 5000 }
  Standard_D32s_v3: { vCores: 32, maxConnections: 5000 }
  Standard_D32ds_v4: { vCores: 32, maxConnections: 5000 }
  Standard_D32ds_v5: { vCores: 32, maxConnections: 5000 }
  Standard_D32ads_v5: { vCores: 32, maxConnections: 5000 }
  Standard_D48s_v3: { vCores: 48, maxConnections: 5000 }
  Standard_D48ds_v4: { vCores: 48, maxConnections: 5000 }
  Standard_D48ds_v5: { vCores: 48, maxConnections: 5000 }
  Standard_D48ads_v5: { vCores: 48, maxConnections: 5000 }
  Standard_D64s_v3: { vCores: 64, maxConnections: 5000 }
  Standard_D64ds_v4: { vCores: 64, maxConnections: 5000 }
  Standard_D64ds_v5: { vCores: 64, maxConnections: 5000 }
  Standard_D64ads_v5: { vCores: 64, maxConnections: 5000 }
  Standard_D96ds_v5: { vCores: 96, maxConnections: 5000 }
  Standard_D96ads_v5: { vCores: 96, maxConnections: 5000 }
  // Memory Optimized
  Standard_E2s_v3: { vCores: 2, maxConnections: 1718 }
  Standard_E2ds_v4: { vCores: 2, maxConnections: 1718 }
  Standard_E2ds_v5: { vCores: 2, maxConnections: 1718 }
  Standard_E2ads_v5: { vCores: 2, maxConnections: 1718 }
  Standard_E4s_v3: { vCores: 4, maxConnections: 3437 }
  Standard_E4ds_v4: { vCores: 4, maxConnections: 3437 }
  Standard_E4ds_v5: { vCores: 4, maxConnections: 3437 }
  Standard_E4ads_v5: { vCores: 4, maxConnections: 3437 }
  Standard_E8s_v3: { vCores: 8, maxConnections: 5000 }
  Standard_E8ds_v4: { vCores: 8, maxConnections: 5000 }
  Standard_E8ds_v5: { vCores: 8, maxConnections: 5000 }
  Standard_E8ads_v5: { vCores: 8, maxConnections: 5000 }
  Standard_E16s_v3: { vCores: 16, maxConnections: 5000 }
  Standard_E16ds_v4: { vCores: 16, maxConnections: 5000 }
  Standard_E16ds_v5: { vCores: 16, maxConnections: 5000 }
  Standard_E16ads_v5: { vCores: 16, maxConnections: 5000 }
  Standard_E20ds_v4: { vCores: 20, maxConnections: 5000 }
  Standard_E20ds_v5: { vCores: 20, maxConnections: 5000 }
  Standard_E20ads_v5: { vCores: 20, maxConnections: 5000 }
  Standard_E32s_v3: { vCores: 32, maxConnections: 5000 }
  Standard_E32ds_v4: { vCores: 32, maxConnections: 5000 }
  Standard_E32ds_v5: { vCores: 32, maxConnections: 5000 }
  Standard_E32ads_v5: { vCores: 32, maxConnections: 5000 }
  Standard_E48s_v3: { vCores: 48, maxConnections: 5000 }
  Standard_E48ds_v4: { vCores: 48, maxConnections: 5000 }
  Standard_E48ds_v5: { vCores: 48, maxConnections: 5000 }
  Standard_E48ads_v5: { vCores: 48, maxConnections: 5000 }
  Standard_E64s_v3: { vCores: 64, maxConnections: 5000 }
  Standard_E64ds_v4: { vCores: 64, maxConnections: 5000 }
  Standard_E64ds_v5: { vCores: 64, maxConnections: 5000 }
  Standard_E64ads_v5: { vCores: 64, maxConnections: 5000 }
  Standard_E96ds_v5: { vCores: 96, maxConnections: 5000 }
  Standard_E96ads_v5: { vCores: 96, maxConnections: 5000 }
}

// "An Azure Database for PostgreSQL flexible server instance reserves 15 connections for physical
// replication and monitoring": https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-limits#maximum-connections
var reservedConnections = 15

// "It's supported on General Purpose and Memory Optimized compute tiers" / "doesn't support the
// Burstable server compute tier": https://learn.microsoft.com/azure/postgresql/connectivity/concepts-pgbouncer
var usePgBouncer = skuTier != 'Burstable'

var sku = skus[skuName]
var serverUserConnections = sku.maxConnections - reservedConnections
var instances = scaleOutGroups * maximumInstanceCount + timerFunctionCount
var connectionBudget = usePgBouncer ? pgbouncerMaxClientConn - headroomConnections : serverUserConnections - headroomConnections
var poolMax = max(1, min(poolCeiling, connectionBudget / instances))

// PgBouncer keeps default_pool_size server connections per user/database pair (one pair here: the
// app role on the platform database), so the server sees at most this many app connections.
// "start ... by multiplying the vCores within the range of 2 to 5":
// https://learn.microsoft.com/azure/postgresql/configure-maintain/concepts-limits#changing-the-max_connections-value
var pgbouncerDefaultPoolSize = min(sku.vCores * pgbouncerPoolSizePerVCore, serverUserConnections - headroomConnections)

@description('Connections one app instance may open (POSTGRES_POOL_MAX).')
output poolMax int = poolMax

@description('Port the app connects to (POSTGRES_PORT): 6432 is PgBouncer, 5432 PostgreSQL itself.')
output port int = usePgBouncer ? 6432 : 5432

@description('POSTGRES_POOL_MODE: transaction through PgBouncer, empty (no pooler) on Burstable.')
output poolMode string = usePgBouncer ? 'transaction' : ''

@description('Whether the server\'s built-in PgBouncer is enabled (pgbouncer.enabled).')
output pgbouncerEnabled bool = usePgBouncer

@description('pgbouncer.default_pool_size: server connections per user/database pair.')
output pgbouncerDefaultPoolSize int = pgbouncerDefaultPoolSize

@description('pgbouncer.max_client_conn: client connections PgBouncer accepts.')
output pgbouncerMaxClientConn int = pgbouncerMaxClientConn

@description('Instances that may hold a pool at once, summed over the app\'s scale groups.')
output instances int = instances

@description('Connections the app may use: PgBouncer\'s client limit, or the server\'s user connections, less the headroom.')
output connectionBudget int = connectionBudget

@description('Connections the app opens when every scale group is at its limit (poolMax x instances).')
output worstCaseConnections int = poolMax * instances

@description('False when even one connection per instance exceeds the budget: lower maximumInstanceCount or choose a larger SKU.')
output fits bool = poolMax * instances <= connectionBudget

@description('CONNECTION LIMIT of the app\'s database role, set by the deploy-time migration: the server\'s user connections less the headroom, so the Entra administrator can always connect.')
output appRoleConnectionLimit int = serverUserConnections - headroomConnections
