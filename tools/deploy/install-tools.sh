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
# zig is needed even for the host target: `cargo lambda build` links through
# cargo-zigbuild by default (it fails with "Zig is not installed" without it), which
# targets an old glibc, so the binary runs on Amazon Linux 2023 whatever the build
# host's glibc. An arm64 build (`--arm64`) also needs the Rust target
# aarch64-unknown-linux-gnu; cargo-lambda runs `rustup target add` for it when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TOOLS_VENV:-$ROOT/build/tools-venv}"
LOCK="$ROOT/tools/deploy/requirements.lock"
STAMP="$VENV/.eventkit-tools-installed"
PYTHON="${PYTHON:-python3}"
UV="${UV:-$ROOT/build/uv/bin/uv}"

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
if [ -x "$UV" ]; then
    "$UV" pip install --python "$VENV/bin/python" --require-hashes -r "$LOCK" \
        || die "installing from $LOCK failed (is PyPI reachable?)"
else
    "$VENV/bin/python" -m pip install --disable-pip-version-check --require-hashes -r "$LOCK" \
        || die "installing from $LOCK failed (is PyPI reachable?)"
fi

"$VENV/bin/cargo-lambda" lambda --version >/dev/null 2>&1 \
    || die "cargo-lambda was installed but does not run: $VENV/bin/cargo-lambda lambda --version"

echo "$want" > "$STAMP"
echo "install-tools: installed $("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | head -1) into $VENV"
