# shellcheck shell=bash
# The service-monitor output names the ServiceMonitor behind the scrape pool.
#   KUBECTL, SERVICE_MONITOR, SCRAPE_POOL   the action's outputs
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test -n "$SERVICE_MONITOR"
"$KUBECTL" get servicemonitor --namespace "${SERVICE_MONITOR%%/*}" "${SERVICE_MONITOR#*/}"
case "$SCRAPE_POOL" in
  "serviceMonitor/$SERVICE_MONITOR/"*) ;;
  *) fail "scrape pool $SCRAPE_POOL does not belong to $SERVICE_MONITOR" ;;
esac
