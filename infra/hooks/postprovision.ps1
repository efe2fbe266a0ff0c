# azd postprovision hook (Windows): the deploy-time database migration, run as the PostgreSQL
# Microsoft Entra administrator. Same steps as postprovision.sh; the SQL is infra/hooks/app-role.sql.
# Token: az account get-access-token --resource-type oss-rdbms
# (https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-configure-sign-in-azure-ad-authentication).
# Safe to re-run: azd hooks run postprovision
$ErrorActionPreference = 'Stop'

$sql = Join-Path $PSScriptRoot 'app-role.sql'
foreach ($tool in 'az', 'psql') {
  if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
    Write-Error "postprovision: '$tool' is required (see README.md, Deploy > Prerequisites)."
  }
}

if (-not $env:POSTGRES_HOST -and (Get-Command azd -ErrorAction SilentlyContinue)) {
  foreach ($line in (azd env get-values)) {
    if ($line -match '^\s*([A-Za-z_][A-Za-z0-9_]*)="?(.*?)"?\s*$') { Set-Item -Path "env:$($Matches[1])" -Value $Matches[2] }
  }
}

foreach ($name in 'AZURE_RESOURCE_GROUP', 'AZURE_POSTGRES_SERVER_NAME', 'POSTGRES_HOST', 'POSTGRES_DATABASE', 'POSTGRES_USER',
  'AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID', 'AZURE_POSTGRES_ADMIN_NAME', 'POSTGRES_APP_CONNECTION_LIMIT') {
  if (-not (Get-Item "env:$name" -ErrorAction SilentlyContinue)) { Write-Error "postprovision: $name is not set; run azd provision first." }
}

if ($env:AZURE_POSTGRES_CONNECTION_BUDGET_FITS -eq 'false') {
  Write-Warning "postprovision: the app may open $($env:AZURE_POSTGRES_CONNECTION_BUDGET) connections; lower MEDALLION_MAX_INSTANCES or choose a larger PostgreSQL SKU."
}

$sub = @()
if ($env:AZURE_SUBSCRIPTION_ID) { $sub = @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }

$stale = az postgres flexible-server ad-admin list @sub --resource-group $env:AZURE_RESOURCE_GROUP `
  --server-name $env:AZURE_POSTGRES_SERVER_NAME --query "[?objectId=='$($env:AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID)'].objectId" --output tsv 2>$null
if ($stale) {
  Write-Host 'postprovision: removing the app identity from the PostgreSQL Entra administrators ...'
  az postgres flexible-server ad-admin delete @sub --yes --resource-group $env:AZURE_RESOURCE_GROUP `
    --server-name $env:AZURE_POSTGRES_SERVER_NAME --object-id $env:AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID --output none
  if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

$env:PGPASSWORD = az account get-access-token @sub --resource-type oss-rdbms --query accessToken --output tsv
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
$env:PGSSLMODE = 'require'

Write-Host "postprovision: application role $($env:POSTGRES_USER) on $($env:POSTGRES_HOST)/$($env:POSTGRES_DATABASE) (as $($env:AZURE_POSTGRES_ADMIN_NAME)) ..."
psql "host=$($env:POSTGRES_HOST) port=5432 dbname=postgres user=$($env:AZURE_POSTGRES_ADMIN_NAME)" --no-psqlrc --quiet `
  -v "app_role=$($env:POSTGRES_USER)" `
  -v "app_oid=$($env:AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID)" `
  -v "app_conn_limit=$($env:POSTGRES_APP_CONNECTION_LIMIT)" `
  -v "platform_db=$($env:POSTGRES_DATABASE)" `
  -f $sql
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host 'postprovision: done.'
