#!/usr/bin/env bash
# The documented manual procedure the action replaces, timed step by step:
# kube-prometheus (manifests/setup, wait for the CRDs, manifests/), the Role/RoleBinding that
# lets monitoring/prometheus-k8s discover Milvus in its namespace, `helm install --wait`, then a
# kubectl port-forward to Prometheus and a poll of its targets API until the Milvus target is up.
#
#   benchmarks/manual.sh run       the procedure (from a clean cluster)
#   benchmarks/manual.sh cleanup   remove kube-prometheus and Milvus, wait until they are gone
#
# Runs where the cluster is reachable (for the local cluster: inside its network namespace,
# as benchmarks/action.ts runs it). Needs kubectl, helm, curl, jq and tar on PATH, and:
#   KUBECONFIG            the cluster
#   KUBE_PROMETHEUS_URL   the kube-prometheus release archive (.tar.gz) - the "git clone" step
#   MILVUS_REPO           the Milvus Helm repository
#   PROMETHEUS_LOCAL_PORT local port of the port-forward (default 19090: on the local cluster,
#                         127.0.0.1:9090 is taken by the Prometheus process that plays the pod)
#
# Every step prints a line `[manual] <UTC time> <work|wait> <ms> <step>`; "wait" steps are the
# ones that only wait for the cluster (sleep loops, helm --wait, the target poll). The last line
# is `MANUAL_RESULT {"totalMs":..,"workMs":..,"waitMs":..}` for benchmarks/action.ts.
set -euo pipefail

: "${KUBECONFIG:?set KUBECONFIG}"
NAMESPACE=milvus
RELEASE=my-release
CHART_VERSION=5.0.19
LOCAL_PORT=${PROMETHEUS_LOCAL_PORT:-19090}

scratch=$(mktemp -d)
pf_loop=''
finish() {
  if [ -n "$pf_loop" ]; then
    pkill -P "$pf_loop" 2>/dev/null || true # its kubectl port-forward (by parent pid), then the loop,
    kill "$pf_loop" 2>/dev/null || true     # which is in its `sleep 1` by then
  fi
  rm -rf "$scratch"
}
trap finish EXIT

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
started=$(now_ms)
work_ms=0
wait_ms=0

# step work|wait LABEL CMD...: run CMD, print how long it took, add it to the work or wait total.
step() {
  local kind=$1 label=$2
  shift 2
  local s e
  s=$(now_ms)
  "$@"
  e=$(now_ms)
  if [ "$kind" = wait ]; then wait_ms=$((wait_ms + e - s)); else work_ms=$((work_ms + e - s)); fi
  printf '[manual] %s %-4s %7d ms  %s\n' "$(date -u +%H:%M:%S.%3N)" "$kind" $((e - s)) "$label"
}

fetch_kube_prometheus() {
  : "${KUBE_PROMETHEUS_URL:?set KUBE_PROMETHEUS_URL}"
  mkdir -p "$scratch/kube-prometheus"
  curl -sSfL "$KUBE_PROMETHEUS_URL" | tar -xz -C "$scratch/kube-prometheus" --strip-components=1
}

create_setup() { kubectl create -f manifests/setup >/dev/null; }
create_stack() { kubectl create -f manifests/ >/dev/null; }

wait_for_servicemonitor_crd() {
  until kubectl get servicemonitors --all-namespaces >/dev/null 2>&1; do sleep 1; done
}

# Without this Prometheus never discovers Milvus outside default/kube-system/monitoring:
# kube-prometheus grants prometheus-k8s those three namespaces only.
prometheus_rbac() {
  kubectl create namespace "$NAMESPACE" >/dev/null
  kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: prometheus-k8s
  namespace: $NAMESPACE
rules:
- apiGroups: [""]
  resources: [services, endpoints, pods]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: prometheus-k8s
  namespace: $NAMESPACE
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: prometheus-k8s
subjects:
- kind: ServiceAccount
  name: prometheus-k8s
  namespace: monitoring
EOF
}

helm_install() {
  : "${MILVUS_REPO:?set MILVUS_REPO}"
  helm install "$RELEASE" milvus --repo "$MILVUS_REPO" --version "$CHART_VERSION" \
    -n "$NAMESPACE" --create-namespace \
    --set metrics.serviceMonitor.enabled=true --set cluster.enabled=false \
    --set etcd.replicaCount=1 --set minio.mode=standalone --set pulsarv3.enabled=false \
    --wait --timeout 15m >"$scratch/helm.log"
}

# In the background, as a person would leave it running; restarted if it exits (the Prometheus
# pod may not accept a forward yet).
start_port_forward() {
  (while true; do
    kubectl -n monitoring port-forward svc/prometheus-k8s "$LOCAL_PORT:9090" >>"$scratch/port-forward.log" 2>&1 || true
    sleep 1
  done) &
  pf_loop=$!
}

# --max-time: a request through a fresh port-forward can hang for good (seen at 1000 nodes).
milvus_target_up() {
  curl -sf --max-time 10 "http://127.0.0.1:$LOCAL_PORT/api/v1/targets?state=active" 2>/dev/null |
    jq -e --arg pool "serviceMonitor/$NAMESPACE/" \
      '[.data.activeTargets[] | select(.scrapePool | startswith($pool))] | length > 0 and all(.health == "up")' >/dev/null
}

poll_targets() {
  until milvus_target_up; do sleep 1; done
}

run() {
  step work 'download and unpack kube-prometheus' fetch_kube_prometheus
  cd "$scratch/kube-prometheus"
  step work 'kubectl create -f manifests/setup' create_setup
  step wait 'until kubectl get servicemonitors --all-namespaces; sleep 1' wait_for_servicemonitor_crd
  step work 'kubectl create -f manifests/' create_stack
  step work "namespace $NAMESPACE + Role/RoleBinding for monitoring/prometheus-k8s" prometheus_rbac
  step wait "helm install $RELEASE milvus --version $CHART_VERSION ... --wait" helm_install
  step work "kubectl port-forward svc/prometheus-k8s $LOCAL_PORT:9090 (background)" start_port_forward
  step wait 'poll /api/v1/targets every 1s until the Milvus target is up' poll_targets
  local total=$(($(now_ms) - started))
  printf '[manual] total %d ms: work %d ms, wait %d ms\n' "$total" "$work_ms" "$wait_ms"
  printf 'MANUAL_RESULT {"totalMs":%d,"workMs":%d,"waitMs":%d}\n' "$total" "$work_ms" "$wait_ms"
}

gone() { ! kubectl get "$@" >/dev/null 2>&1; }

# Removes what the procedure (or the action) installed, whatever state a run left.
cleanup() {
  fetch_kube_prometheus
  helm uninstall "$RELEASE" -n "$NAMESPACE" --wait --timeout 5m >/dev/null 2>&1 || true
  kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=false >/dev/null
  kubectl delete -f "$scratch/kube-prometheus/manifests/" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  kubectl delete -f "$scratch/kube-prometheus/manifests/setup" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  local deadline=$(($(now_ms) + 600000))
  until gone namespace "$NAMESPACE" && gone namespace monitoring && gone crd servicemonitors.monitoring.coreos.com; do
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "cleanup: still present after 10 min:" >&2
      kubectl get namespace "$NAMESPACE" monitoring >&2 || true
      exit 1
    fi
    sleep 1
  done
}

case "${1:-run}" in
  run) run ;;
  cleanup) step work cleanup cleanup ;;
  *)
    echo "usage: $0 run|cleanup" >&2
    exit 2
    ;;
esac
