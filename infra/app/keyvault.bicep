metadata name = 'Key Vault'
metadata description = 'The vault that holds the API tokens of the SaaS sources (Pipedrive, Zendesk), which the function app reads through Key Vault references. Azure RBAC only (no access policies), soft delete on; the app identity may read secret values (Key Vault Secrets User), the deployer may optionally set them (Key Vault Secrets Officer). No secret value passes through the deployment: the tokens are set afterwards with az keyvault secret set (docs/sources.md).'

@description('Required. Name of the vault (3 to 24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Optional. Azure region of the vault.')
param location string = resourceGroup().location

@description('Optional. Tags applied to the vault.')
param tags object = {}

@description('Required. Object (principal) id of the function app identity: it reads the token values through the app settings\' Key Vault references.')
param readerPrincipalId string

@description('Optional. Object id of whoever sets the token values (the deployer); gets Key Vault Secrets Officer on this vault. Empty grants nothing.')
param writerPrincipalId string = ''

@description('Optional. Type of writerPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param writerPrincipalType string = 'User'

@description('Optional. Days a deleted vault or secret stays recoverable (soft delete).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Purge protection: a deleted vault or secret cannot be purged before the retention ends. Once on it cannot be turned off, and `azd down --purge` can then not remove the vault (a new deployment under the same environment name would wait for the retention), so it is off by default; turn it on for production.')
param enablePurgeProtection bool = false

// Built-in role definition ids (https://learn.microsoft.com/azure/key-vault/general/rbac-guide).
var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

var grantWriter = !empty(writerPrincipalId)

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: enablePurgeProtection ? true : null
    enabledForDeployment: false
    enabledForTemplateDeployment: false
    enabledForDiskEncryption: false
    // The function app resolves references over the vault's public endpoint (Flex Consumption
    // without a private endpoint to it); every read is an Entra token checked against RBAC.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// ---- The app identity reads secret values (what a Key Vault reference needs), nothing else.

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Function app: read the API tokens of the SaaS sources (Key Vault references in its app settings).'
  }
}

// ---- Optional: the deployer, so `az keyvault secret set` works right after `azd up`.

resource writerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantWriter) {
  name: guid(vault.id, writerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: writerPrincipalId
    principalType: writerPrincipalType
    description: 'Deployer: set the API tokens of the SaaS sources.'
  }
}

@description('Name of the vault (the VaultName of the app settings\' Key Vault references).')
output name string = vault.name

@description('Resource id of the vault.')
output resourceId string = vault.id

@description('Address of the vault.')
output uri string = vault.properties.vaultUri
