#!/usr/bin/env bash
# Builds the customer web app (web/ → web/dist) that functions/web embeds: installs the pinned
# npm packages (package-lock.json) when missing or changed, generates the API types from
# docs/openapi.yaml, type-checks, bundles. Quiet and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../web"
stamp=node_modules/.caas-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# Skip when web/dist is newer than every input (a rebuilt dist would also recompile functions/web,
# which embeds it: ~40 s of every `make up` and `make test` on this machine for nothing).
built=node_modules/.caas-web-built
if [ -f "$built" ] && [ -d dist/app ] && [ -z "$(find src public build.mjs documents.mjs package.json package-lock.json tsconfig.json \
     ../docs/openapi.yaml "$stamp" -newer "$built" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
npm run --silent build
touch "$built"
