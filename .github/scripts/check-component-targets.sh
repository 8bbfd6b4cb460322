# shellcheck shell=bash
# Prometheus reports a target up for every Milvus component that has a metrics port.
#   KUBECTL, PROMETHEUS_URL, SCRAPE_POOL, SERVICE_MONITOR, TARGET_HEALTH   the action's outputs
#   EXPOSE, NAMESPACE, MILVUS_MODE, RELEASE                               the inputs
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
MILVUS_MODE=${MILVUS_MODE:-standalone}
RELEASE=${RELEASE:-my-release}

test "$TARGET_HEALTH" = up
test "${SERVICE_MONITOR%%/*}" = "$NAMESPACE"
"$KUBECTL" get servicemonitor --namespace "$NAMESPACE" "${SERVICE_MONITOR#*/}"
pool=$(jq -rn --arg p "$SCRAPE_POOL" '$p | @uri')
# With expose: none the URL only resolves inside the cluster: http_get asks through the API server.
http_get "$PROMETHEUS_URL/api/v1/targets?state=active&scrapePool=$pool" > targets.json
# Every Milvus service with a metrics port (one per component) must be a target.
"$KUBECTL" get services --namespace "$NAMESPACE" \
  --selector "app.kubernetes.io/name=milvus,app.kubernetes.io/instance=$RELEASE" --output json > services.json
expected=$(jq -c '[.items[] | select(any(.spec.ports[]; .name == "metrics")) | .metadata.labels.component] | unique' services.json)
echo "components with a metrics port: $expected"
if [ "$MILVUS_MODE" = cluster ]; then
  jq -e 'length >= 4 and any(.[]; . == "proxy")' <<<"$expected"
else
  test "$expected" = '["standalone"]'
fi
jq -e --arg pool "$SCRAPE_POOL" --arg ns "$NAMESPACE" --argjson expected "$expected" '
  .data.activeTargets as $t
  | all($t[]; .scrapePool == $pool and .health == "up" and .labels.namespace == $ns)
    and ([$t[].labels.component] | unique) == $expected' targets.json
