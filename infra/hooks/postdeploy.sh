#!/bin/sh
# azd postdeploy hook: the second deployment step.
#
# The Event Grid subscription that feeds bronzeToSilver delivers to the blobs extension webhook of
# the function app, and that webhook's URL carries the `blobs_extension` system key. The Functions
# host creates that key the first time it starts with an Event Grid blob trigger loaded, i.e. only
# after `azd deploy` has published the code. So this hook, run by azd right after the code deploy:
#   1. waits until the key exists (nudging the host to start),
#   2. deploys infra/app/eventgrid-subscription.bicep, which reads the key with listKeys() inside
#      the deployment (the key never passes through this script or the terminal).
# Safe to re-run: `azd hooks run postdeploy`.
set -eu

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
template="$script_dir/../app/eventgrid-subscription.bicep"

for tool in az azd; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "postdeploy: '$tool' is required (see README.md, Deploy > Prerequisites)." >&2
    exit 1
  fi
done

# azd passes the environment's values to hooks; when run by hand, read them from azd.
if [ -z "${AZURE_FUNCTION_APP_NAME:-}" ]; then
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
: "${AZURE_FUNCTION_APP_NAME:?run azd provision first}"
: "${AZURE_EVENTGRID_SYSTEM_TOPIC_NAME:?run azd provision first}"
: "${AZURE_LAKE_ACCOUNT_NAME:?run azd provision first}"
: "${AZURE_EVENTGRID_DEADLETTER_CONTAINER:?run azd provision first}"
function_name="${AZURE_BRONZE_FUNCTION_NAME:-bronzeToSilver}"

subscription_args=""
if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
  subscription_args="--subscription $AZURE_SUBSCRIPTION_ID"
fi

if ! az account show $subscription_args --output none 2>/dev/null; then
  echo "postdeploy: the Azure CLI is not signed in; run 'az login' and then 'azd hooks run postdeploy'." >&2
  exit 1
fi

# The application role must exist before the app connects. azure.yaml runs postprovision.sh as the
# postprovision hook; run it here too (it is idempotent) so a project whose azure.yaml predates
# that hook still gets the role.
if [ "${MEDALLION_SKIP_DB_ROLE:-}" != "true" ]; then
  sh "$script_dir/postprovision.sh"
fi

echo "postdeploy: waiting for the blobs_extension key of $AZURE_FUNCTION_APP_NAME ..."
attempt=0
until az functionapp keys list $subscription_args \
  --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
  --query "systemKeys.blobs_extension" --output tsv 2>/dev/null | grep -q .; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 40 ]; then
    echo "postdeploy: no blobs_extension key after $attempt attempts. Check that $function_name was deployed" >&2
    echo "            (Portal > function app > Functions) and run 'azd hooks run postdeploy' again." >&2
    exit 1
  fi
  # A Flex Consumption app scales to zero; a request starts the host, which creates the key.
  if command -v curl >/dev/null 2>&1; then
    curl --silent --output /dev/null --max-time 30 "https://$AZURE_FUNCTION_APP_NAME.azurewebsites.net/" || true
  fi
  sleep 15
done

echo "postdeploy: subscribing $function_name to BlobCreated events of the bronze container ..."
az deployment group create $subscription_args \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "eventgrid-subscription" \
  --template-file "$template" \
  --parameters \
    systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME" \
    functionAppName="$AZURE_FUNCTION_APP_NAME" \
    lakeAccountName="$AZURE_LAKE_ACCOUNT_NAME" \
    deadLetterContainerName="$AZURE_EVENTGRID_DEADLETTER_CONTAINER" \
    functionName="$function_name" \
  --output none

echo "postdeploy: done. Files dropped into the bronze container now trigger $function_name."
