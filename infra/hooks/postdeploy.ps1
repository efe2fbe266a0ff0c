# azd postdeploy hook (Windows): the second deployment step. See postdeploy.sh for the reasoning.
# Waits for the blobs_extension system key of the function app (created when the Functions host
# first starts with the Event Grid blob trigger), then deploys eventgrid-subscription.bicep, which
# reads the key with listKeys() inside the deployment. Safe to re-run: `azd hooks run postdeploy`.
$ErrorActionPreference = 'Stop'

$template = Join-Path $PSScriptRoot '..' 'app' 'eventgrid-subscription.bicep'

foreach ($tool in @('az', 'azd')) {
  if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
    Write-Error "postdeploy: '$tool' is required (see README.md, Deploy > Prerequisites)."
    exit 1
  }
}

# azd passes the environment's values to hooks; when run by hand, read them from azd.
if (-not $env:AZURE_FUNCTION_APP_NAME) {
  foreach ($line in (& azd env get-values)) {
    if ($line -match '^([^=#]+)=(.*)$') {
      [Environment]::SetEnvironmentVariable($Matches[1], ($Matches[2] -replace '^"|"$', ''))
    }
  }
}

foreach ($name in @('AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'AZURE_EVENTGRID_SYSTEM_TOPIC_NAME', 'AZURE_LAKE_ACCOUNT_NAME', 'AZURE_EVENTGRID_DEADLETTER_CONTAINER')) {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    Write-Error "postdeploy: $name is not set; run azd provision first."
    exit 1
  }
}
# The application role must exist before the app connects: run the (idempotent) postprovision hook
# here too, for a project whose azure.yaml predates that hook.
if ($env:MEDALLION_SKIP_DB_ROLE -ne 'true') {
  & (Join-Path $PSScriptRoot 'postprovision.ps1')
}
$functionName = if ($env:AZURE_BRONZE_FUNCTION_NAME) { $env:AZURE_BRONZE_FUNCTION_NAME } else { 'bronzeToSilver' }
$subscriptionArgs = @()
if ($env:AZURE_SUBSCRIPTION_ID) { $subscriptionArgs = @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }

az account show @subscriptionArgs --output none 2>$null
if ($LASTEXITCODE -ne 0) {
  Write-Error "postdeploy: the Azure CLI is not signed in; run 'az login' and then 'azd hooks run postdeploy'."
  exit 1
}

Write-Host "postdeploy: waiting for the blobs_extension key of $env:AZURE_FUNCTION_APP_NAME ..."
$attempt = 0
while ($true) {
  # The key stays in memory only: it is tested for presence, never printed.
  $key = az functionapp keys list @subscriptionArgs --resource-group $env:AZURE_RESOURCE_GROUP --name $env:AZURE_FUNCTION_APP_NAME --query 'systemKeys.blobs_extension' --output tsv 2>$null
  $present = ($LASTEXITCODE -eq 0) -and -not [string]::IsNullOrWhiteSpace($key)
  Remove-Variable key
  if ($present) { break }
  $attempt++
  if ($attempt -ge 40) {
    Write-Error "postdeploy: no blobs_extension key after $attempt attempts. Check that $functionName was deployed and run 'azd hooks run postdeploy' again."
    exit 1
  }
  # A Flex Consumption app scales to zero; a request starts the host, which creates the key.
  try { Invoke-WebRequest -Uri "https://$($env:AZURE_FUNCTION_APP_NAME).azurewebsites.net/" -Method Get -TimeoutSec 30 -UseBasicParsing | Out-Null } catch { }
  Start-Sleep -Seconds 15
}

Write-Host "postdeploy: subscribing $functionName to BlobCreated events of the bronze container ..."
az deployment group create @subscriptionArgs `
  --resource-group $env:AZURE_RESOURCE_GROUP `
  --name 'eventgrid-subscription' `
  --template-file $template `
  --parameters `
    "systemTopicName=$env:AZURE_EVENTGRID_SYSTEM_TOPIC_NAME" `
    "functionAppName=$env:AZURE_FUNCTION_APP_NAME" `
    "lakeAccountName=$env:AZURE_LAKE_ACCOUNT_NAME" `
    "deadLetterContainerName=$env:AZURE_EVENTGRID_DEADLETTER_CONTAINER" `
    "functionName=$functionName" `
  --output none
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

Write-Host "postdeploy: done. Files dropped into the bronze container now trigger $functionName."
