# shellcheck shell=bash
# kubectl and helm are the versions asked for, installed in the runner's tool cache.
#   KUBECTL, KUBECTL_VERSION, HELM, HELM_VERSION   the action's outputs
#   KUBECTL_PATTERN, HELM_PATTERN                  the versions expected (bash regexes)
#   RUNNER_TOOL_CACHE                              set by the runner
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "$KUBECTL_VERSION" =~ $KUBECTL_PATTERN ]] || fail "kubectl-version $KUBECTL_VERSION does not match $KUBECTL_PATTERN"
[[ "$HELM_VERSION" =~ $HELM_PATTERN ]] || fail "helm-version $HELM_VERSION does not match $HELM_PATTERN"
case "$KUBECTL" in "$RUNNER_TOOL_CACHE"/*) ;; *) fail "kubectl-path $KUBECTL is not in the tool cache" ;; esac
case "$HELM" in "$RUNNER_TOOL_CACHE"/*) ;; *) fail "helm-path $HELM is not in the tool cache" ;; esac
"$KUBECTL" version --client --output=json | jq -e --arg v "$KUBECTL_VERSION" '.clientVersion.gitVersion == $v'
test "$("$HELM" version --template '{{.Version}}')" = "$HELM_VERSION"
