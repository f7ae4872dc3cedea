"""Lambda runtime executor that runs a function's ``bootstrap`` as a local process.

LocalStack runs Lambda functions in Docker containers. On a machine without a Docker
engine, select this executor instead with ``LAMBDA_RUNTIME_EXECUTOR=process``:

* ``prepare_version`` unpacks the function's zip (LocalStack's own code cache,
  ``config.code.prepare_for_execution()``) and makes ``bootstrap`` executable.
  OS-only runtimes (``provided.al2023``, ``provided.al2``, ``provided``) run the
  code's ``bootstrap`` executable (what ``cargo lambda build`` produces). Python
  runtimes (``python3.x``) run ``LAMBDA_PROCESS_PYTHON -m awslambdaric <handler>``,
  the Runtime Interface Client AWS's own Python images run, with the code on
  ``PYTHONPATH``.
* ``start`` serves a small Lambda Runtime API on ``127.0.0.1:<free port>`` (one per
  execution environment), spawns ``bootstrap`` in its own process group with the
  environment LocalStack computed for the function plus ``AWS_LAMBDA_RUNTIME_API``,
  and returns once the runtime asks for its first invocation (end of the init phase).
  An init failure (``/runtime/init/error``, exit before the first ``/next``) is
  raised as ``StatusErrorException``, exactly as the Docker executor does, so the
  invocation that caused the start gets the error as a function error.
* ``invoke`` hands the invocation to the runtime, waits for ``/response`` or
  ``/error`` and returns an ``InvocationResult`` carrying the process's output as
  the invocation's logs (LocalStack ships them to CloudWatch Logs). The function's
  timeout is enforced here (LocalStack leaves that to the runtime init in Docker): a
  function that outlives it is killed and the invocation answers with the same
  ``Task timed out after N.00 seconds`` error LocalStack's Docker init produces.
  A killed or crashed runtime is never reused: the next invocation on this
  environment starts a fresh ``bootstrap`` first (AWS calls this a suppressed init).
* ``stop`` terminates the process group (SIGTERM, then SIGKILL) and shuts the server
  down. Processes are also killed at interpreter exit, and, on Linux, by the kernel
  (``PR_SET_PDEATHSIG``) if LocalStack dies without cleaning up.

Settings (environment variables of the LocalStack process):

* ``LAMBDA_PROCESS_PASSTHROUGH_ENV``: comma-separated names of LocalStack's own
  environment variables to pass on to functions (besides ``PATH``, ``LANG``, ``LC_*``,
  ``LD_LIBRARY_PATH``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``), e.g. ``RUST_BACKTRACE``.
* ``LAMBDA_PROCESS_STOP_TIMEOUT``: seconds between SIGTERM and SIGKILL on stop
  (default 2).
* ``LAMBDA_PROCESS_PYTHON``: the interpreter for Python functions; it must have
  ``awslambdaric`` installed, and what else it has plays the part of the runtime's
  bundled packages and layers (boto3, Powertools). Python functions fail their init
  with ``Runtime.InvalidEntrypoint`` naming this variable when it is unset or wrong.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import Future
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Queue

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    ShutdownDuringStartup,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    InvocationResult,
)
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

RUNTIME_API_PREFIX = "/2018-06-01/runtime"
OS_ONLY_RUNTIME_PREFIX = "provided"
PYTHON_RUNTIME_PREFIX = "python"
PASSTHROUGH_ENV = ["PATH", "LANG", "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR"]
STOP_TIMEOUT_SECONDS = float(os.environ.get("LAMBDA_PROCESS_STOP_TIMEOUT") or 2)
# output kept per environment for get_logs() (LocalStack prints it on startup failures)
LOG_HISTORY_LIMIT = 1024 * 1024
STREAMING_PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"


class ProcessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Entry point ``process`` in the ``localstack.lambda.runtime_executor`` namespace."""

    name = "process"

    def load(self, *args, **kwargs):
        return ProcessRuntimeExecutor


# --- process spawning -----------------------------------------------------------------


