metadata name = 'Private network'
metadata description = 'Deployed only when networkAccess is private: a virtual network with a subnet delegated to Flex Consumption (VNet integration of the function app) and a subnet delegated to PostgreSQL Flexible Server, plus the private DNS zone the server registers in.'

@description('Required. Name of the virtual network.')
param name string

@description('Optional. Azure region of the virtual network.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the network resources.')
param tags object = {}

@description('Optional. Address space of the virtual network (a /16 to /22). The first /24 goes to the function app, the second to PostgreSQL.')
param addressPrefix string = '10.40.0.0/16'

@description('Optional. Name of the subnet delegated to Microsoft.App/environments (Flex Consumption VNet integration).')
param functionsSubnetName string = 'snet-functions'

@description('Optional. Name of the subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers.')
param postgresSubnetName string = 'snet-postgres'

@description('Required. Name of the private DNS zone of the PostgreSQL server; must end in .postgres.database.azure.com.')
param postgresDnsZoneName string

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: functionsSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          delegations: [
            {
              name: 'Microsoft.App.environments'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: postgresSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          delegations: [
            {
              name: 'Microsoft.DBforPostgreSQL.flexibleServers'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }
}

resource postgresDnsZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: postgresDnsZoneName
  location: 'global'
  tags: tags
}

resource postgresDnsZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: postgresDnsZone
  name: '${vnet.name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

@description('Resource id of the subnet the function app integrates with.')
output functionsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, functionsSubnetName)

@description('Resource id of the subnet delegated to PostgreSQL.')
output postgresSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, postgresSubnetName)

@description('Resource id of the PostgreSQL private DNS zone (linked to the virtual network).')
output postgresDnsZoneId string = postgresDnsZone.id
