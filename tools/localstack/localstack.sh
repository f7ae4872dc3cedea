#!/usr/bin/env bash
# LocalStack runner for the kit's integration tests.
#
#   tools/localstack/localstack.sh install   # host mode: build/uv + build/venv from the lock, plus the plugin
#   tools/localstack/localstack.sh up        # start (idempotent); waits until healthy
#   tools/localstack/localstack.sh down      # stop (idempotent); leaves no processes behind
#   tools/localstack/localstack.sh status    # running or not (exit 0 if running, 3 if not)
#
# Configuration (environment):
#   LOCALSTACK_MODE=host|docker|auto  auto (default): docker if `docker info` works, else host
#   LOCALSTACK_PORT=4566              port on 127.0.0.1 where the gateway listens
#   LOCALSTACK_STATE_DIR=build/localstack (build/localstack-<port> for other ports)
#                                     host mode: log, pid file and LocalStack's file system root;
#                                     each instance needs its own
#   LOCALSTACK_START_TIMEOUT=180      seconds to wait for /_localstack/health
#   LOCALSTACK_STOP_TIMEOUT=30        seconds to wait after SIGTERM before SIGKILL
#   LOCALSTACK_IMAGE=localstack/localstack:4.9.2, LOCALSTACK_CONTAINER=eventkit-localstack (docker mode)
#
# Host mode runs localstack-core 4.9.2 as a plain Python process from build/venv, with the
# project's plugin (tools/localstack/plugin): DynamoDB and DynamoDB Streams served by moto
# (LocalStack's default downloads DynamoDB Local, which needs the internet) and Lambda
# functions run as local processes (LocalStack's default needs Docker).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
BUILD="$ROOT/build"
UV_DIR="$BUILD/uv"
UV="$UV_DIR/bin/uv"
UV_VERSION="0.13.9"
VENV="$BUILD/venv"
LOCK="$SCRIPT_DIR/requirements.lock"
PLUGIN="$SCRIPT_DIR/plugin"
STAMP="$VENV/.eventkit-stamp"

PORT="${LOCALSTACK_PORT:-4566}"
if [ "$PORT" = 4566 ]; then
    STATE_DIR="${LOCALSTACK_STATE_DIR:-$BUILD/localstack}"
else
    STATE_DIR="${LOCALSTACK_STATE_DIR:-$BUILD/localstack-$PORT}"
