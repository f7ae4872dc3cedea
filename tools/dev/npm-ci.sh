#!/usr/bin/env bash
# Installs a tool's npm packages project-locally, from its committed lock: on first use,
# and again when the lock changes. Usage: npm-ci.sh NAME SRC DEST PROBE
#   NAME   what to call the tool in messages
#   SRC    the folder holding the committed package.json and package-lock.json
#   DEST   where to install (under build/, git-ignored)
#   PROBE  a path under DEST that exists once the install is complete
set -euo pipefail
name="$1" src="$2" dest="$3" probe="$4"
command -v node >/dev/null || { echo "$name: node (Node.js 18+) is needed: install it (Debian: nodejs, npm)" >&2; exit 2; }
if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -e "$dest/$probe" ]; then
    echo "$name: installing into ${dest#"$(pwd)"/} (npm ci)"
    mkdir -p "$dest"
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    (cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
