#!/usr/bin/env bash
# What `make up` runs once the binaries and components are built: the simulators and the local
# runtime (with its own tick scheduler), as children of this script.
# Stopping: Ctrl-C or SIGTERM to make's process group, or SIGTERM/SIGINT/SIGHUP to this script,
# stops both (the trap below); if one of them exits, the other is stopped too.
# Inputs (environment, all optional):
#   LISTEN=127.0.0.1:3000   where the app listens
#   SIM_BASE_PORT=4101      first of the six simulator ports (factory, payment, iot, vss, registry, notify)
#   STATE_DIR=.spin         the app's KV and SQLite files
#   BIN_DIR=target/debug    where caas-runtime and caas-sim are
#   SCHEDULES=infra/schedules.toml
set -uo pipefail
cd "$(dirname "$0")/.."
listen=${LISTEN:-127.0.0.1:3000}
base=${SIM_BASE_PORT:-4101}
state=${STATE_DIR:-.spin}
bin=${BIN_DIR:-target/debug}
schedules=${SCHEDULES:-infra/schedules.toml}
app_url="http://$listen"
mkdir -p "$state"

vars=(--variable dev_mode=true)
# Only when not the manifest's defaults, so SPIN_VARIABLE_* and the defaults keep working as before.
if [ "$base" != 4101 ]; then
  i=0
  for name in factory payment iot vss registry notify; do
    vars+=(--variable "${name}_url=http://127.0.0.1:$((base + i))")
    i=$((i + 1))
  done
fi
if [ "$listen" != 127.0.0.1:3000 ]; then
  vars+=(--variable "app_url=$app_url")
fi

# The binaries end when this script ends, even by SIGKILL (their parent-death signal, Linux).
export CAAS_PARENT_PID=$$
pids=()
stop() {
  trap - EXIT INT TERM HUP
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
  fi
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop; exit 129' HUP

# The development clock: `make clock`, `make clock-advance BY=15d`, `make clock-set TO=...` move the
# app's business time; the simulators sign their webhooks with the same time (one offset file).
"$bin/caas-sim" --app-url "$app_url" --base-port "$base" --clock-file "$state/dev-clock" &
pids+=($!)
"$bin/caas-runtime" up --manifest spin.toml --listen "$listen" --state-dir "$state" \
  --schedules "$schedules" --dev-clock "$state/dev-clock" "${vars[@]}" &
pids+=($!)
# `wait` returns at once when a trapped signal arrives (a foreground child would delay the trap);
# it also returns when either child exits, and then the other one is stopped by the EXIT trap.
wait -n "${pids[@]}"
code=$?
exit "$code"
