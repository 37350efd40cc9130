#!/usr/bin/env bash
# make demo: klrbac's main job on the embedded default policy, no Klaviyo account needed.
set -euo pipefail
klrbac=${1:-bin/klrbac}
export KLRBAC_AUDIT_LOG=${KLRBAC_AUDIT_LOG:-$(mktemp -d)/audit.log}

step() { printf '\n\033[1m$ klrbac %s\033[0m\n' "$*"; }
run() { step "$@"; "$klrbac" "$@" || echo "(exit $?)"; }

run roles list
run permissions matrix
run check marketer canSendCampaigns
run check viewer canReadProfiles canDeleteProfiles
run check service --endpoint "POST /api/events" --endpoint "DELETE /api/lists/01HX/relationships/profiles"
run scopes for GET /api/profiles/01HXYZ
