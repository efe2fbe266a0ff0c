metadata name = 'Event Grid subscription for bronzeToSilver'
metadata description = 'Second deployment step, run by infra/hooks/postdeploy.* after the code is deployed: subscribes the blobs extension webhook of bronzeToSilver to BlobCreated events of the bronze container only. The webhook needs the blobs_extension system key, which exists only once the Functions host has started with the Event Grid blob trigger loaded.'

@description('Required. Name of the Event Grid system topic on the lake (output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@description('Required. Name of the function app (output AZURE_FUNCTION_APP_NAME).')
param functionAppName string

@description('Required. Name of the lake storage account (output AZURE_LAKE_ACCOUNT_NAME).')
param lakeAccountName string

@description('Optional. Lake container that receives events Event Grid could not deliver.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Optional. Name of the blob-triggered function (source: EventGrid).')
param functionName string = 'bronzeToSilver'

@description('Optional. Container whose new blobs trigger the function.')
param containerName string = 'bronze'

@description('Optional. Name of the event subscription.')
param subscriptionName string = 'bronze-to-silver'

@description('Optional. Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Optional. Minutes Event Grid keeps retrying an event before dead-lettering it.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

// https://<app>.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.<name>&code=<blobs_extension key>
var blobsExtensionKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension
var webhookUrl = 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'

resource bronzeSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${containerName}/'
      // On a hierarchical-namespace account a Data Lake upload raises BlobCreated for the empty
      // CreateFile and again for FlushWithClose; only complete files should trigger the function.
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.api'
          values: [
            'PutBlob'
            'PutBlockList'
            'CopyBlob'
            'FlushWithClose'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: lake.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

@description('Name of the event subscription.')
output subscriptionName string = bronzeSubscription.name
