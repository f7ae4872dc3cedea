#!/usr/bin/env bash
# make local-invoke FN=<crate> EVENT=<file>: sends a sample event to the function that
# `make watch FN=<crate>` runs on the host, waiting (up to WAIT seconds, default 60) for
# the watcher to come up.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source tools/dev/env.sh
FN="${FN:-}" EVENT="${EVENT:-}" PORT="${WATCH_PORT:-9000}"
[ -n "$FN" ] || { echo "local-invoke: say which function: make local-invoke FN=<crate> EVENT=<file>" >&2; exit 2; }
[ -n "$EVENT" ] || { echo "local-invoke: say which event: EVENT=events/$FN/<file>.json (ls events/$FN/)" >&2; exit 2; }
[ -f "$EVENT" ] || { echo "local-invoke: no event file $EVENT; the samples are: $(ls events/"$FN"/ 2>/dev/null | tr '\n' ' ')" >&2; exit 2; }
deadline=$((SECONDS + ${WAIT:-60}))
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "local-invoke: nothing listens on :$PORT; start the function first: make watch FN=$FN" >&2
        exit 1
    fi
    sleep 1
done
answer="$(cargo lambda invoke "$FN" --invoke-port "$PORT" --data-file "$EVENT")"
printf '%s\n' "$answer"
# A partial batch response that names records is a failure, though the invoke succeeded.
if [[ "$answer" == *'"batchItemFailures":[{'* ]]; then
    echo "local-invoke: records failed (listed above); the reasons are in the log of make watch" >&2
    exit 3
fi
