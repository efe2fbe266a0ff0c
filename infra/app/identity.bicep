metadata name = 'Platform identity'
metadata description = 'The user-assigned managed identity the function app runs as. Every data-plane permission of the platform is granted to this identity; no key or password exists.'

@description('Required. Name of the user-assigned managed identity. It is also the PostgreSQL role name the identity logs in as (POSTGRES_USER).')
@minLength(3)
@maxLength(128)
param name string

@description('Optional. Azure region of the identity.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output resourceId string = identity.id

@description('Name of the identity (the Entra principal name PostgreSQL knows it by).')
output name string = identity.name

@description('Object (principal) id of the identity, used for role assignments and the PostgreSQL Entra administrator.')
output principalId string = identity.properties.principalId

@description('Client (application) id of the identity, used by the Functions host and DefaultAzureCredential.')
output clientId string = identity.properties.clientId
