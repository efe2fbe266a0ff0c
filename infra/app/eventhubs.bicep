metadata name = 'Event Hubs'
metadata description = 'Event Hubs namespace with local (SAS) authentication disabled, the customers hub and the consumer group the platform reads with.'

@description('Required. Name of the Event Hubs namespace (6-50 characters, globally unique).')
@minLength(6)
@maxLength(50)
param name string

@description('Optional. Azure region of the namespace.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the namespace.')
param tags object = {}

@description('Optional. Pricing tier. Basic is not offered: it has no consumer groups besides $Default.')
@allowed([
  'Standard'
  'Premium'
])
param skuName string = 'Standard'

@description('Optional. Throughput units (Standard, 1-40) or processing units (Premium, 1-16).')
@minValue(1)
@maxValue(40)
param skuCapacity int = 1

@description('Optional. Name of the event hub carrying customer updates (EVENTHUB_NAME).')
param eventHubName string = 'customers'

@description('Optional. Partition count of the customers hub. Cannot be lowered after creation on the Standard tier.')
@minValue(1)
@maxValue(32)
param partitionCount int = 2

@description('Optional. Days events are retained in the customers hub (Standard allows 1-7).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 1

@description('Optional. Consumer group the platform reads with (EVENTHUB_CONSUMER_GROUP).')
param consumerGroupName string = 'medallion'

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
    capacity: skuCapacity
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'Read by the medallion platform (customersFromEventHub).'
  }
}

@description('Name of the namespace.')
output name string = namespace.name

@description('Resource id of the namespace.')
output resourceId string = namespace.id

@description('Fully qualified namespace host name (EventHubConnection__fullyQualifiedNamespace).')
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]

@description('Name of the customers event hub.')
output eventHubName string = hub.name

@description('Name of the platform consumer group.')
output consumerGroupName string = consumerGroup.name
