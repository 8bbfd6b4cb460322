# shellcheck shell=bash
# A run without Prometheus RBAC in a namespace Prometheus may not read was refused before the
# install: Prometheus may not list services there, and no Helm release of it was installed.
#   NAMESPACE, RELEASE   (milvus, my-release)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
RELEASE=${RELEASE:-my-release}

answer=$("$KUBECTL" auth can-i list services --namespace "$NAMESPACE" \
  --as system:serviceaccount:monitoring:prometheus-k8s || true)
test "$answer" = no || fail "prometheus-k8s may list services in $NAMESPACE: the refusal had no cause"
if "$KUBECTL" get secrets --namespace "$NAMESPACE" --selector "owner=helm,name=$RELEASE" --output name 2>/dev/null | grep -q .; then
  fail "Helm release $NAMESPACE/$RELEASE was installed: the run should have stopped before any change"
fi
