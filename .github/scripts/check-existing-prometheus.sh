# shellcheck shell=bash
# Milvus is scraped by an existing stack's Prometheus, through the labels the action added, and
# nothing of kube-prometheus was applied (that stack's operator is the only one).
#   PROMETHEUS_URL, PROMETHEUS_IN_CLUSTER, GRAFANA_URL, SERVICE_MONITOR, SCRAPE_POOL,
#   TARGET_HEALTH                                                   the action's outputs
#   STACK_NAMESPACE   the stack's namespace (kps)
#   SELECTOR_LABEL    the label its serviceMonitorSelector wants, key=value (release=kps)
#   EXPECT_GRAFANA    false for a stack without Grafana (grafana-url then empty)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STACK_NAMESPACE=${STACK_NAMESPACE:-kps}
SELECTOR_LABEL=${SELECTOR_LABEL:-release=kps}

test "$TARGET_HEALTH" = up
case "$PROMETHEUS_IN_CLUSTER" in *".$STACK_NAMESPACE.svc:9090") ;; *) fail "prometheus-url-in-cluster $PROMETHEUS_IN_CLUSTER is not the Prometheus of $STACK_NAMESPACE" ;; esac
"$KUBECTL" get servicemonitor -n "${SERVICE_MONITOR%%/*}" "${SERVICE_MONITOR#*/}" -o json |
  jq -e --arg k "${SELECTOR_LABEL%%=*}" --arg v "${SELECTOR_LABEL#*=}" '.metadata.labels[$k] == $v'
curl -fsS --get "$PROMETHEUS_URL/api/v1/targets" --data-urlencode state=active --data-urlencode "scrapePool=$SCRAPE_POOL" |
  jq -e '.data.activeTargets | length > 0 and all(.health == "up")'
if [ "${EXPECT_GRAFANA:-true}" = false ]; then
  test -z "$GRAFANA_URL" || fail "grafana-url $GRAFANA_URL for a stack without Grafana"
else
  curl -fsS "$GRAFANA_URL/api/health"
fi
# Nothing of kube-prometheus was applied: the stack's operator is the only one.
operators=$("$KUBECTL" get deployments -A -o json | jq '[.items[] | select(any(.spec.template.spec.containers[]; .image | test("/prometheus-operator:")))] | length')
test "$operators" = 1 || fail "$operators prometheus-operator Deployments, expected only the stack's"
