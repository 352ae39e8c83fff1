#!/usr/bin/env bash
# Installs what the browser tests drive: Debian's chromium and chromium-driver (a browser
# download from elsewhere is not possible here). Idempotent and quiet when present.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
echo "browser: installed $(/usr/bin/chromium --version 2>/dev/null)"
