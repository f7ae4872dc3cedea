"""End-to-end checks of the ``process`` Lambda runtime executor (no pytest needed).

Starts its own LocalStack (``LAMBDA_RUNTIME_EXECUTOR=process``) on
``LOCALSTACK_TEST_PORT`` (default 4567), deploys the bootstrap fixtures in
``fixtures/`` as ``provided.al2023`` functions and checks: sync and async invokes,
function errors, timeouts (process killed, next invoke gets a fresh one), init
failures, a crash mid-invocation, CloudWatch Logs, an SQS event source mapping, two concurrent invocations
in two environments, a ``python3.11`` function under ``LAMBDA_PROCESS_PYTHON`` (default: the
compat venv's interpreter, ``make compat-venv``), and that no bootstrap process outlives
LocalStack after SIGTERM.

Run with the LocalStack venv's Python:

    build/venv/bin/python tools/localstack/plugin/tests/test_process_executor.py

Exits 0 when every check passed, 1 otherwise. LocalStack's log goes to
``build/localstack-test-<port>/log``. Prints cold-start and warm-invoke timings.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

PORT = int(os.environ.get("LOCALSTACK_TEST_PORT") or 4567)
ENDPOINT = f"http://127.0.0.1:{PORT}"
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parents[3]
WORK = REPO / "build" / f"localstack-test-{PORT}"
RUN_ID = uuid.uuid4().hex[:6]
# awslambdaric and Powertools installed: what Python functions run under
PYTHON_RUNTIME = str(REPO / "build" / "compat-venv" / "bin" / "python")
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
# generous: two cores shared with a Rust build
STARTUP_DEADLINE = float(os.environ.get("LOCALSTACK_TEST_STARTUP_DEADLINE") or 240)

RESULTS: list[tuple[str, bool, str]] = []
NUMBERS: dict[str, str] = {}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last one
            last_error = e
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_error!r})" if last_error else "")
    )


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# --- LocalStack -------------------------------------------------------------------------


def health_ok() -> bool:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=2) as r:
            return r.status == 200
    except Exception:  # noqa: BLE001
        return False


def start_localstack() -> subprocess.Popen:
    if health_ok():
        raise SystemExit(
            f"something already answers on port {PORT}; set LOCALSTACK_TEST_PORT to a free port"
        )
    (WORK / "volume").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        GATEWAY_LISTEN=f"127.0.0.1:{PORT}",
        # LocalStack 4.9's default (twisted) gateway ignores the host and binds 0.0.0.0.
        GATEWAY_SERVER="hypercorn",
        LOCALSTACK_VOLUME_DIR=str(WORK / "volume"),
        LAMBDA_RUNTIME_EXECUTOR="process",
        DNS_ADDRESS="0",
        DEBUG="1",
        # offline, the analytics shutdown hook fails and LocalStack then skips the hooks
        # after it, including stopping its services (and Lambda environments)
        DISABLE_EVENTS="1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        LAMBDA_PROCESS_PYTHON=os.environ.get("LAMBDA_PROCESS_PYTHON") or PYTHON_RUNTIME,
    )
    log_file = open(WORK / "log", "w")  # noqa: SIM115 - lives as long as LocalStack
    proc = subprocess.Popen(
        [sys.executable, "-m", "localstack.runtime.main"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(REPO),
    )
    log(f"LocalStack pid {proc.pid} starting on port {PORT} (log: {WORK / 'log'})")
    t0 = time.monotonic()
    wait_for(
        lambda: proc.poll() is not None or health_ok(), STARTUP_DEADLINE, "LocalStack health"
    )
    if proc.poll() is not None:
        raise SystemExit(f"LocalStack exited with {proc.returncode}; see {WORK / 'log'}")
    NUMBERS["LocalStack start-up"] = f"{time.monotonic() - t0:.1f} s"
    return proc


def stop_localstack(proc: subprocess.Popen, timeout: float = 60) -> float:
    """SIGTERM LocalStack (as a user would), SIGKILL its group if it does not exit."""
    if proc.poll() is not None:
        return 0.0
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log("LocalStack ignored SIGTERM; killing its process group")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    return time.monotonic() - t0


def lambda_processes() -> list[tuple[int, str]]:
    """Live processes started by this run's LocalStack as Lambda bootstraps."""
    marker = f"AWS_ENDPOINT_URL={ENDPOINT}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue
        names = [v for v in environ if v.startswith(b"AWS_LAMBDA_FUNCTION_NAME=pe-" + RUN_ID.encode())]
        if marker in environ and names:
            found.append((int(entry.name), cmdline.strip()))
    return found


# --- helpers ----------------------------------------------------------------------------


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"total_max_attempts": 1}, read_timeout=120, connect_timeout=10
        ),
    )


