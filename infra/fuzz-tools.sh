#!/usr/bin/env bash
# Installs the OpenAPI fuzzer the tests use (schemathesis, every package pinned in
# infra/fuzz-requirements.txt) into target/tools/schemathesis. Idempotent and quiet when done.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/tools/schemathesis
stamp="$venv/.requirements"
if [ -x "$venv/bin/st" ] && cmp -s infra/fuzz-requirements.txt "$stamp" 2>/dev/null; then exit 0; fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r infra/fuzz-requirements.txt
cp infra/fuzz-requirements.txt "$stamp"
echo "fuzz-tools: schemathesis $("$venv/bin/st" --version | awk '{print $NF}') in $venv"
