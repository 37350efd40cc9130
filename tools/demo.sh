#!/usr/bin/env bash
# make demo: klrbac's main job on the embedded default policy, no Klaviyo account needed.
set -euo pipefail
klrbac=${1:-bin/klrbac}
scratch=$(mktemp -d)
export KLRBAC_AUDIT_LOG=${KLRBAC_AUDIT_LOG:-$scratch/audit.log}
export KLRBAC_CALIBRATION_FILE=$scratch/calibration.json

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

# Validating keys needs a Klaviyo: a local sandbox with the demo account, one key per role, some of
# them deliberately wrong. Its env file appears once it is ready, and goes when it stops.
sandbox_pid=''
stop_sandbox() {
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap stop_sandbox EXIT
"$klrbac" sandbox --env-file "$scratch/sandbox.env" >/dev/null 2>"$scratch/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do
  [ -e "$scratch/sandbox.env" ] && break
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then cat "$scratch/sandbox.log" >&2; exit 1; fi
  sleep 0.1
done
if [ ! -e "$scratch/sandbox.env" ]; then echo "demo: the sandbox did not start within 10 s" >&2; exit 1; fi
# shellcheck disable=SC1091
. "$scratch/sandbox.env"
export KLRBAC_KEYRING=off

# --method auto (the default): exactly, in one call, when a key of the policy can list the
# account's keys. Here the admin key (full access, so it holds credentials:read) lists them with
# their scopes and ages, and the account's keys no role uses are named.
run keys validate --all
# Without that listing, by probing Klaviyo once per scope. Two roles keep this to about 12 s:
# some calls are allowed once a second and 15 times a minute per account, and klrbac stays under
# that, so probing all five keys takes about three minutes.
run keys validate developer service --method probe
