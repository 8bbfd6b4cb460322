# shellcheck shell=bash
# Sourced by the check-*.sh scripts: what several of them need.
#
#   http_get URL   GET URL, its body on stdout; fails on an HTTP error. With EXPOSE=none the
#                  action's URLs are in-cluster Service URLs, http://NAME.NAMESPACE.svc[.cluster.local]:PORT/PATH,
#                  which only resolve inside the cluster: those go through the API server's
#                  service proxy with $KUBECTL (kubectl when unset).

KUBECTL=${KUBECTL:-kubectl}

http_get() {
  local url=$1
  if [ "${EXPOSE:-port-forward}" = none ]; then
    local re='^http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?:([0-9]+)(/.*)?$'
    if [[ ! "$url" =~ $re ]]; then
      echo "::error::$url is not an in-cluster Service URL" >&2
      return 1
    fi
    "$KUBECTL" get --raw "/api/v1/namespaces/${BASH_REMATCH[2]}/services/http:${BASH_REMATCH[1]}:${BASH_REMATCH[4]}/proxy${BASH_REMATCH[5]:-/}"
  else
    curl -fsS "$url"
  fi
}

# fail MESSAGE: an ::error:: annotation, and exit 1.
fail() {
  echo "::error::$*"
  exit 1
}