def _make_preexec_fn():
    """On Linux, have the kernel SIGKILL the bootstrap if its parent thread dies.

    The death signal fires when the *thread* that forked the child ends, so all children
    are forked by one long-lived thread (see ``_Spawner``).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # parent already gone
            os._exit(1)

    return preexec


class _Spawner:
    """Forks every bootstrap from one daemon thread that lives as long as LocalStack."""

    def __init__(self) -> None:
        self._queue: Queue = Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._preexec = _make_preexec_fn()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lambda-process-spawner", daemon=True
                )
                self._thread.start()
        future: Future = Future()
        self._queue.put((future, args, kwargs))
        return future.result()

    def _run(self) -> None:
        while True:
            future, args, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                proc = subprocess.Popen(*args, preexec_fn=self._preexec, **kwargs)
                proc.eventkit_start = _start_time(proc.pid)
                future.set_result(proc)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                future.set_exception(e)


_SPAWNER = _Spawner()

# every executor that may own a process, for the exit hook
_LIVE_EXECUTORS: "weakref.WeakSet[ProcessRuntimeExecutor]" = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def _kill_all_at_exit() -> None:
    with _LIVE_LOCK:
        executors = list(_LIVE_EXECUTORS)
    for executor in executors:
        try:
            executor.stop(grace_seconds=0)
        except Exception as e:  # noqa: BLE001
            LOG.debug("Error stopping Lambda process %s at exit: %s", executor.id, e)


# threading's exit hooks run when the main thread ends, before the interpreter waits for
# non-daemon threads: LocalStack's 10-minute keepalive timers (threading.Timer) would
# otherwise delay plain atexit hooks, and with them the processes' end, for that long
try:
    threading._register_atexit(_kill_all_at_exit)  # noqa: SLF001 - what concurrent.futures uses
except (AttributeError, RuntimeError):
    pass
atexit.register(_kill_all_at_exit)


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            # the command name may hold spaces and parentheses: fields follow its last ')'
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _group_is_ours(proc: subprocess.Popen) -> bool:
    """Whether signalling group ``proc.pid`` can only reach this bootstrap's group.

    Once the leader is reaped its pid is free, and pids wrap at 32768 on small machines:
    a busy build reuses them within minutes. A new process with that pid may lead its own
    group (a shell, make, a test runner), and a stale killpg would kill it. The kernel
    does not hand out a pid still used as a group id, so: no process with that pid means
    only our leftovers (if any) carry the group id; a process with it and our start time
    is our leader; any other process with it is a stranger.
    """
    if proc.returncode is None:
        return True  # not reaped: the pid is still ours (alive or a zombie)
    start = _start_time(proc.pid)
    return start is None or start == getattr(proc, "eventkit_start", None)


def _kill_group(proc: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_seconds``, reap the leader."""
    pgid = proc.pid  # spawned with process_group=0: its own group, id == pid
    if not _group_is_ours(proc):
        LOG.debug("Lambda process %s is gone and its pid reused; not signalling group", pgid)
        return
    if grace_seconds > 0 and proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            pass
    # also reaches children the bootstrap left behind after it exited itself
    try:
        if _group_is_ours(proc):
            os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        LOG.warning("Lambda process %s did not die after SIGKILL", proc.pid)


def _exit_description(returncode: int | None) -> str:
    if returncode is None:
        return "unknown"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name.lower().removeprefix("sig")
        except ValueError:
            name = str(-returncode)
        name = {"kill": "killed", "term": "terminated", "segv": "segmentation fault"}.get(
            name, name
        )
        return f"signal: {name}"
    return f"exit status {returncode}"


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


# --- output capture ---------------------------------------------------------------------


