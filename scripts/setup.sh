#!/usr/bin/env bash
# The set-up `npm run demo` and `npm test` do before anything else, so both work on a fresh
# clone (and .ci/run, on a fresh machine, is just `npm test`). Each step is skipped when done:
#
#   - the system commands the local cluster and the tests use (apt-get, when root and missing);
#   - the npm dependencies (`npm ci`): they bring Node 24 itself, and npm scripts run the `node`
#     of node_modules/.bin, so until they are installed `node` is whatever the machine has;
#   - what the local cluster's mirror serves (official kubectl and helm, upstream fixtures): fetched
#     here, on the host, since the cluster's network namespace has no network; first, so that a
#     machine that cannot reach them learns it before the build;
#   - the local cluster's programs, and nektos/act for the end-to-end suite's run of the README's
#     workflow (local-cluster/build.sh: a no-op when built, about 27 min cold).
#
#   bash scripts/setup.sh demo   what `npm run demo` needs: everything, and root
#   bash scripts/setup.sh test   what `npm test` needs: the local cluster and root only when the
#                                end-to-end suite runs (MILVUS_ACTION_E2E is not 0); otherwise
#                                the Prometheus binary of the target-wait tests
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case $mode in demo | test) ;; *) echo "usage: bash scripts/setup.sh demo|test" >&2; exit 2 ;; esac

log() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

e2e=true
if [ "$mode" = test ] && [ "${MILVUS_ACTION_E2E:-}" = 0 ]; then e2e=false; fi

# The local cluster lives in a network namespace of its own (ip netns), which needs root.
if $e2e && ! is_root; then
  if [ "$mode" = demo ]; then
    fail "the demo's local cluster needs root for its network namespace: run sudo npm run demo"
  fi
  fail "the end-to-end suite needs root for the local cluster's network namespace: run sudo npm test, or MILVUS_ACTION_E2E=0 npm test to skip it"
fi

# System commands: unzip and curl for downloads, openssl for the cluster's certificates, ip for
# its network namespace.
missing=()
for cmd in unzip openssl ip curl; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for c in "${missing[@]}"; do case $c in ip) pkgs+=(iproute2) ;; *) pkgs+=("$c") ;; esac; done
  if is_root && command -v apt-get >/dev/null; then
    log "installing ${pkgs[*]} (apt-get)"
    apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    fail "missing commands: ${missing[*]}; install them first (Debian, Ubuntu: sudo apt-get install ${pkgs[*]})"
  fi
fi

# npm ci writes node_modules/.package-lock.json; when it is missing or older than
# package-lock.json, node_modules is not what the lock file says.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing the npm dependencies, Node 24 among them (npm ci)"
  npm ci --no-audit --no-fund
fi

# The mirror's downloads, on the host: the cluster's network namespace has no network. Cached.
if $e2e; then
  node_modules/.bin/node local-cluster/cluster.ts downloads >/dev/null
fi

# build.sh skips what is built; it needs Go to build, and to read the module cache on a re-run.
if ! command -v go >/dev/null; then
  fail "Go (1.26, as CI uses) is needed to build the local cluster's programs: https://go.dev/dl/"
fi
if $e2e; then
  # Everything, act included (__tests__/e2e/act.test.ts runs the README's workflow with it).
  bash local-cluster/build.sh
else
  bash local-cluster/build.sh prometheus
fi