fi
case "$STATE_DIR" in /*) ;; *) STATE_DIR="$ROOT/$STATE_DIR" ;; esac
PID_FILE="$STATE_DIR/localstack.pid"
LOG_FILE="$STATE_DIR/localstack.log"
START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-180}"
STOP_TIMEOUT="${LOCALSTACK_STOP_TIMEOUT:-30}"
IMAGE="${LOCALSTACK_IMAGE:-localstack/localstack:4.9.2}"
CONTAINER="${LOCALSTACK_CONTAINER:-eventkit-localstack}"
HEALTH_URL="http://127.0.0.1:$PORT/_localstack/health"

# Keep uv's and pip's caches inside build/ unless the caller chose otherwise.
export UV_CACHE_DIR="${UV_CACHE_DIR:-$BUILD/uv-cache}"
export UV_PYTHON_DOWNLOADS=never
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'localstack.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# mode

docker_works() { command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1; }

resolve_mode() {
    local mode="${LOCALSTACK_MODE:-auto}"
    case "$mode" in
        host|docker) echo "$mode" ;;
        auto) if docker_works; then echo docker; else echo host; fi ;;
        *) die "LOCALSTACK_MODE must be host, docker or auto (got '$mode')" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# helpers shared by both modes

# Prints the health document and succeeds if LocalStack answers on $PORT.
health() {
    local body
    body="$(curl -fsS --max-time 5 "$HEALTH_URL" 2>/dev/null)" || return 1
    case "$body" in *'"services"'*) printf '%s\n' "$body"; return 0 ;; esac
    return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

port_owner() {
    if command -v ss >/dev/null 2>&1; then
        ss -ltnpH "sport = :$PORT" 2>/dev/null | sed 's/^/    /'
    fi
}

fail_port_taken() {
    log "error: port $PORT on 127.0.0.1 is in use by something that is not a healthy LocalStack:"
    port_owner >&2 || true
    die "stop that process, or pick another port with LOCALSTACK_PORT=<port> (and a separate LOCALSTACK_STATE_DIR)"
}

# ---------------------------------------------------------------------------------------------
# install (host mode)

find_python311() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Changes when the lock, the plugin's metadata or the way this script installs them change.
INSTALL_RECIPE=2
stamp_value() {
    { echo "recipe $INSTALL_RECIPE"; cat "$LOCK" "$PLUGIN/pyproject.toml"; } | sha256sum | cut -d' ' -f1
}

plugin_installed() {
    "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as m
m.distribution("eventkit-localstack")
EOF
}

cmd_install() {
    local mode
    mode="$(resolve_mode)"
    if [ "$mode" = docker ]; then
        log "docker mode: nothing to install (the image $IMAGE is pulled by 'up')"
        return 0
    fi

    local py
    py="$(find_python311)" || die "CPython 3.11 not found (tried \$PYTHON, python3.11, python3); LocalStack 4.9.2 and the lock need 3.11"
    mkdir -p "$BUILD"

    if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
        log "creating $UV_DIR with uv==$UV_VERSION"
        rm -rf "$UV_DIR"
        "$py" -m venv "$UV_DIR"
        "$UV_DIR/bin/pip" install --quiet --no-cache-dir "uv==$UV_VERSION"
    fi

    local want
    want="$(stamp_value)"
    if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && plugin_installed; then
        log "build/venv is up to date with requirements.lock and the plugin"
        return 0
    fi

    if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        log "creating $VENV"
        rm -rf "$VENV"
        "$UV" venv --quiet --python "$py" "$VENV"
    fi
    rm -f "$STAMP"
    log "syncing $VENV with $LOCK"
    "$UV" pip sync --quiet --python "$VENV/bin/python" "$LOCK"
    # Editable, so changes to the plugin's Python files take effect on the next start. Entry
    # points live in pyproject.toml, whose hash is in the stamp: changing it re-installs.
    # Built in an isolated environment: inside build/venv, plux (a LocalStack dependency)
    # patches setuptools' editable build and fails on a fresh checkout. setuptools for that
    # environment is pinned to the lock's version.
    local constraints="$BUILD/plugin-build-constraints.txt"
    grep -E '^setuptools==' "$LOCK" >"$constraints" || : >"$constraints"
    log "installing the plugin (editable) from $PLUGIN"
    "$UV" pip install --quiet --python "$VENV/bin/python" --no-deps \
        --build-constraints "$constraints" --editable "$PLUGIN"
    printf '%s\n' "$want" >"$STAMP"
    log "installed: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("localstack-core", m.version("localstack-core"), "+ eventkit-localstack", m.version("eventkit-localstack"))')"
}

# ---------------------------------------------------------------------------------------------
# host mode

# The pid in the pid file, if that process is alive and is a LocalStack runtime.
host_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'localstack.runtime.main' || return 1
    printf '%s\n' "$pid"
}

# All live processes that belong to the instance, as pid:starttime: its process group, its
# descendants (also those that moved to a session of their own), and anything carrying the
# instance marker in its environment (children that were re-parented to init).
instance_pids() {
    local leader="$1" marker="$2"
    "${VENV}/bin/python" - "$leader" "$marker" 2>/dev/null <<'EOF' || true
import os, sys
leader, marker = int(sys.argv[1]), sys.argv[2].encode()
procs = {}
for entry in os.listdir("/proc"):
    if not entry.isdigit():
        continue
    pid = int(entry)
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        state, ppid, pgid, start = fields[0], int(fields[1]), int(fields[2]), fields[19].decode()
        if state == b"Z":
            continue
        procs[pid] = (ppid, pgid, start)
    except (OSError, ValueError):
        continue
found = {p for p, (_, pgid, _) in procs.items() if pgid == leader}
if leader in procs:
    found.add(leader)
changed = True
while changed:
    changed = False
    for p, (ppid, _, _) in procs.items():
        if ppid in found and p not in found:
            found.add(p)
            changed = True
if marker:
    for p in procs:
        if p in found:
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.add(p)
        except OSError:
            pass
found.discard(os.getpid())
found.discard(os.getppid())
print(" ".join(f"{p}:{procs[p][2]}" for p in sorted(found)))
EOF
}

# Succeeds if pid:starttime still names the same live (not zombie) process.
same_process_alive() {
    local pid="${1%%:*}" start="${1#*:}" stat rest
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    rest="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    [ "$1" != Z ] && [ "${20}" = "$start" ]
}

instance_marker() { printf 'EVENTKIT_LOCALSTACK_INSTANCE=%s' "$STATE_DIR"; }

show_log_tail() {
    if [ -f "$LOG_FILE" ]; then
        log "last lines of $LOG_FILE:"
        tail -n "${1:-40}" "$LOG_FILE" | sed 's/^/    /' >&2
    fi
}

wait_healthy() {
    # $1: pid to watch (host mode) or empty; $2: start time (epoch seconds)
    local pid="$1" start="$2" deadline=$(( $2 + START_TIMEOUT ))
    while :; do
        if health >/dev/null; then
            log "LocalStack is healthy on port $PORT after $(( $(date +%s) - start )) s"
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail 60
            rm -f "$PID_FILE"
            die "LocalStack (pid $pid) exited during start-up; see $LOG_FILE"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            show_log_tail 60
            die "LocalStack did not answer $HEALTH_URL within ${START_TIMEOUT} s (still running; '$0 down' stops it)"
        fi
        sleep 1
    done
}

host_up() {
    local pid start
    if pid="$(host_pid)"; then
        if health >/dev/null; then
            log "LocalStack already running (pid $pid) and healthy on port $PORT"
            return 0
        fi
        log "LocalStack (pid $pid) is starting; waiting for it"
        wait_healthy "$pid" "$(stat -c %Y "$PID_FILE")"
        return 0
    fi
    rm -f "$PID_FILE"
    if health >/dev/null; then
        log "a LocalStack not started from $STATE_DIR already answers on port $PORT; using it"
        return 0
    fi
    port_in_use && fail_port_taken

    if ! { [ -x "$VENV/bin/python" ] && plugin_installed; }; then
        die "build/venv is missing or incomplete; run '$0 install' first"
    fi
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_value)" ] \
        || log "warning: requirements.lock or the plugin changed since the last install; run '$0 install'"

    local fsroot="$STATE_DIR/volume"
    # tmp: LocalStack unpacks Lambda code under $TMPDIR/lambda; wiped at each start.
    rm -rf "$STATE_DIR/tmp"
    mkdir -p "$fsroot" "$STATE_DIR/config" "$STATE_DIR/cache" "$STATE_DIR/tmp"
    : >"$LOG_FILE"
    # The IAM audit judges the calls of this run of LocalStack only.
    local iam_calls="${EVENTKIT_IAM_CALLS-$STATE_DIR/iam-calls.jsonl}"
    [ -z "$iam_calls" ] || : >"$iam_calls"
    start="$(date +%s)"
    log "starting LocalStack (host mode) on 127.0.0.1:$PORT; log: $LOG_FILE"
    # Environment, all checked against localstack/config.py of 4.9.2:
    #   OVERRIDE_IN_DOCKER=0  these machines have /.dockerenv, which makes LocalStack believe it is
    #                         inside its own container (paths under /var/lib/localstack and
    #                         /tmp/localstack shared by every instance, container networking).
    #   FILESYSTEM_ROOT       host mode puts var_libs/cache/tmp/state/logs below this root;
    #                         LOCALSTACK_VOLUME_DIR is only read by the CLI but is set to match.
    #   TMPDIR                Lambda code is unpacked to $TMPDIR/lambda/...: keep it per instance.
    #   CONFIG_DIR, XDG_CACHE_HOME  keep ~/.localstack and ~/.cache/plux out of it.
    #   DNS_ADDRESS=0         no DNS server (it would bind port 53 and forward upstream).
    #   DISABLE_EVENTS=1      no analytics; SKIP_SSL_CERT_DOWNLOAD=1 no certificate download.
    #   LOCALSTACK_HOST=127.0.0.1:PORT  the default, localhost.localstack.cloud, needs public DNS.
    #   SQS_ENDPOINT_STRATEGY=dynamic   queue URLs use the host the client called
    #                         (http://127.0.0.1:PORT/queue/<region>/<account>/<name>).
    #   PROVIDER_OVERRIDE_DYNAMODB(STREAMS)=moto, LAMBDA_RUNTIME_EXECUTOR=process: the plugin
    #                         (defaults; a value already in the environment wins). Any other
    #                         LocalStack variable in the caller's environment is passed through.
    #   LAMBDA_PROCESS_PYTHON  the interpreter Python functions run under (awslambdaric,
    #                         Powertools and boto3 installed): `make compat-venv`'s, checked
    #                         when a Python function starts, so it may be built after this.
    #   LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=1: an SQS event source
    #                         mapping on AWS long-polls and picks a message up at once;
    #                         LocalStack's backs off to 10 s on an empty queue, so a request
    #                         and its reply could take 20 s where AWS takes well under one.
    #   SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL=10: queue depths reach CloudWatch every 10 s
    #                         (default 60), so a DLQ alarm fires within about a minute and
    #                         a half of a message landing, as its 60 s period allows.
    #   EVENTKIT_IAM_CALLS    where the plugin records each deployed principal's AWS calls
    #                         for the least-privilege audit (tools/iam/audit.py); empty: none.
    (
        cd "$STATE_DIR"
        export GATEWAY_LISTEN="127.0.0.1:$PORT"
        # LocalStack 4.9's default gateway server (twisted) ignores the host in
        # GATEWAY_LISTEN and binds 0.0.0.0; hypercorn binds loopback only.
        export GATEWAY_SERVER="${GATEWAY_SERVER:-hypercorn}"
        export LOCALSTACK_HOST="127.0.0.1:$PORT"
        export SQS_ENDPOINT_STRATEGY=dynamic
        export OVERRIDE_IN_DOCKER=0
        export FILESYSTEM_ROOT="$fsroot"
        export LOCALSTACK_VOLUME_DIR="$fsroot"
        export CONFIG_DIR="$STATE_DIR/config"
        export XDG_CACHE_HOME="$STATE_DIR/cache"
        export TMPDIR="$STATE_DIR/tmp"
        export DNS_ADDRESS=0
        export DISABLE_EVENTS=1
        export SKIP_SSL_CERT_DOWNLOAD=1
        export PROVIDER_OVERRIDE_DYNAMODB="${PROVIDER_OVERRIDE_DYNAMODB:-moto}"
        export PROVIDER_OVERRIDE_DYNAMODBSTREAMS="${PROVIDER_OVERRIDE_DYNAMODBSTREAMS:-moto}"
        export LAMBDA_RUNTIME_EXECUTOR="${LAMBDA_RUNTIME_EXECUTOR:-process}"
        export LAMBDA_PROCESS_PYTHON="${LAMBDA_PROCESS_PYTHON:-$BUILD/compat-venv/bin/python}"
        export LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC="${LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC:-1}"
        export SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL="${SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL:-10}"
        export EVENTKIT_IAM_CALLS="${EVENTKIT_IAM_CALLS-$STATE_DIR/iam-calls.jsonl}"
        export "$(instance_marker)"
        # setsid: own session and process group. subreaper.py: orphaned descendants (e.g.
        # helpers a Lambda bootstrap detached) are re-parented to it, and it stops them all
        # when LocalStack exits.
        exec setsid "$VENV/bin/python" "$SCRIPT_DIR/subreaper.py" \
            "$VENV/bin/python" -m localstack.runtime.main </dev/null >>"$LOG_FILE" 2>&1
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    log "pid $pid"
    wait_healthy "$pid" "$start"
}

host_down() {
    local pid
    if ! pid="$(host_pid)"; then
        rm -f "$PID_FILE"
        log "LocalStack (state dir $STATE_DIR) is not running"
        return 0
    fi
    local marker seen deadline alive p
    marker="$(instance_marker)"
    log "stopping LocalStack (pid $pid, port $PORT)"
    # pid is subreaper.py: SIGTERM goes on to LocalStack, which stops its Lambda processes;
    # then subreaper.py stops whatever is left and exits. Meanwhile keep a list of every
    # process of the instance, in case something has to be killed from here.
    seen="$(instance_pids "$pid" "$marker")"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while kill -0 "$pid" 2>/dev/null; do
        seen="$seen $(instance_pids "$pid" "$marker")"
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "still running after ${STOP_TIMEOUT} s; sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    # Anything of the instance still alive now escaped both LocalStack and subreaper.py.
    # (Entries are pid:starttime, so a recycled pid is never taken for one of ours.)
    alive=""
    # shellcheck disable=SC2046,SC2086  # word lists on purpose
    for p in $(printf '%s\n' $seen $(instance_pids "$pid" "$marker") | sort -u); do
        same_process_alive "$p" && alive="$alive $p"
    done
    if [ -n "$alive" ]; then
        log "killing leftover processes (pid:start):$alive"
        for p in $alive; do same_process_alive "$p" && { kill -KILL "${p%%:*}" 2>/dev/null || true; }; done
        sleep 1
    fi
    rm -f "$PID_FILE"
    local left=""
    for p in $alive; do same_process_alive "$p" && left="$left ${p%%:*}"; done
    if [ -n "$left" ]; then
        ps -o pid,ppid,pgid,stat,args -p "${left# }" >&2 || true
        die "processes of this LocalStack instance are still alive:$left"
    fi
    log "stopped; no processes of this instance remain"
}

host_status() {
    local pid
    if pid="$(host_pid)"; then
        if health >/dev/null; then
            echo "running (host mode, pid $pid, http://127.0.0.1:$PORT, healthy)"
        else
            echo "starting or unhealthy (host mode, pid $pid, port $PORT); log: $LOG_FILE"
        fi
        return 0
    fi
    if health >/dev/null; then
        echo "not running from $STATE_DIR, but a LocalStack answers on port $PORT"
        return 0
    fi
    echo "not running (host mode, port $PORT)"
    return 3
}

# ---------------------------------------------------------------------------------------------
# docker mode: the official image, with its own DynamoDB and Docker-based Lambda

container_state() { docker inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null; }

docker_up() {
    local state start
    docker_works || die "docker mode, but 'docker info' fails: no Docker engine reachable (LOCALSTACK_MODE=host runs without one)"
    state="$(container_state || true)"
    if [ "$state" = running ]; then
        if health >/dev/null; then
            log "container $CONTAINER already running and healthy on port $PORT"
            return 0
        fi
        log "container $CONTAINER is starting; waiting for it"
        wait_healthy "" "$(date +%s)"
        return 0
    fi
    [ -n "$state" ] && docker rm -f "$CONTAINER" >/dev/null
    if health >/dev/null; then
        log "a LocalStack not started by this script already answers on port $PORT; using it"
        return 0
    fi
    port_in_use && fail_port_taken
    start="$(date +%s)"
    log "starting container $CONTAINER from $IMAGE on 127.0.0.1:$PORT"
    docker run -d --name "$CONTAINER" \
        -p "127.0.0.1:$PORT:4566" \
        -v /var/run/docker.sock:/var/run/docker.sock \
        -e DISABLE_EVENTS=1 \
        -e SQS_ENDPOINT_STRATEGY=dynamic \
        "$IMAGE" >/dev/null
    if ! wait_healthy_docker "$start"; then
        docker logs --tail 60 "$CONTAINER" >&2 || true
        die "container $CONTAINER did not become healthy within ${START_TIMEOUT} s"
    fi
}

wait_healthy_docker() {
    local deadline=$(( $1 + START_TIMEOUT ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if health >/dev/null; then
            log "LocalStack is healthy on port $PORT after $(( $(date +%s) - $1 )) s"
            return 0
        fi
        [ "$(container_state || true)" = running ] || return 1
        sleep 1
    done
    return 1
}

docker_down() {
    if [ -z "$(container_state || true)" ]; then
        log "container $CONTAINER does not exist"
        return 0
    fi
    docker stop -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null || true
    docker rm -f "$CONTAINER" >/dev/null
    log "container $CONTAINER removed"
}

docker_status() {
    local state
    state="$(container_state || true)"
    if [ "$state" = running ] && health >/dev/null; then
        echo "running (docker mode, container $CONTAINER, http://127.0.0.1:$PORT, healthy)"
    elif [ -n "$state" ]; then
        echo "container $CONTAINER is $state (docker mode, port $PORT)"
    else
        echo "not running (docker mode, port $PORT)"
        return 3
    fi
}

# ---------------------------------------------------------------------------------------------

usage() {
    local text
    text="$(awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0")"
    if [ "${1:-0}" = 0 ]; then printf '%s\n' "$text"; else printf '%s\n' "$text" >&2; fi
    exit "${1:-0}"
}

main() {
    [ $# -ge 1 ] || usage 2
    local cmd="$1"
    shift
    case "$cmd" in
        install) cmd_install ;;
        up|down|status)
            local mode
            # An instance started in host mode is stopped/reported in host mode whatever
            # `docker info` says now.
            if [ "$cmd" != up ] && [ "${LOCALSTACK_MODE:-auto}" = auto ] && host_pid >/dev/null; then
                mode=host
            else
                mode="$(resolve_mode)"
            fi
            "${mode}_${cmd}"
            ;;
        -h|--help|help) usage 0 ;;
        *) log "unknown command '$cmd'"; usage 2 ;;
    esac
}

main "$@"