def fixture_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        source = FIXTURES / name / "bootstrap"
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        zf.writestr(info, source.read_bytes())
    return buffer.getvalue()


def create_function(lam, fixture: str, suffix: str = "", timeout: int = 10, env=None) -> str:
    name = f"pe-{RUN_ID}-{fixture}{suffix}"
    kwargs = {}
    if env:
        kwargs["Environment"] = {"Variables": env}
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role=ROLE,
        Code={"ZipFile": fixture_zip(fixture)},
        Timeout=timeout,
        **kwargs,
    )
    return name


def wait_active(lam, name: str) -> None:
    def active():
        conf = lam.get_function_configuration(FunctionName=name)
        if conf["State"] == "Failed":
            raise AssertionError(f"{name} failed: {conf.get('StateReason')}")
        return conf["State"] == "Active"

    wait_for(active, 60, f"{name} to become Active")


def invoke(lam, name: str, payload, **kwargs) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kwargs)
    raw = response["Payload"].read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return response, body


def log_messages(logs, name: str) -> list[str]:
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


def wait_logged(logs, name: str, *needles: str, timeout: float = 60) -> None:
    def found():
        text = "".join(log_messages(logs, name))
        return all(n in text for n in needles)

    wait_for(found, timeout, f"{needles} in CloudWatch Logs of {name}", interval=0.5)


# --- checks -----------------------------------------------------------------------------


def test_echo_cold_and_warm(lam) -> None:
    t0 = time.monotonic()
    name = create_function(lam, "echo")
    wait_active(lam, name)
    t_active = time.monotonic()
    response, body = invoke(lam, name, {"hello": "world", "n": 1})
    t_first = time.monotonic()
    check("FunctionError" not in response, f"echo failed: {body}")
    check(body == {"hello": "world", "n": 1}, f"echo answered {body!r}")
    NUMBERS["cold start: create-function -> first answer"] = f"{(t_first - t0) * 1000:.0f} ms"
    NUMBERS["  of which create-function -> Active"] = f"{(t_active - t0) * 1000:.0f} ms"
    NUMBERS["  of which first invoke (process start + init)"] = (
        f"{(t_first - t_active) * 1000:.0f} ms"
    )
    warm = []
    for i in range(20):
        t = time.monotonic()
        response, body = invoke(lam, name, {"i": i})
        warm.append((time.monotonic() - t) * 1000)
        check(body == {"i": i}, f"warm echo {i} answered {body!r}")
    warm.sort()
    NUMBERS["warm invoke (bash+curl echo), median / p90 / max"] = (
        f"{statistics.median(warm):.0f} / {warm[int(len(warm) * 0.9) - 1]:.0f} / "
        f"{warm[-1]:.0f} ms"
    )


def test_function_error(lam) -> None:
    t0 = time.monotonic()
    name = create_function(lam, "error")
    wait_active(lam, name)
    response, body = invoke(lam, name, {"x": 1})
    NUMBERS["cold start, Lambda service already loaded (python fixture)"] = (
        f"{(time.monotonic() - t0) * 1000:.0f} ms"
    )
    check(response.get("FunctionError") == "Unhandled", f"no FunctionError: {response}")
    check(
        body == {"errorType": "FixtureError", "errorMessage": "failed on purpose"},
        f"error payload {body!r}",
    )


