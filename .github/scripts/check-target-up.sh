# shellcheck shell=bash
# Prometheus reports the one Milvus standalone target up, and its scrapes landed in the TSDB.
#   PROMETHEUS_URL, SCRAPE_POOL, TARGET_HEALTH, TARGET_SCRAPE_URL   the action's outputs
#   NAMESPACE                                                      Milvus' namespace (milvus)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}

test "$TARGET_HEALTH" = up
curl -fsS "$PROMETHEUS_URL/-/ready"
curl -fsS --get "$PROMETHEUS_URL/api/v1/targets" \
  --data-urlencode state=active --data-urlencode "scrapePool=$SCRAPE_POOL" > targets.json
jq -e --arg pool "$SCRAPE_POOL" --arg url "$TARGET_SCRAPE_URL" --arg ns "$NAMESPACE" '
  .data.activeTargets as $t
  | ($t | length) == 1
    and all($t[]; .scrapePool == $pool and .health == "up"
      and .labels.namespace == $ns and .labels.component == "standalone")
    and any($t[]; .scrapeUrl == $url)' targets.json
# The scrapes landed in the TSDB: `up` of this target is 1 and Milvus' own metrics are there
# (by instance: a release installed again within the lookback leaves its old pod's series).
INSTANCE=${TARGET_SCRAPE_URL#*://}
INSTANCE=${INSTANCE%%/*}
curl -fsS --get "$PROMETHEUS_URL/api/v1/query" \
  --data-urlencode "query=up{namespace=\"$NAMESPACE\",component=\"standalone\",instance=\"$INSTANCE\"}" > up.json
jq -e '.data.result | length == 1 and .[0].value[1] == "1"' up.json
curl -fsS --get "$PROMETHEUS_URL/api/v1/query" \
  --data-urlencode "query=count({__name__=~\"milvus_.+\",namespace=\"$NAMESPACE\"})" > series.json
jq -e '(.data.result[0].value[1] | tonumber) > 0' series.json
