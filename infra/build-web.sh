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
npm run --silent build
