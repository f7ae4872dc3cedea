#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the official AsyncAPI parser. Installs it on first use
# (and when the committed lock changes) into build/asyncapi/, from the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/tools/contracts"
dir="$root/build/asyncapi"
command -v node >/dev/null || { echo "asyncapi-check: node (Node.js 18+) is needed: install it (Debian: nodejs, npm)" >&2; exit 2; }
if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/@asyncapi/parser" ]; then
    echo "asyncapi-check: installing @asyncapi/parser into build/asyncapi (npm ci)"
    mkdir -p "$dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
cp "$src/validate.mjs" "$dir/"
node "$dir/validate.mjs" "${1:-$root/docs/asyncapi.yaml}"
