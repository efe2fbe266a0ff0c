metadata name = 'Monitoring'
metadata description = 'Log Analytics workspace, Application Insights with Entra-only ingestion, log alert rules for function failures, failed files (any dataset, misrouted ones included), the quarantine rate, failed health checks and failed API extraction runs, and the per-dataset workbook.'

@description('Required. Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Required. Name of the Application Insights component.')
param applicationInsightsName string

@description('Optional. Azure region of the monitoring resources.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the monitoring resources.')
param tags object = {}

@description('Optional. Days logs are kept in the workspace (the first 31 days are included in the ingestion price).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Optional. E-mail address notified when an alert fires. Empty creates the alert rules without a notification target (they still show in Azure Monitor > Alerts).')
param alertEmailAddress string = ''

@description('Optional. Quarantine-rate alert: fires for a dataset whose quarantined rows exceed this percentage of the rows read within one evaluation window.')
@minValue(0)
@maxValue(100)
param quarantineRateThresholdPercent int = 5

@description('Optional. Function-failure alert: fires when more failures than this occur within one evaluation window (failed invocations plus files logged with status failed).')
@minValue(0)
param functionFailureThreshold int = 0

@description('Optional. How often the alert rules run and how much data each run looks at (ISO 8601 duration).')
@allowed([
  'PT5M'
  'PT15M'
  'PT30M'
  'PT1H'
])
param alertWindow string = 'PT15M'

@description('Optional. Display name of the workbook.')
param workbookDisplayName string = 'Medallion platform'

var actionGroupName = 'ag-${applicationInsightsName}'
var notify = !empty(alertEmailAddress)

// One record per processed file, written by the code as a customEvent or as a trace named
// `medallion.file` (properties in customDimensions, or a JSON object in the trace message).
// Every record counts, also those of files no dataset owns (logged with dataset null): they are
// shown as '(no dataset)' so misrouted files reach the workbook and the alerts. A record is told
// from other traces that mention the name by its status, which every file record carries.
// host.json keeps Trace and Event out of adaptive sampling, so no record is sampled away
// (excludedTypes: https://learn.microsoft.com/azure/azure-functions/functions-host-json#applicationinsightssamplingsettings).
var fileEventsKql = '''
let files = union isfuzzy=true
    (customEvents
    | where name == 'medallion.file'
    | extend p = customDimensions),
    (traces
    | where message contains 'medallion.file'
    | extend j = indexof(message, '{')
    | extend p = iff(isnotempty(customDimensions.status), customDimensions, iff(j >= 0, parse_json(substring(message, j)), dynamic(null)))
    | project-away j)
| where isnotempty(p.status)
| extend dataset = iff(isempty(tostring(p.dataset)), '(no dataset)', tostring(p.dataset)), status = tostring(p.status), path = tostring(p.path),
    rows_read = tolong(p.rows_read), rows_silver = tolong(p.rows_silver), rows_quarantined = tolong(p.rows_quarantined);
'''

var quarantineRateKql = '''
files
| summarize rows_read = sum(rows_read), rows_quarantined = sum(rows_quarantined) by dataset
| where rows_read > 0
| extend quarantine_pct = round(100.0 * rows_quarantined / rows_read, 2)
| where quarantine_pct > __THRESHOLD__
'''

var failuresKql = '''
union isfuzzy=true
    (requests
    | where success == false
    | project timestamp, source = operation_Name),
    (files
    | where status == 'failed'
    | project timestamp, source = strcat('file:', dataset))
'''

// Failed files of any dataset, misrouted ones ('(no dataset)') included.
var failedFilesKql = '''
files
| where status == 'failed'
| project timestamp, dataset, path
'''

// One record per health check result, written by the code as a trace (or customEvent) named
// `medallion.health` with customDimensions { check, dataset, status ('pass' | 'fail'), value,
// threshold, message }.
var healthChecksKql = '''
let checks = union isfuzzy=true
    (customEvents
    | where name == 'medallion.health'
    | extend p = customDimensions),
    (traces
    | where message contains 'medallion.health'
    | extend j = indexof(message, '{')
    | extend p = iff(isnotempty(customDimensions.status), customDimensions, iff(j >= 0, parse_json(substring(message, j)), dynamic(null)))
    | project-away j)
| where isnotempty(p.status)
| extend check = tostring(p.check), dataset = iff(isempty(tostring(p.dataset)), '(no dataset)', tostring(p.dataset)), status = tostring(p.status),
    value = tostring(p.value), threshold = tostring(p.threshold), detail = tostring(p.message);
'''

