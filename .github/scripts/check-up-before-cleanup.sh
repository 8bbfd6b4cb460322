# shellcheck shell=bash
# Before the post step's cleanup: the targets are up and the namespaces there.
#   PROMETHEUS_URL, SCRAPE_POOL   the action's outputs
#   NAMESPACES                    the namespaces the run created (milvus monitoring)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
read -ra namespaces <<<"${NAMESPACES:-milvus monitoring}"

curl -fsS --get "$PROMETHEUS_URL/api/v1/targets" \
  --data-urlencode state=active --data-urlencode "scrapePool=$SCRAPE_POOL" > targets.json
jq -e '.data.activeTargets | length >= 1 and all(.[]; .health == "up")' targets.json
"$KUBECTL" get namespace "${namespaces[@]}"
