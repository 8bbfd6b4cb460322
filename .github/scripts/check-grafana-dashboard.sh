# shellcheck shell=bash
# Grafana has the Milvus dashboard, its datasource kube-prometheus' Prometheus, and the link
# output opens it on the release.
#   GRAFANA_URL, DASHBOARD_URL   the grafana-url and dashboard-url outputs
#   NAMESPACE, RELEASE           Milvus' namespace and release (milvus, my-release)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
RELEASE=${RELEASE:-my-release}

# kube-prometheus' Grafana: admin/admin, as the action uses it.
uid=$(sed -E 's#.*/d/([^/]+)/.*#\1#' <<<"$DASHBOARD_URL")
test -n "$uid"
curl -fsS -u admin:admin "$GRAFANA_URL/api/search?dashboardUIDs=$uid" | jq -e 'length == 1'
curl -fsS -u admin:admin "$GRAFANA_URL/api/dashboards/uid/$uid" > dashboard.json
# The action sets the variable's current value to the datasource's uid.
ds=$(jq -r '.dashboard.templating.list[] | select(.name == "datasource") | .current.value' dashboard.json)
curl -fsS -u admin:admin "$GRAFANA_URL/api/datasources/uid/$ds" | jq -e '.type == "prometheus" and (.url | test("prometheus-k8s.monitoring.svc"))'
[[ "$DASHBOARD_URL" == *"var-namespace=$NAMESPACE"* && "$DASHBOARD_URL" == *"var-instance=$RELEASE"* ]] ||
  fail "dashboard-url $DASHBOARD_URL does not select namespace $NAMESPACE and instance $RELEASE"