// One record per API extraction run of one entity (shared/sources/extract.ts), written as a trace
// (or customEvent) named `medallion.extract` with { source, scope, entity, run_id, status,
// failure_kind, records, parts, watermark_before, watermark_after, error }. A failed run left its
// watermark where its written parts put it; failure_kind says what to do (docs/sources.md).
var failedExtractRunsKql = '''
union isfuzzy=true
    (customEvents
    | where name == 'medallion.extract'
    | extend p = customDimensions),
    (traces
    | where message startswith 'medallion.extract ' or message startswith 'WARN medallion.extract '
    | extend j = indexof(message, '{')
    | extend p = iff(isnotempty(customDimensions.status), customDimensions, iff(j >= 0, parse_json(substring(message, j)), dynamic(null)))
    | project-away j)
| where tostring(p.status) == 'failed'
| project timestamp, source = tostring(p.source), entity = tostring(p.entity), failure_kind = tostring(p.failure_kind), detail = tostring(p.error)
'''

var failedHealthChecksKql = '''
checks
| where status == 'fail'
| project timestamp, check, dataset, value, threshold, detail
'''

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    enabled: true
    groupShortName: 'medallion'
    emailReceivers: [
      {
        name: 'platform-owner'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

resource functionFailuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-function-failures-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Medallion: function failures'
    description: 'Failed function invocations, or files the platform logged with status failed, in the last evaluation window.'
    severity: 1
    enabled: true
    evaluationFrequency: alertWindow
    windowSize: alertWindow
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: '${fileEventsKql}${failuresKql}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: functionFailureThreshold
          dimensions: [
            {
              name: 'source'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []
    }
  }
  dependsOn: [
    actionGroup
  ]
}

resource quarantineRateAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-quarantine-rate-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Medallion: quarantine rate above ${quarantineRateThresholdPercent}%'
    description: 'A dataset quarantined more than ${quarantineRateThresholdPercent}% of the rows it read in the last evaluation window.'
    severity: 2
    enabled: true
    evaluationFrequency: alertWindow
    windowSize: alertWindow
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: '${fileEventsKql}${replace(quarantineRateKql, '__THRESHOLD__', string(quarantineRateThresholdPercent))}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []
    }
  }
  dependsOn: [
    actionGroup
  ]
}

resource failedFilesAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-failed-files-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Medallion: failed files'
    description: 'Files logged with status failed in the last evaluation window, per dataset; files no dataset owns count as \'(no dataset)\'.'
    severity: 1
    enabled: true
    evaluationFrequency: alertWindow
    windowSize: alertWindow
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: '${fileEventsKql}${failedFilesKql}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []
    }
  }
  dependsOn: [
    actionGroup
  ]
}

// Any health check with status 'fail' in the last hour (the checks run hourly by default).
resource healthCheckAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-health-check-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Medallion: health check failed'
    description: 'A health check (medallion.health) reported status fail in the last hour.'
    severity: 2
    enabled: true
    evaluationFrequency: alertWindow
    windowSize: 'PT1H'
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: '${healthChecksKql}${failedHealthChecksKql}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'check'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'dataset'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []
    }
  }
  dependsOn: [
    actionGroup
  ]
}

// A failed API extraction run (Pipedrive, Zendesk), per source and failure kind: 'auth' means the
// token or e-mail must be fixed (the source stopped), the others clear with the next run.
resource extractFailuresAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-extract-failures-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Medallion: API extraction failed'
    description: 'An extraction run of a SaaS source (medallion.extract, status failed) in the last evaluation window; failure_kind auth means the source stopped until its credentials are fixed.'
    severity: 1
    enabled: true
    evaluationFrequency: alertWindow
    windowSize: alertWindow
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: failedExtractRunsKql
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'source'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'failure_kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [resourceId('Microsoft.Insights/actionGroups', actionGroupName)] : []
    }
  }
  dependsOn: [
    actionGroup
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'medallion-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: workbookDisplayName
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: appInsights.id
    serializedData: replace(loadTextContent('workbook.json'), '__APP_INSIGHTS_ID__', appInsights.id)
  }
}

@description('Name of the Application Insights component.')
output applicationInsightsName string = appInsights.name

@description('Resource id of the Application Insights component.')
output applicationInsightsId string = appInsights.id

@description('Name of the Log Analytics workspace.')
output logAnalyticsName string = logAnalytics.name

@description('Resource id of the workbook.')
output workbookId string = workbook.id
