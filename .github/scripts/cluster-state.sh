# shellcheck shell=bash
# What a failed job prints about the cluster; never fails itself.
#   cluster-state.sh [--rbac]   --rbac: the Roles and RoleBindings too
KUBECTL=${KUBECTL:-kubectl}
"$KUBECTL" get pods,services,servicemonitors --all-namespaces -o wide || true
if [ "${1:-}" = --rbac ]; then
  "$KUBECTL" get roles,rolebindings --all-namespaces || true
else
  "$KUBECTL" get events --all-namespaces --sort-by=.lastTimestamp | tail -n 100 || true
  "$KUBECTL" logs --namespace monitoring prometheus-k8s-0 -c prometheus --tail=100 || true
fi
exit 0
