#!/usr/bin/env bash
# make watch FN=<crate> [DEPLOYED=<deployed name>]: runs one function on the host under
# `cargo lambda watch` (rebuilt on every change), with the settings of its deployed twin
# on LocalStack (tables, queues, bus), so it reads and writes the deployed stack.
# Invoke it with `make local-invoke FN=<crate> EVENT=<file>`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source tools/dev/env.sh
FN="${FN:-}"
[ -n "$FN" ] || { echo "watch: say which function: make watch FN=<crate under functions/>" >&2; exit 2; }
mkdir -p build/env
python="${PYTHON:-build/venv/bin/python}"
[ -x "$python" ] || python=python3   # the checks before any AWS call need no venv
"$python" tools/dev/function-env.py "$FN" "${DEPLOYED:-}" >"build/env/$FN.env.tmp"
mv "build/env/$FN.env.tmp" "build/env/$FN.env"
echo "watch: $FN with the deployed settings in build/env/$FN.env; invoke with: make local-invoke FN=$FN EVENT=<file>" >&2
# The dev profile on the host, as the tests and deploy-local build: with the workspace-hack
# crate every selection resolves one feature set, so the first build reuses their
# dependencies and takes seconds, not minutes.
exec cargo lambda watch -p "$FN" --env-file "build/env/$FN.env" --invoke-port "${WATCH_PORT:-9000}"
