#!/usr/bin/env bash
# Installs Debian's redis-server for the replica tests (they start their own on a free loopback
# port; nothing runs as a service). Idempotent and quiet when present.
set -euo pipefail
if [ -x /usr/bin/redis-server ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d 101: the package must not start a system-wide redis (no service here).
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d.caas >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d.caas
if [ ! -e /usr/sbin/policy-rc.d ]; then
  $SUDO ln -s /usr/sbin/policy-rc.d.caas /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq redis-server >/dev/null
echo "redis: installed $(/usr/bin/redis-server --version | awk '{print $3}')"
