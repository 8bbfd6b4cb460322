# shellcheck shell=bash
# No Prometheus RBAC added in a namespace kube-prometheus already grants (default): none of the
# action's, and no other prometheus Role than kube-prometheus' own.
#   NAMESPACE   (default)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-default}

"$KUBECTL" get roles,rolebindings --namespace "$NAMESPACE" --output json > rbac.json
jq -e '[.items[] | select(.metadata.name | test("prometheus"))
        | select(.metadata.labels["app.kubernetes.io/part-of"] != "kube-prometheus")]
       | length == 0' rbac.json
jq -e '[.items[] | select(.metadata.labels["app.kubernetes.io/managed-by"] == "milvus-monitoring-action")]
       | length == 0' rbac.json
