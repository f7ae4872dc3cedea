"""Run a command so that stopping it stops everything it ever started.

    python subreaper.py COMMAND [ARGS...]

Used by localstack.sh to run LocalStack in host mode. This process marks itself a "child
subreaper" (Linux prctl PR_SET_CHILD_SUBREAPER): any process below it whose parent dies is
re-parented here instead of to init, including processes that detached with setsid or a double
fork (a Lambda bootstrap may start such helpers). So the set of processes to stop is simply all
descendants of this one.

SIGTERM / SIGINT / SIGHUP are forwarded to COMMAND. When COMMAND exits (for whatever reason), the
remaining descendants get SIGTERM, then SIGKILL after a grace period (EVENTKIT_REAP_GRACE_SECONDS,
default 5), and all are reaped. Exits with COMMAND's exit status.
"""

import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def log(msg: str) -> None:
    sys.stderr.write(f"subreaper: {msg}\n")
    sys.stderr.flush()


def descendants(root: int) -> set[int]:
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            parent_of[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, ppid in parent_of.items() if ppid in frontier and pid not in found}
        found |= children
        frontier = children
    return found


def reap_nohang() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(sig: int) -> set[int]:
    pids = descendants(os.getpid())
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def main() -> int:
    if len(sys.argv) < 2:
        log("usage: subreaper.py COMMAND [ARGS...]")
        return 2
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            log(f"warning: PR_SET_CHILD_SUBREAPER failed (errno {ctypes.get_errno()})")

    child = os.fork()
    if child == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        finally:
            os._exit(127)

    def forward(sig: int, _frame) -> None:
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    status = 0
    while True:
        try:
            pid, wstatus = os.wait()  # also reaps orphans re-parented to us
        except ChildProcessError:
            break
        if pid == child:
            status = os.waitstatus_to_exitcode(wstatus)
            break

    # COMMAND is gone: stop whatever it left behind.
    grace = float(os.environ.get("EVENTKIT_REAP_GRACE_SECONDS", "5"))
    left = kill_all(signal.SIGTERM)
    if left:
        log(f"command exited ({status}); stopping {len(left)} leftover process(es): {sorted(left)}")
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            reap_nohang()
            if not descendants(os.getpid()):
                break
            time.sleep(0.1)
        # SIGKILL until nothing is left (killing a process re-parents its children to us).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reap_nohang()
            if not kill_all(signal.SIGKILL):
                break
            time.sleep(0.1)
        else:
            log(f"warning: still alive after SIGKILL: {sorted(descendants(os.getpid()))}")
    reap_nohang()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
