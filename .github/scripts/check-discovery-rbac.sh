# shellcheck shell=bash
# Whether Prometheus' ServiceAccount may discover services in Milvus' namespace.
#   NAMESPACE        Milvus' namespace (milvus)
#   EXPECT           yes (the action added the RBAC) or no (prometheus-rbac: false)
#   SERVICE_ACCOUNT  Prometheus' (system:serviceaccount:monitoring:prometheus-k8s)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
EXPECT=${EXPECT:-yes}
SERVICE_ACCOUNT=${SERVICE_ACCOUNT:-system:serviceaccount:monitoring:prometheus-k8s}

answer=$("$KUBECTL" auth can-i list services --namespace "$NAMESPACE" --as "$SERVICE_ACCOUNT" || true)
test "$answer" = "$EXPECT" || fail "$SERVICE_ACCOUNT may list services in $NAMESPACE: $answer, expected $EXPECT"