def test_context_timeout_and_restart(lam) -> None:
    name = create_function(lam, "sleep", timeout=2, env={"FIXTURE_VAR": "from-config"})
    wait_active(lam, name)
    response, first = invoke(lam, name, {"sleep": 0})
    check("FunctionError" not in response, f"sleep 0 failed: {first}")
    check(first["endpoint"] == ENDPOINT, f"AWS_ENDPOINT_URL was {first['endpoint']!r}")
    check(first["function_name"] == name, f"function name {first['function_name']!r}")
    check(first["arn"].endswith(f":function:{name}"), f"invoked ARN {first['arn']!r}")
    check(first["trace"] and "Root=" in first["trace"], f"trace id {first['trace']!r}")
    check(0 < first["remaining_ms"] <= 2000, f"remaining_ms {first['remaining_ms']}")
    check(first["custom"] == "from-config", f"function env var {first['custom']!r}")
    check(first["has_credentials"], "no AWS credentials in the environment")
    check(first["cwd"] == first["task_root"], "cwd is not LAMBDA_TASK_ROOT")
    pid = first["pid"]
    warm = []
    for _ in range(10):
        t = time.monotonic()
        invoke(lam, name, {"sleep": 0})
        warm.append((time.monotonic() - t) * 1000)
    NUMBERS["warm invoke (python urllib fixture), median"] = f"{statistics.median(warm):.0f} ms"

    t = time.monotonic()
    response, body = invoke(lam, name, {"sleep": 30})
    elapsed = time.monotonic() - t
    check(response.get("FunctionError") == "Unhandled", f"timeout not an error: {response}")
    check(
        "Task timed out after 2.00 seconds" in (body or {}).get("errorMessage", ""),
        f"timeout payload {body!r}",
    )
    check(elapsed < 10, f"timed-out invoke took {elapsed:.1f}s")
    check(not Path(f"/proc/{pid}").exists(), f"timed-out process {pid} still alive")
    NUMBERS["timeout (2 s) answered after"] = f"{elapsed * 1000:.0f} ms"

    response, again = invoke(lam, name, {"sleep": 0})
    check("FunctionError" not in response, f"invoke after timeout failed: {again}")
    check(again["pid"] != pid, "the killed process was reused")
    wait_logged(lam_logs(), name, "Task timed out after 2.00 seconds", "sleep fixture init")

    response, body = invoke(lam, name, {"exit": 7})
    check(response.get("FunctionError") == "Unhandled", f"crash not an error: {response}")
    check(body.get("errorType") == "Runtime.ExitError", f"crash payload {body!r}")
    check("exit status 7" in body.get("errorMessage", ""), f"crash payload {body!r}")
    response, after_crash = invoke(lam, name, {"sleep": 0})
    check("FunctionError" not in response, f"invoke after crash failed: {after_crash}")
    check(after_crash["pid"] != again["pid"], "the crashed process was reused")
    wait_logged(lam_logs(), name, "exiting with 7 mid-invocation")


def test_init_failures(lam) -> None:
    exit_name = create_function(lam, "crash-at-init")
    post_name = create_function(lam, "crash-at-init", suffix="-post", env={"INIT_MODE": "post"})
    wait_active(lam, exit_name)
    wait_active(lam, post_name)
    response, body = invoke(lam, exit_name, {})
    check(response.get("FunctionError") == "Unhandled", f"no FunctionError: {response}")
    check(body.get("errorType") == "Runtime.ExitError", f"exit payload {body!r}")
    check("exit status 3" in body.get("errorMessage", ""), f"exit payload {body!r}")
    response, body = invoke(lam, post_name, {})
    check(response.get("FunctionError") == "Unhandled", f"no FunctionError: {response}")
    check(
        body == {"errorType": "FixtureInitError", "errorMessage": "cannot initialise"},
        f"init error payload {body!r}",
    )
    # a second invoke tries a fresh start and fails the same way
    response, body = invoke(lam, exit_name, {})
    check(body.get("errorType") == "Runtime.ExitError", f"second exit payload {body!r}")
    left = [p for p in lambda_processes() if "crash-at-init" in p[1]]
    check(not left, f"processes left after failed inits: {left}")


_LOGS = None


def lam_logs():
    global _LOGS
    if _LOGS is None:
        _LOGS = client("logs")
    return _LOGS


def test_logs_sync_and_async(lam) -> None:
    name = create_function(lam, "print-logs")
    wait_active(lam, name)
    marker = f"sync-{uuid.uuid4().hex[:8]}"
    response, body = invoke(lam, name, {"marker": marker}, LogType="Tail")
    check(body == {"logged": marker}, f"print-logs answered {body!r}")
    tail = base64.b64decode(response.get("LogResult") or "").decode()
    check(f"stdout {marker}" in tail and f"stderr {marker}" in tail, f"LogResult: {tail!r}")
    check("REPORT RequestId" in tail, f"no REPORT line in LogResult: {tail!r}")
    wait_logged(lam_logs(), name, f"stdout {marker}", f"stderr {marker}", "print-logs init")

    marker = f"async-{uuid.uuid4().hex[:8]}"
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker})
    )
    check(response["StatusCode"] == 202, f"async invoke answered {response['StatusCode']}")
    wait_logged(lam_logs(), name, f"stdout {marker}")


def test_sqs_event_source(lam) -> None:
    sqs = client("sqs")
    name = create_function(lam, "print-logs", suffix="-sqs")
    wait_active(lam, name)
    queue_url = sqs.create_queue(QueueName=f"pe-{RUN_ID}-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    uuid_ = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=queue_arn, BatchSize=1
    )["UUID"]
    wait_for(
        lambda: lam.get_event_source_mapping(UUID=uuid_)["State"] == "Enabled",
        60,
        "event source mapping Enabled",
    )
    marker = f"sqs-{uuid.uuid4().hex[:8]}"
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"marker": marker}))
    wait_logged(lam_logs(), name, f"stdout {marker}", timeout=90)

    def drained():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return all(v == "0" for v in attributes.values())

    wait_for(drained, 60, "the processed message to be deleted from the queue", interval=1)
    lam.delete_event_source_mapping(UUID=uuid_)


