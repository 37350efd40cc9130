#!/usr/bin/env bash
# make demo: klrbac's main job on the embedded default policy, no Klaviyo account needed.
set -euo pipefail
klrbac=${1:-bin/klrbac}
export KLRBAC_AUDIT_LOG=${KLRBAC_AUDIT_LOG:-$(mktemp -d)/audit.log}

bold='' plain=''
if [ -t 1 ] && [ -z "${NO_COLOR+x}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() {
  local shown=klrbac arg
  for arg in "$@"; do
    case $arg in *[[:space:]]*) shown+=" '$arg'" ;; *) shown+=" $arg" ;; esac
  done
  printf '\n%s$ %s%s\n' "$bold" "$shown" "$plain"
}
run() { step "$@"; "$klrbac" "$@" || echo "(exit $?)"; }

run roles list
run permissions matrix
run check marketer canSendCampaigns
run check viewer canReadProfiles canDeleteProfiles
run check service --endpoint "POST /api/events" --endpoint "DELETE /api/lists/01HX/relationships/profiles"
run scopes for GET /api/profiles/01HXYZ
