#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the official AsyncAPI parser. Installs it on first use
# (and when the committed lock changes) into build/asyncapi/, from the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/tools/contracts"
dir="$root/build/asyncapi"
"$root/tools/dev/npm-ci.sh" asyncapi-check "$src" "$dir" node_modules/@asyncapi/parser
cp "$src/validate.mjs" "$dir/"
node "$dir/validate.mjs" "${1:-$root/docs/asyncapi.yaml}"
