# shellcheck shell=bash
# A run without Prometheus RBAC failed at the scrape, not before: Milvus and its ServiceMonitor
# are there, but Prometheus may not list services in the namespace and has no target there.
#   NAMESPACE, RELEASE   (milvus, my-release)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
RELEASE=${RELEASE:-my-release}

"$KUBECTL" wait --namespace "$NAMESPACE" --for=condition=Ready pod \
  --selector "app.kubernetes.io/name=milvus,app.kubernetes.io/instance=$RELEASE" --timeout=5m
test -n "$("$KUBECTL" get servicemonitors --namespace "$NAMESPACE" --output name)"
answer=$("$KUBECTL" auth can-i list services --namespace "$NAMESPACE" \
  --as system:serviceaccount:monitoring:prometheus-k8s || true)
test "$answer" = no
# kube-prometheus' Prometheus, asked through the API server's service proxy.
"$KUBECTL" get --raw '/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy/api/v1/targets?state=active' > targets.json
jq -e --arg ns "$NAMESPACE" '[.data.activeTargets[] | select(.labels.namespace == $ns)] | length == 0' targets.json
