#!/usr/bin/env bash
# Fires the ticks of infra/schedules.toml against an app served by the real `spin up`
# (Spin's cron trigger is an experimental plugin, so ticks are plain HTTP routes).
# Usage: TICK_SECRET=... infra/deploy/tick-caller.sh [http://127.0.0.1:3000] [infra/schedules.toml]
set -euo pipefail
trap 'exit 0' INT TERM
base="${1:-http://127.0.0.1:3000}"
file="${2:-$(dirname "$0")/../schedules.toml}"
: "${TICK_SECRET:?set TICK_SECRET to the value of the tick_secret variable of the app}"
mapfile -t ticks < <(awk '/^route *=/ {gsub(/.*= *"|".*/, ""); r=$0} /^every_seconds *=/ {gsub(/.*= */, ""); print r " " $0}' "$file")
declare -A last
while true; do
  now=$(date +%s)
  for t in "${ticks[@]}"; do
    route=${t% *}; every=${t#* }
    if (( now - ${last[$route]:-0} >= every )); then
      last[$route]=$now
      curl -fsS -X POST -H "Authorization: Bearer $TICK_SECRET" "$base$route" >/dev/null || echo "tick $route failed" >&2
    fi
  done
  sleep 1
done
