# shellcheck shell=bash
# The URL outputs match the expose mode: the in-cluster URLs with expose: none, others otherwise,
# and no port-forward left running with expose: none.
#   PROMETHEUS_URL, GRAFANA_URL, ALERTMANAGER_URL, MILVUS_ENDPOINT, MILVUS_METRICS_URL   outputs
#   PROMETHEUS_IN_CLUSTER, GRAFANA_IN_CLUSTER, ALERTMANAGER_IN_CLUSTER,
#   MILVUS_ENDPOINT_IN_CLUSTER, MILVUS_METRICS_IN_CLUSTER                               outputs
#   EXPOSE, NAMESPACE                                                                   inputs
#   FORWARDS         the processes that count as port-forwards, an extended regex over command
#                    lines (kubectl port-forward and the action's supervisor, whoever started them;
#                    a machine that runs other jobs narrows it to this job's supervisor)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAMESPACE=${NAMESPACE:-milvus}
EXPOSE=${EXPOSE:-port-forward}

pairs=(
  "$PROMETHEUS_URL" "$PROMETHEUS_IN_CLUSTER"
  "$GRAFANA_URL" "$GRAFANA_IN_CLUSTER"
  "$ALERTMANAGER_URL" "$ALERTMANAGER_IN_CLUSTER"
  "$MILVUS_ENDPOINT" "$MILVUS_ENDPOINT_IN_CLUSTER"
  "$MILVUS_METRICS_URL" "$MILVUS_METRICS_IN_CLUSTER"
)
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  output=${pairs[i]} in_cluster=${pairs[i + 1]}
  test -n "$output" && test -n "$in_cluster"
  [[ "$in_cluster" == *".$NAMESPACE.svc"* || "$in_cluster" == *".monitoring.svc"* ]] || fail "$in_cluster is neither in $NAMESPACE nor in monitoring"
  if [ "$EXPOSE" = none ]; then
    test "$output" = "$in_cluster" || fail "with expose: none, $output should be $in_cluster"
  else
    test "$output" != "$in_cluster" || fail "with expose: $EXPOSE, $output should not be the in-cluster URL"
  fi
done
if [ "$EXPOSE" = none ] && pgrep -af -- "${FORWARDS:- port-forward |--port-forward-supervisor}"; then
  fail "expose: none must not start port-forwards"
fi
