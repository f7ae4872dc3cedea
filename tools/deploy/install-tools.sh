#!/usr/bin/env bash
# Installs the deployment tools (cargo-lambda, and ziglang which it depends on) into a
# project-local virtualenv, build/tools-venv, from the pinned, hashed lock file
# tools/deploy/requirements.lock.
#
# Idempotent: a stamp file records the hash of the lock it was installed from; a
# second run with the same lock does nothing. Edit tools/deploy/requirements.in and
# regenerate the lock with:
#   build/uv/bin/uv pip compile tools/deploy/requirements.in --python-version 3.11 \
#       --generate-hashes -o tools/deploy/requirements.lock
#
# Usage: tools/deploy/install-tools.sh            install if needed
#        tools/deploy/install-tools.sh --force    reinstall
# Afterwards: build/tools-venv/bin/cargo-lambda (and `cargo lambda ...` with that
# directory on PATH).
#
# Targets: `cargo lambda build --release` for the host (x86_64) only needs the Rust
# toolchain. An arm64 build (`--arm64`, i.e. aarch64-unknown-linux-gnu) also needs
# that Rust target (`rustup target add aarch64-unknown-linux-gnu`, which downloads
# from the internet) and uses zig (installed here) as the cross linker.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TOOLS_VENV:-$ROOT/build/tools-venv}"
LOCK="$ROOT/tools/deploy/requirements.lock"
STAMP="$VENV/.eventkit-tools-installed"
PYTHON="${PYTHON:-python3}"

die() { echo "install-tools: error: $*" >&2; exit 1; }

[ -f "$LOCK" ] || die "lock file $LOCK is missing"
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"

if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && [ -x "$VENV/bin/cargo-lambda" ]; then
    echo "install-tools: up to date ($VENV)"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11+ (apt-get install python3 python3-venv)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-tools: creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV (on Debian: apt-get install python3-venv)"
fi

rm -f "$STAMP"
echo "install-tools: installing from $LOCK"
# uv (if the project installed it) is faster; plain pip works the same.
if [ -x "$ROOT/build/uv/bin/uv" ]; then
    "$ROOT/build/uv/bin/uv" pip install --python "$VENV/bin/python" --require-hashes -r "$LOCK" \
        || die "installing from $LOCK failed (is PyPI reachable?)"
else
    "$VENV/bin/python" -m pip install --disable-pip-version-check --require-hashes -r "$LOCK" \
        || die "installing from $LOCK failed (is PyPI reachable?)"
fi

"$VENV/bin/cargo-lambda" lambda --version >/dev/null 2>&1 \
    || die "cargo-lambda was installed but does not run: $VENV/bin/cargo-lambda lambda --version"

echo "$want" > "$STAMP"
echo "install-tools: installed $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | head -1) into $VENV"
