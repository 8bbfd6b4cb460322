#!/usr/bin/env bash
# Prints the release notes of one version: the body of its `## vX.Y.Z` section in CHANGELOG.md,
# without the heading and the blank lines around it. Fails when the section is missing or empty,
# so a release cannot go out without notes.
#
#   bash scripts/release-notes.sh v1.2.3 [CHANGELOG.md]
set -euo pipefail

version=${1:-}
changelog=${2:-"$(dirname "$0")/../CHANGELOG.md"}
if [[ ! "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: release-notes.sh vX.Y.Z [CHANGELOG.md] (got '$version')" >&2
  exit 2
fi

notes=$(awk -v heading="## $version" '
  found && /^## / { exit }
  found { print }
  $0 == heading || index($0, heading " ") == 1 { found = 1 }
' "$changelog" | sed -e '/./,$!d' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}')

if [ -z "$notes" ]; then
  echo "$changelog has no notes for $version: add a '## $version' section" >&2
  exit 1
fi
printf '%s\n' "$notes"