class _OutputCollector:
    """Collects a process's stdout+stderr (one pipe, so their order is kept).

    A reader thread moves bytes from the pipe into a buffer; ``take()`` first drains the
    pipe itself, so everything the runtime wrote before posting its response is part of
    that invocation's logs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._history = bytearray()
        self._pipes: list[dict] = []

    def attach(self, fd: int) -> None:
        os.set_blocking(fd, False)
        pipe = {"fd": fd, "eof": False, "detached": False}
        with self._lock:
            self._pipes.append(pipe)
        threading.Thread(
            target=self._read_loop, args=(pipe,), name=f"lambda-output-{fd}", daemon=True
        ).start()

    def _read_available(self, pipe: dict) -> None:
        # caller holds self._lock
        while not pipe["eof"]:
            try:
                chunk = os.read(pipe["fd"], 65536)
            except BlockingIOError:
                return
            except OSError:
                pipe["eof"] = True
                return
            if not chunk:
                pipe["eof"] = True
                return
            self._pending += chunk
            self._history += chunk
            if len(self._history) > LOG_HISTORY_LIMIT:
                del self._history[: len(self._history) - LOG_HISTORY_LIMIT]

    def _read_loop(self, pipe: dict) -> None:
        poller = select.poll()
        poller.register(pipe["fd"], select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                poller.poll(250)
                with self._lock:
                    if not pipe["detached"]:
                        self._read_available(pipe)
                    if pipe["eof"] or pipe["detached"]:
                        # only this thread closes the fd, so its number cannot be reused
                        # under another reader
                        self._pipes.remove(pipe)
                        os.close(pipe["fd"])
                        return
        except Exception as e:  # noqa: BLE001
            LOG.debug("Lambda output reader failed: %s", e)

    def take(self) -> str:
        """Everything written since the last call."""
        with self._lock:
            for pipe in self._pipes:
                if not pipe["detached"]:
                    self._read_available(pipe)
            data = bytes(self._pending)
            self._pending.clear()
        return data.decode("utf-8", errors="replace")

    def history(self) -> str:
        """Everything kept of the environment's output (the last LOG_HISTORY_LIMIT bytes)."""
        with self._lock:
            for pipe in self._pipes:
                if not pipe["detached"]:
                    self._read_available(pipe)
            return bytes(self._history).decode("utf-8", errors="replace")

    def detach_all(self) -> None:
        """Stop reading (pipes held open by stray grandchildren would never reach EOF)."""
        with self._lock:
            for pipe in self._pipes:
                pipe["detached"] = True


# --- Runtime API ------------------------------------------------------------------------


class _Invocation:
    def __init__(self, payload: dict, deadline_ms: int) -> None:
        self.request_id: str = payload["invoke-id"]
        self.function_arn: str = payload.get("invoked-function-arn") or ""
        self.trace_id: str = payload.get("trace-id") or ""
        body = payload.get("payload")
        self.body: bytes = (
            body if isinstance(body, bytes) else (body or "").encode("utf-8")
        )
        self.deadline_ms = deadline_ms
        self.result: tuple[bool, bytes] | None = None  # (is_error, payload)


