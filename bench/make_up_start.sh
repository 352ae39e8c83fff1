#!/usr/bin/env bash
# Times `make up` from the command to the first 200 from /health, then stops it with SIGTERM to its
# process group and checks that nothing it started is left. Free ports by default (not 3000/4101).
# Usage: bench/make_up_start.sh [listen-port] [sim-base-port]
set -uo pipefail
cd "$(dirname "$0")/.."
port=${1:-$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')}
base=${2:-5701}
log=$(mktemp)
t0=$(date +%s.%N)
setsid make up LISTEN=127.0.0.1:$port SIM_BASE_PORT=$base >"$log" 2>&1 &
pg=$!
code=000
while kill -0 "$pg" 2>/dev/null; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
if [ "$code" = 200 ]; then
  echo "make up: first 200 from /health after $(echo "$t1 - $t0" | bc) s"
else
  echo "make up exited before serving:"; tail -n 20 "$log"
fi
kill -TERM -- "-$pg" 2>/dev/null
for _ in $(seq 1 100); do
  [ -z "$(ps -o pid= -g "$pg")" ] && break
  sleep 0.1
done
left=$(ps -o pid=,cmd= -g "$pg")
if [ -n "$left" ]; then echo "left after SIGTERM to the group: $left"; kill -KILL -- "-$pg"; else echo "stopped: nothing left"; fi
rm -f "$log"
