#!/bin/sh
# azd postprovision hook: the deploy-time database migration, run as the PostgreSQL Microsoft Entra
# administrator (the deployer or the pipeline principal: AZURE_POSTGRES_ADMIN_NAME), never as the
# app. It creates the application role of the app's managed identity with CONNECT on the platform
# database and the platform's schemas, and nothing else (infra/hooks/app-role.sql). Safe to re-run:
# `azd hooks run postprovision`.
#
# Token: "az account get-access-token --resource-type oss-rdbms", used as the psql password:
# https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-configure-sign-in-azure-ad-authentication
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
sql="$script_dir/app-role.sql"

for tool in az psql; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "postprovision: '$tool' is required (see README.md, Deploy > Prerequisites)." >&2
    exit 1
  fi
done

# azd passes the environment's values to hooks; when run by hand, read them from azd.
if [ -z "${POSTGRES_HOST:-}" ] && command -v azd >/dev/null 2>&1; then
  values=$(mktemp)
  azd env get-values > "$values"
  while IFS='=' read -r key value; do
    case "$key" in
      ''|'#'*) continue ;;
    esac
    value=${value#\"}
    value=${value%\"}
    export "$key=$value"
  done < "$values"
  rm -f "$values"
fi

: "${AZURE_RESOURCE_GROUP:?run azd provision first}"
: "${AZURE_POSTGRES_SERVER_NAME:?run azd provision first}"
: "${POSTGRES_HOST:?run azd provision first}"
: "${POSTGRES_DATABASE:?run azd provision first}"
: "${POSTGRES_USER:?run azd provision first}"
: "${AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID:?run azd provision first}"
: "${AZURE_POSTGRES_ADMIN_NAME:?run azd provision first}"
: "${POSTGRES_APP_CONNECTION_LIMIT:?run azd provision first}"

if [ "${AZURE_POSTGRES_CONNECTION_BUDGET_FITS:-true}" = "false" ]; then
  echo "postprovision: warning: the app may open ${AZURE_POSTGRES_CONNECTION_BUDGET:-more connections than the server allows}" >&2
  echo "               connections; lower MEDALLION_MAX_INSTANCES or choose a larger PostgreSQL SKU." >&2
fi

subscription_args=""
if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
  subscription_args="--subscription $AZURE_SUBSCRIPTION_ID"
fi

# A server deployed by an older template had the app identity as Entra administrator: remove it
# (the administrator is now a separate principal), so the app keeps only its application role.
if az postgres flexible-server ad-admin list $subscription_args \
    --resource-group "$AZURE_RESOURCE_GROUP" --server-name "$AZURE_POSTGRES_SERVER_NAME" \
    --query "[?objectId=='$AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID'].objectId" --output tsv 2>/dev/null | grep -q .; then
  echo "postprovision: removing the app identity from the PostgreSQL Entra administrators ..."
  az postgres flexible-server ad-admin delete $subscription_args --yes \
    --resource-group "$AZURE_RESOURCE_GROUP" --server-name "$AZURE_POSTGRES_SERVER_NAME" \
    --object-id "$AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID" --output none
fi

PGPASSWORD=$(az account get-access-token $subscription_args --resource-type oss-rdbms --query accessToken --output tsv)
export PGPASSWORD
export PGSSLMODE=require

echo "postprovision: application role $POSTGRES_USER on $POSTGRES_HOST/$POSTGRES_DATABASE (as $AZURE_POSTGRES_ADMIN_NAME) ..."
psql "host=$POSTGRES_HOST port=5432 dbname=postgres user=$AZURE_POSTGRES_ADMIN_NAME" \
  --no-psqlrc --quiet \
  -v app_role="$POSTGRES_USER" \
  -v app_oid="$AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID" \
  -v app_conn_limit="$POSTGRES_APP_CONNECTION_LIMIT" \
  -v platform_db="$POSTGRES_DATABASE" \
  -f "$sql"
echo "postprovision: done."
