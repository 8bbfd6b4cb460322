# shellcheck shell=bash
# A second run converged on the same release and target.
#   HELM, PROMETHEUS_URL, SERVICE_MONITOR, SCRAPE_POOL, TARGET_HEALTH   the second run's outputs
#   FIRST_SERVICE_MONITOR, FIRST_SCRAPE_POOL                           the first run's
#   NAMESPACE, RELEASE                                                 (milvus, my-release)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
RELEASE=${RELEASE:-my-release}

test "$SERVICE_MONITOR" = "$FIRST_SERVICE_MONITOR"
test "$SCRAPE_POOL" = "$FIRST_SCRAPE_POOL"
test "$TARGET_HEALTH" = up
"$HELM" list --namespace "$NAMESPACE" --output json > releases.json
jq -e --arg r "$RELEASE" 'length == 1 and .[0].name == $r and .[0].status == "deployed"' releases.json
"$KUBECTL" get servicemonitors --namespace "$NAMESPACE" --output json | jq -e '.items | length == 1'
curl -fsS --get "$PROMETHEUS_URL/api/v1/targets" \
  --data-urlencode state=active --data-urlencode "scrapePool=$SCRAPE_POOL" > targets.json
jq -e '.data.activeTargets | length == 1 and all(.[]; .health == "up")' targets.json