def test_concurrent_environments(lam) -> None:
    name = create_function(lam, "sleep", suffix="-concurrent", timeout=20)
    wait_active(lam, name)
    invoke(lam, name, {"sleep": 0})  # one warm environment; the second must be new
    results: list = [None, None]

    def run(i: int) -> None:
        results[i] = invoke(lam, name, {"sleep": 4})

    t = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - t
    for result in results:
        check(result is not None, "a concurrent invoke did not return")
        check("FunctionError" not in result[0], f"concurrent invoke failed: {result[1]}")
    pids = {result[1]["pid"] for result in results}
    check(len(pids) == 2, f"both invocations ran in process(es) {pids}")
    check(elapsed < 7.5, f"two 4 s invocations took {elapsed:.1f}s: not concurrent")
    NUMBERS["2 concurrent 4 s invokes took"] = f"{elapsed * 1000:.0f} ms"


def test_python_runtime(lam) -> None:
    name = f"pe-{RUN_ID}-python"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(FIXTURES / "python" / "handler.py", "handler.py")
    t0 = time.monotonic()
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": buffer.getvalue()},
        Timeout=10,
    )
    wait_active(lam, name)
    response, first = invoke(lam, name, {"n": 1})
    NUMBERS["python3.11 cold start: create-function -> first answer"] = (
        f"{(time.monotonic() - t0) * 1000:.0f} ms"
    )
    check("FunctionError" not in response, f"python function failed: {first}")
    check(first["event"] == {"n": 1}, f"event {first['event']!r}")
    check(first["function_name"] == name, f"function name {first['function_name']!r}")
    check(0 < first["remaining_ms"] <= 10_000, f"remaining time {first['remaining_ms']}")
    check(first["execution_env"] == "AWS_Lambda_python3.11", f"env {first['execution_env']!r}")
    check(first["endpoint"] == ENDPOINT, f"AWS_ENDPOINT_URL was {first['endpoint']!r}")
    check(first["powertools"], "Powertools is not importable under LAMBDA_PROCESS_PYTHON")
    response, failed = invoke(lam, name, {"fail": True})
    check(response.get("FunctionError") == "Unhandled", f"no FunctionError: {response}")
    check(
        failed.get("errorType") == "ValueError"
        and failed.get("errorMessage") == "failed on purpose",
        f"error payload {failed!r}",
    )
    t = time.monotonic()
    response, warm = invoke(lam, name, {"n": 2})
    NUMBERS["python3.11 warm invoke"] = f"{(time.monotonic() - t) * 1000:.0f} ms"
    check(warm["event"] == {"n": 2}, f"after the error: {warm!r}")
    check(warm["pid"] == first["pid"], "a handler's exception restarted the runtime")


def test_no_orphans_after_sigterm(localstack: subprocess.Popen) -> None:
    before = lambda_processes()
    check(len(before) >= 2, f"expected live bootstrap processes before shutdown, saw {before}")
    took = stop_localstack(localstack)
    check(localstack.returncode is not None, "LocalStack did not exit")
    NUMBERS["LocalStack SIGTERM -> exit"] = f"{took * 1000:.0f} ms"
    time.sleep(1)
    left = lambda_processes()
    check(not left, f"bootstrap processes left after LocalStack exited: {left}")
    log(f"{len(before)} bootstrap processes were running; none left after SIGTERM")


def run(name: str, fn, *args) -> None:
    log(f"--- {name}")
    t = time.monotonic()
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        if not isinstance(e, AssertionError):
            detail = traceback.format_exc()
        RESULTS.append((name, False, detail))
        log(f"FAIL {name}: {detail}")
        return
    RESULTS.append((name, True, ""))
    log(f"PASS {name} ({time.monotonic() - t:.1f}s)")


def main() -> int:
    localstack = start_localstack()
    try:
        lam = client("lambda")
        run("echo: cold start and warm invokes", test_echo_cold_and_warm, lam)
        run("function error", test_function_error, lam)
        run("context; timeout kills, crash; next invoke restarts", test_context_timeout_and_restart, lam)
        run("init failures", test_init_failures, lam)
        run("logs of sync and async invokes", test_logs_sync_and_async, lam)
        run("SQS event source mapping", test_sqs_event_source, lam)
        run("two concurrent environments", test_concurrent_environments, lam)
        run("a python3.11 function", test_python_runtime, lam)
        run("no orphans after SIGTERM", test_no_orphans_after_sigterm, localstack)
    finally:
        stop_localstack(localstack, timeout=30)
        for pid, cmd in lambda_processes():  # never leave anything behind
            log(f"killing leftover {pid} {cmd}")
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    print()
    for name, value in NUMBERS.items():
        print(f"  {name}: {value}")
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    for name, _, detail in failed:
        print(f"FAILED {name}: {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
