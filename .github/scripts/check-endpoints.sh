# shellcheck shell=bash
# Grafana, Alertmanager and Milvus answer on the output URLs.
#   KUBECTL, GRAFANA_URL, ALERTMANAGER_URL, MILVUS_METRICS_URL   the action's outputs
#   MILVUS_ENDPOINT      the milvus-endpoint output: when set, it is host:port and answers
#                        Milvus' REST API (served on the gRPC port too)
#   EXPOSE               the expose input (port-forward)
#   CHECK_MILVUS_REST    false to leave out the REST call (a Milvus stand-in that has no REST API)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

http_get "$GRAFANA_URL/api/health" | jq -e '.database == "ok"'
http_get "$ALERTMANAGER_URL/-/ready"
http_get "$MILVUS_METRICS_URL" > metrics.txt
grep -q '^milvus_' metrics.txt
if [ -n "${MILVUS_ENDPOINT:-}" ]; then
  # host:port without a scheme.
  [[ "$MILVUS_ENDPOINT" =~ ^[^/:]+:[0-9]+$ ]] || fail "milvus-endpoint $MILVUS_ENDPOINT is not host:port"
  if [ "${CHECK_MILVUS_REST:-true}" != false ]; then
    curl -fsS -X POST "http://$MILVUS_ENDPOINT/v2/vectordb/collections/list" \
      -H 'Content-Type: application/json' -d '{}' | jq -e '.code == 0'
  fi
fi
