# shellcheck shell=bash
# The *-in-cluster outputs are Service URLs.
#   PROMETHEUS, GRAFANA, ALERTMANAGER, MILVUS_ENDPOINT, MILVUS_METRICS   the -in-cluster outputs
#   NAMESPACE                                                           Milvus' namespace (milvus)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}

for url in "$PROMETHEUS" "$GRAFANA" "$ALERTMANAGER" "$MILVUS_METRICS"; do
  [[ "$url" =~ ^http://[a-z0-9.-]+\.svc(\.cluster\.local)?:[0-9]+(/.*)?$ ]] || fail "$url is not a Service URL"
done
[[ "$MILVUS_ENDPOINT" =~ ^[a-z0-9.-]+\.$NAMESPACE\.svc(\.cluster\.local)?:[0-9]+$ ]] || fail "$MILVUS_ENDPOINT is not a Service in $NAMESPACE"
