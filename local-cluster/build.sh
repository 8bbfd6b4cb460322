#!/usr/bin/env bash
# Builds the local cluster's programs from the Go module proxy into a cache outside the
# repository, once per pinned version. Each program is built in a throw-away wrapper module
# because several upstream modules carry replace directives that `go install` refuses.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${LOCAL_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/milvus-monitoring-action/local-cluster}
bin="$cache/bin"
mkdir -p "$bin" "$cache/build"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[build] %s\n' "$*" >&2; }

# build NAME VERSION MODULE@VERSION PACKAGE... [-- LDFLAGS]
# Skips the build when $bin/.NAME-VERSION marks a finished one.
build() {
  local name=$1 version=$2 module=$3; shift 3
  local pkgs=() ldflags=''
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then ldflags=$2; break; fi
    pkgs+=("$1"); shift
  done
  local stamp="$bin/.$name-$version"
  if [ -f "$stamp" ]; then log "$name $version: cached"; return; fi
  local dir="$cache/build/$name-$version"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init "local-cluster/$name" >/dev/null 2>&1
  if [ -n "${REPLACES:-}" ]; then printf '%s\n' "$REPLACES" >> go.mod; fi
  local start=$SECONDS
  log "$name $version: resolving $module"
  for p in "${pkgs[@]}"; do go get -tool "$p@${module#*@}" >/dev/null; done
  log "$name $version: compiling ${pkgs[*]}"
  # One package is named for the program; several keep their own names.
  local out="$bin/"; [ ${#pkgs[@]} -eq 1 ] && out="$bin/$name"
  go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "${pkgs[@]}"
  touch "$stamp"
  log "$name $version: built in $((SECONDS - start))s"
}

# Kubernetes' own go.mod points its staging modules at local folders; point them at the
# published k8s.io/* modules of the same release instead.
k8s_replaces() {
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  echo 'replace ('
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 v0.'"${KUBERNETES_VERSION#v1.}"'#p' "$gomod"
  echo ')'
}

what=${1:-all}
want() { [ "$what" = all ] || [ "$what" = "$1" ]; }

if want kubernetes; then
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  v="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  v="$v -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  REPLACES=$(k8s_replaces) build kubernetes "$KUBERNETES_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler -- "$v"
fi
want etcd && build etcd "$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
want kwok && build kwok "$KWOK_VERSION" "sigs.k8s.io/kwok@$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
want prometheus-operator && build prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  github.com/prometheus-operator/prometheus-operator/cmd/operator \
  -- "-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}"
want prometheus && build prometheus "$PROMETHEUS_VERSION" \
  "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" github.com/prometheus/prometheus/cmd/prometheus \
  -- "-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
# Alertmanager for kube-prometheus' alertmanager pods. Its ui package embeds the web UI's built
# assets (ui/app/dist), which the published module leaves out: the build uses a copy of the module
# with a placeholder page there (the action and the tests use the API, not the UI).
alertmanager_source() {
  local src="$cache/build/alertmanager-src-$ALERTMANAGER_VERSION" mod
  if [ ! -f "$src/ui/app/dist/elm/index.html" ]; then
    mod=$(go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    rm -rf "$src" && cp -r "$mod" "$src" && chmod -R u+w "$src"
    for ui in elm mantine; do
      mkdir -p "$src/ui/app/dist/$ui"
      echo '<!doctype html><title>Alertmanager</title><p>Built without the web UI: use the API (/api/v2/).' > "$src/ui/app/dist/$ui/index.html"
    done
  fi
  echo "replace github.com/prometheus/alertmanager => $src"
}
if want alertmanager; then
  REPLACES=$(alertmanager_source) build alertmanager "$ALERTMANAGER_VERSION" \
    "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager \
    -- "-X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v}"
fi
# promtool, from the same Prometheus module, unit-tests the action's alert rules (`promtool test rules`).
want promtool && build promtool "$PROMETHEUS_VERSION" \
  "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" github.com/prometheus/prometheus/cmd/promtool \
  -- "-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
# act is not part of the cluster: the end-to-end suite runs the README's workflow with it.
want act && build act "$ACT_VERSION" "github.com/nektos/act@$ACT_VERSION" github.com/nektos/act
log "binaries in $bin"
