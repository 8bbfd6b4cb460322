# shellcheck shell=bash
# A step's outcome is the one expected.
#   OUTCOME    steps.<id>.outcome (success, failure, ...)
#   EXPECTED   the outcome expected (failure)
set -euo pipefail
# shellcheck source=.github/scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
EXPECTED=${EXPECTED:-failure}

test "$OUTCOME" = "$EXPECTED" || fail "expected the action's outcome to be $EXPECTED, it was $OUTCOME"
