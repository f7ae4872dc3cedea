#!/usr/bin/env bash
# Runs a command with LOCALSTACK_ENDPOINT pointed at a latency proxy in front of LocalStack:
#   tools/bench/with-latency.sh DELAY_MS COMMAND...
# The proxy (latency_proxy.py) delays each request by DELAY_MS plus up to DELAY_MS/5 of
# jitter; it is stopped when the command ends, whatever its outcome. The command finds the
# proxy's request log (see latency_proxy.py) at $BENCH_PROXY_LOG.
set -euo pipefail
delay="$1"; shift
python="${PYTHON:-python3}"
upstream="${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}"
upstream_port="${upstream##*:}"
port="${LATENCY_PROXY_PORT:-4580}"
jitter="$(awk -v d="$delay" 'BEGIN { print d / 5 }')"
out="$(mktemp)"
log="$(mktemp)"
"$python" "$(dirname "$0")/latency_proxy.py" "$port" "$upstream_port" "$delay" "$jitter" "$log" >"$out" 2>&1 &
proxy=$!
trap 'kill "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true; rm -f "$out" "$log"' EXIT
for _ in $(seq 50); do
    grep -q ready "$out" && break
    kill -0 "$proxy" 2>/dev/null || { cat "$out" >&2; exit 1; }
    sleep 0.1
done
grep -q ready "$out" || { echo "with-latency: the proxy did not start" >&2; exit 1; }
BENCH_PROXY_LOG="$log" BENCH_ADDED_LATENCY_MS="$delay" LOCALSTACK_ENDPOINT="http://127.0.0.1:$port" "$@"