class _RuntimeState:
    """What one Runtime API server and the executor share. Guarded by ``cond``.

    Every bootstrap process gets a new server (new port) and a new state, so a request
    still in flight from a killed process can never touch the next one's invocations.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.ready = False  # the current process asked for its first invocation
        self.init_error: bytes | None = None
        self.pending: _Invocation | None = None  # waiting for /next
        self.current: _Invocation | None = None  # handed out by /next
        self.process_exited = False
        self.closed = False


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, state: _RuntimeState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RuntimeApiServer
    server_version = "eventkit-lambda-runtime-api"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        LOG.debug("runtime api %s: %s", self.server.server_address[1], format % args)

    # helpers

    def _read_body(self) -> tuple[bytes, dict[str, str]]:
        """Request body, plus trailers when the body is chunked."""
        trailers: dict[str, str] = {}
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailer section, ends with an empty line
                        line = self.rfile.readline(65537)
                        if not line or line in (b"\r\n", b"\n"):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        trailers[name.strip().lower()] = value.strip()
                    break
                body += self.rfile.read(size)
                self.rfile.readline(65537)  # CRLF after the chunk
            return bytes(body), trailers
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length > 0 else b""), trailers

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if not headers or "Content-Type" not in headers:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_status(self, status: int, error_type: str | None = None, message: str = ""):
        if error_type:
            body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        else:
            body = b'{"status":"OK"}'
        self._send(status, body)

    @staticmethod
    def _normalise_error(body: bytes, error_type_header: str | None) -> bytes:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            if "errorType" not in parsed and error_type_header:
                parsed["errorType"] = error_type_header
                return json.dumps(parsed).encode()
            return body
        return _error_payload(
            error_type_header or "Runtime.Unknown",
            body.decode("utf-8", errors="replace") if body else "Unknown application error occurred",
        )

    # routes

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != f"{RUNTIME_API_PREFIX}/invocation/next":
            self._send_status(404, "NotFound", f"no route {self.path}")
            return
        state = self.server.state
        with state.cond:
            if not state.closed:
                state.ready = True
                state.cond.notify_all()
            while True:
                if state.closed:
                    invocation = None
                    break
                if state.pending is not None:
                    invocation = state.pending
                    state.pending = None
                    state.current = invocation
                    break
                state.cond.wait(timeout=1.0)
        if invocation is None:
            self._send_status(410, "Runtime.Gone", "execution environment shut down")
            self.close_connection = True
            return
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
        }
        if invocation.trace_id:
            headers["Lambda-Runtime-Trace-Id"] = invocation.trace_id
        self._send(200, invocation.body, headers)

    def do_POST(self) -> None:  # noqa: N802
        body, trailers = self._read_body()
        state = self.server.state
        path = self.path.rstrip("/")
        if path == f"{RUNTIME_API_PREFIX}/init/error":
            error = self._normalise_error(
                body, self.headers.get("Lambda-Runtime-Function-Error-Type")
            )
            with state.cond:
                if state.ready:
                    self._send_status(403, "InvalidStateTransition", "init already done")
                    return
                state.init_error = error
                state.cond.notify_all()
            self._send_status(202)
            return

        prefix = f"{RUNTIME_API_PREFIX}/invocation/"
        if not path.startswith(prefix) or path.count("/") != 5:
            self._send_status(404, "NotFound", f"no route {self.path}")
            return
        request_id, _, kind = path[len(prefix) :].rpartition("/")
        if kind not in ("response", "error"):
            self._send_status(404, "NotFound", f"no route {self.path}")
            return

        is_error = kind == "error"
        if is_error:
            body = self._normalise_error(
                body, self.headers.get("Lambda-Runtime-Function-Error-Type")
            )
        else:
            trailer_error = trailers.get("lambda-runtime-function-error-type")
            if trailer_error:  # streamed response that failed midway
                is_error = True
                body = _error_payload(
                    trailer_error, trailers.get("lambda-runtime-function-error-body", "")
                )
            elif (self.headers.get("Content-Type") or "").startswith(
                STREAMING_PRELUDE_CONTENT_TYPE
            ):
                # http-integration-response: JSON prelude, 8 NULs, then the body
                _, sep, rest = body.partition(b"\x00" * 8)
                if sep:
                    body = rest

        with state.cond:
            invocation = state.current
            if invocation is None or invocation.request_id != request_id:
                self._send_status(400, "InvalidRequestID", "Invalid request ID")
                return
            invocation.result = (is_error, body)
            state.current = None
            state.cond.notify_all()
        self._send_status(202)


# --- the executor -----------------------------------------------------------------------


class ProcessRuntimeExecutor(RuntimeExecutor):
    """Runs one execution environment as one local ``bootstrap`` process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._state: _RuntimeState | None = None  # of the current process
        self._server: _RuntimeApiServer | None = None  # of the current process
        self._proc: subprocess.Popen | None = None
        self._output = _OutputCollector()
        self._base_env: dict[str, str] | None = None
        self._code_dir: Path | None = None
        self._tmp_dir: str | None = None
        self._invoke_lock = threading.Lock()
        self._lifecycle_lock = threading.RLock()
        self._stopped = False
        self._needs_restart = False
        self._init_duration_ms: float | None = None  # reported once, on the next invoke
        self._bootstrap_mtime: float | None = None  # of the file watched for new code
        self._watched: Path | None = None

    # addresses

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        """LocalStack's gateway as the process sees it (no DNS involved)."""
        host = config.GATEWAY_LISTEN[0].host
        if host in ("", "0.0.0.0", "[::]", "::", "localhost"):
            return "127.0.0.1"
        return host

    def _gateway_url(self) -> str:
        return f"http://{self.get_endpoint_from_executor()}:{config.GATEWAY_LISTEN[0].port}"

    def get_runtime_endpoint(self) -> str:
        # informational only: this executor does not use LocalStack's executor endpoint
        return f"{self._gateway_url()}/_localstack_lambda/{self.id}"

    # lifecycle

    def start(self, env_vars: dict[str, str]) -> None:
        with self._lifecycle_lock:
            if self._stopped:
                raise ShutdownDuringStartup("Execution environment stopped before start")
            config_ = self.function_version.config
            if config_.package_type != PackageType.Zip or not config_.code:
                raise LambdaRuntimeException("The process executor runs zip packages only")
            self._code_dir = Path(config_.code.get_unzipped_code_location())
            self._tmp_dir = tempfile.mkdtemp(prefix=f"lambda-process-{self.id[:12]}-")
            self._base_env = self._build_env(env_vars)
            with _LIVE_LOCK:
                _LIVE_EXECUTORS.add(self)

        timeout = config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT + 5
        error = self._spawn_and_wait_ready(time.monotonic() + timeout, request_id=None)
        if error is not None:
            LOG.warning(
                "Lambda %s: bootstrap failed during init: %s. Output:\n%s",
                self.function_version.qualified_arn,
                error.decode(errors="replace"),
                self._output.history()[-4000:] or "<none>",
            )
            raise StatusErrorException("Environment startup failed", payload=error)

    def _build_env(self, env_vars: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = {}
        names = PASSTHROUGH_ENV + [
            n.strip()
            for n in (os.environ.get("LAMBDA_PROCESS_PASSTHROUGH_ENV") or "").split(",")
            if n.strip()
        ]
        for name, value in os.environ.items():
            if name in names or name.startswith("LC_"):
                env[name] = value
        # Lambda's /tmp and a HOME of its own: no ~/.aws of the developer leaks in
        env["TMPDIR"] = self._tmp_dir
        env["HOME"] = self._tmp_dir
        env.update({k: str(v) for k, v in env_vars.items() if v is not None})
        env["LAMBDA_TASK_ROOT"] = str(self._code_dir)
        runtime = self.function_version.config.runtime or ""
        if runtime.startswith(PYTHON_RUNTIME_PREFIX):
            # what AWS's Python runtime sets: its name, and the code importable
            env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
            env["PYTHONPATH"] = str(self._code_dir)
        if not config.LAMBDA_DISABLE_AWS_ENDPOINT_URL:
            env.setdefault("AWS_ENDPOINT_URL", self._gateway_url())
        return env

    def _close_runtime_api(self) -> None:
        """Close the current process's Runtime API (caller holds the lifecycle lock)."""
        state, server = self._state, self._server
        if state is not None:
            with state.cond:
                state.closed = True
                state.cond.notify_all()
        if server is not None:
            try:
                server.shutdown()
                server.server_close()
            except Exception as e:  # noqa: BLE001
                LOG.debug("Error closing runtime API server of %s: %s", self.id, e)
        self._server = None

    def _entrypoint(self) -> tuple[list[str], Path, str | None]:
        """The command that starts the runtime, the file whose change means new code, and
        why it cannot start (None when it can)."""
        config_ = self.function_version.config
        runtime = config_.runtime or ""
        if runtime.startswith(PYTHON_RUNTIME_PREFIX):
            handler = config_.handler or ""
            module = handler.rpartition(".")[0]
            watched = self._code_dir / (module.replace(".", "/") + ".py")
            python = os.environ.get("LAMBDA_PROCESS_PYTHON") or ""
            if not python or not os.access(python, os.X_OK):
                return [], watched, (
                    f"{runtime} runs under LAMBDA_PROCESS_PYTHON, an interpreter with "
                    f"awslambdaric installed; it is {python or 'unset'!r}"
                )
            if not module:
                return [], watched, f"Bad handler {handler!r}: expected <module>.<function>"
            return [python, "-m", "awslambdaric", handler], watched, None
        bootstrap = self._code_dir / "bootstrap"
        if not bootstrap.is_file():
            return [], bootstrap, f"Couldn't find valid bootstrap(s): [{bootstrap}]"
        return [str(bootstrap)], bootstrap, None

    def _spawn_and_wait_ready(self, deadline: float, request_id: str | None) -> bytes | None:
        """Start a fresh bootstrap (with a fresh Runtime API) and wait for its first /next.

        :return: None when ready, else the init error payload (process already killed).
        """
        rid = f"RequestId: {request_id} " if request_id else ""
        with self._lifecycle_lock:
            if self._stopped:
                raise ShutdownDuringStartup("Execution environment stopped during startup")
            self._close_runtime_api()
            state = _RuntimeState()
            server = _RuntimeApiServer(state)
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"lambda-runtime-api-{server.server_address[1]}",
                daemon=True,
            ).start()
            self._state, self._server = state, server
            command, watched, missing = self._entrypoint()
            if missing is not None:
                return _error_payload("Runtime.InvalidEntrypoint", f"{rid}Error: {missing}")
            env = dict(self._base_env)
            env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
            read_fd, write_fd = os.pipe()
            started = time.monotonic()
            try:
                proc = _SPAWNER.popen(
                    command,
                    cwd=str(self._code_dir),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=write_fd,
                    stderr=write_fd,
                    process_group=0,
                    close_fds=True,
                )
            except OSError as e:
                os.close(read_fd)
                return _error_payload(
                    "Runtime.InvalidEntrypoint", f"{rid}Error: cannot run {command[0]}: {e}"
                )
            finally:
                os.close(write_fd)
            self._proc = proc
            self._output.attach(read_fd)
            self._watched = watched
            try:
                self._bootstrap_mtime = watched.stat().st_mtime
            except OSError:
                self._bootstrap_mtime = None
            threading.Thread(
                target=self._watch_process,
                args=(proc, state),
                name=f"lambda-process-watch-{proc.pid}",
                daemon=True,
            ).start()
            LOG.debug(
                "Started bootstrap of %s as pid %s, runtime API on port %s",
                self.function_version.qualified_arn,
                proc.pid,
                server.server_address[1],
            )

        with state.cond:
            state.cond.wait_for(
                lambda: state.ready
                or state.init_error is not None
                or state.process_exited
                or state.closed,
                timeout=max(0.0, deadline - time.monotonic()),
            )
            ready, init_error = state.ready, state.init_error
            exited, closed = state.process_exited, state.closed
        if closed:
            raise ShutdownDuringStartup("Execution environment stopped during startup")
        if init_error is not None:
            self._kill_process(grace_seconds=0)
            return init_error
        if ready and not exited:
            self._init_duration_ms = (time.monotonic() - started) * 1000
            return None
        if exited or ready:
            error = _error_payload(
                "Runtime.ExitError",
                f"{rid}Error: Runtime exited with error: {_exit_description(proc.poll())}",
            )
        else:
            error = _error_payload(
                "Runtime.Unknown", f"{rid}Error: Runtime did not ask for an invocation in time"
            )
        self._kill_process(grace_seconds=0)
        return error

    @staticmethod
    def _watch_process(proc: subprocess.Popen, state: _RuntimeState) -> None:
        proc.wait()
        with state.cond:
            state.process_exited = True
            state.cond.notify_all()

    def _kill_process(self, grace_seconds: float) -> None:
        with self._lifecycle_lock:
            proc = self._proc
        if proc is not None:
            _kill_group(proc, grace_seconds)

    def stop(self, grace_seconds: float | None = None) -> None:
        with self._lifecycle_lock:
            if self._stopped:
                return
            self._stopped = True
            state = self._state
        if state is not None:
            with state.cond:  # wake start()/invoke() waiting on this process
                state.closed = True
                state.cond.notify_all()
        self._kill_process(STOP_TIMEOUT_SECONDS if grace_seconds is None else grace_seconds)
        self._output.detach_all()
        with self._lifecycle_lock:
            self._close_runtime_api()
        if self._tmp_dir:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
        with _LIVE_LOCK:
            _LIVE_EXECUTORS.discard(self)
        LOG.debug("Stopped process execution environment %s", self.id)

    # invocations

    def _code_changed(self) -> bool:
        code = self.function_version.config.code
        if not code or not code.is_hot_reloading() or self._watched is None:
            return False
        try:
            return self._watched.stat().st_mtime != self._bootstrap_mtime
        except OSError:
            return True

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._invoke_lock:
            return self._invoke(payload)

    def _invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self._stopped:
            raise LambdaRuntimeException(f"Execution environment {self.id} is stopped")
        timeout_s = int(self.function_version.config.timeout or 3)
        started = time.monotonic()
        deadline = started + timeout_s
        invocation = _Invocation(payload, deadline_ms=int((time.time() + timeout_s) * 1000))
        rid = invocation.request_id
        version = self.function_version.id.qualifier
        memory = self.function_version.config.memory_size

        if self._needs_restart or self._state.process_exited or self._code_changed():
            # a runtime that exited, crashed or was killed is never reused: init a fresh one
            self._needs_restart = True
            self._kill_process(grace_seconds=0)
            error = self._spawn_and_wait_ready(deadline, request_id=rid)
            if error is not None:
                # stays marked: the next invocation tries a fresh init again
                logs = self._output.take() + f"START RequestId: {rid} Version: {version}\n"
                logs += self._end_report(rid, started, timeout_s, memory)
                return InvocationResult(rid, error, is_error=True, logs=logs)
            self._needs_restart = False

        logs = self._output.take() + f"START RequestId: {rid} Version: {version}\n"
        state = self._state
        with state.cond:
            state.pending = invocation
            state.cond.notify_all()
            state.cond.wait_for(
                lambda: invocation.result is not None or state.process_exited or state.closed,
                timeout=max(0.0, deadline - time.monotonic()),
            )
            result, exited, closed = invocation.result, state.process_exited, state.closed
            state.pending = None
            if state.current is invocation:
                state.current = None

        if result is not None:
            is_error, body = result
        elif closed:
            raise LambdaRuntimeException(
                f"Execution environment {self.id} was stopped during invocation {rid}"
            )
        elif exited:
            self._needs_restart = True
            self._kill_process(grace_seconds=0)  # children it may have left
            is_error = True
            body = _error_payload(
                "Runtime.ExitError",
                f"RequestId: {rid} Error: Runtime exited with error: "
                f"{_exit_description(self._proc.poll())}",
            )
        else:
            self._needs_restart = True
            self._kill_process(grace_seconds=0)
            is_error = True
            message = (
                f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {rid} "
                f"Task timed out after {timeout_s}.00 seconds"
            )
            body = json.dumps({"errorMessage": message}).encode()
            logs += self._output.take() + message + "\n"
        logs += self._output.take()
        if logs and not logs.endswith("\n"):
            logs += "\n"
        logs += self._end_report(rid, started, timeout_s, memory)
        return InvocationResult(rid, body, is_error=is_error, logs=logs)

    def _end_report(self, rid: str, started: float, timeout_s: int, memory) -> str:
        duration = min((time.monotonic() - started) * 1000, timeout_s * 1000.0)
        init = ""
        if self._init_duration_ms is not None:
            init = f"Init Duration: {self._init_duration_ms:.2f} ms\t"
            self._init_duration_ms = None
        used = self._max_memory_mb() or memory
        return (
            f"END RequestId: {rid}\n"
            f"REPORT RequestId: {rid}\t{init}Duration: {duration:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration):.0f} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {used} MB\t\n"
        )

    def _max_memory_mb(self) -> int | None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return max(1, math.ceil(int(line.split()[1]) / 1024))
        except (OSError, ValueError, IndexError):
            pass
        return None

    def get_logs(self) -> str:
        return self._output.history()

    # versions

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        config_ = function_version.config
        if config_.package_type != PackageType.Zip:
            raise LambdaRuntimeException(
                "Container image functions cannot run with LAMBDA_RUNTIME_EXECUTOR=process"
            )
        runtime = config_.runtime or ""
        if not runtime.startswith((OS_ONLY_RUNTIME_PREFIX, PYTHON_RUNTIME_PREFIX)):
            raise LambdaRuntimeException(
                f"Runtime {runtime} cannot run with LAMBDA_RUNTIME_EXECUTOR=process; "
                "use an OS-only runtime (provided.al2023) with a bootstrap executable, "
                "or a python3.x runtime"
            )
        if not config_.code:
            raise LambdaRuntimeException("Function has no code")
        config_.code.prepare_for_execution()
        if runtime.startswith(PYTHON_RUNTIME_PREFIX):
            if config_.layers:
                LOG.warning(
                    "Function %s has layers; the process executor does not apply layers "
                    "(LAMBDA_PROCESS_PYTHON's packages stand in for them)",
                    function_version.qualified_arn,
                )
            return
        bootstrap = Path(config_.code.get_unzipped_code_location()) / "bootstrap"
        if bootstrap.is_file():
            try:
                mode = bootstrap.stat().st_mode
                if mode & 0o755 != 0o755:
                    bootstrap.chmod(mode | 0o755)
            except OSError as e:
                LOG.warning("Cannot make %s executable: %s", bootstrap, e)
        else:
            LOG.warning(
                "Function %s has no bootstrap at the root of its code; invocations will fail",
                function_version.qualified_arn,
            )
        if config_.layers:
            LOG.warning(
                "Function %s has layers; the process executor does not apply layers",
                function_version.qualified_arn,
            )

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # the unzipped code is LocalStack's cache (S3Code.destroy_cached), nothing of ours
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        if not hasattr(os, "killpg"):
            LOG.warning("The process Lambda executor needs a POSIX system")
            return False
        LOG.info("Lambda functions run as local processes (LAMBDA_RUNTIME_EXECUTOR=process)")
        return True
