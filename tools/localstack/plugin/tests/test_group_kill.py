"""The executor never signals a process group it does not own (no LocalStack needed).

A bootstrap's group is signalled by its leader's pid. Once the leader is reaped, pids
wrap (32768 on small machines) and a stranger may lead a group with that id: a shell,
make, a test runner. These checks use a real reaped child and a real live stranger.

    build/venv/bin/python tools/localstack/plugin/tests/test_group_kill.py
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eventkit_localstack.process_executor import _group_is_ours, _kill_group, _start_time  # noqa: E402


def spawn(*cmd, **kwargs):
    proc = subprocess.Popen(list(cmd), process_group=0, **kwargs)
    proc.eventkit_start = _start_time(proc.pid)
    return proc


class GroupKill(unittest.TestCase):
    def test_a_live_leader_is_ours(self):
        proc = spawn("sleep", "30")
        try:
            self.assertTrue(_group_is_ours(proc))
        finally:
            proc.kill()
            proc.wait()

    def test_a_reaped_leader_whose_pid_is_free_is_ours(self):
        proc = spawn("true")
        proc.wait()
        self.assertIsNone(_start_time(proc.pid))
        self.assertTrue(_group_is_ours(proc))

    def test_a_reaped_leader_whose_pid_a_stranger_now_leads_is_not_killed(self):
        proc = spawn("true")
        proc.wait()
        time.sleep(0.05)  # start times count 10 ms ticks; a real wrap-round takes far longer
        stranger = subprocess.Popen(["sleep", "30"], process_group=0)
        try:
            # As if the pid had wrapped round to the stranger.
            proc.pid = stranger.pid
            self.assertFalse(_group_is_ours(proc))
            _kill_group(proc, grace_seconds=0)
            self.assertIsNone(stranger.poll(), "the stranger's group was signalled")
        finally:
            stranger.send_signal(signal.SIGKILL)
            stranger.wait()

    def test_an_owned_group_is_killed_with_its_leftovers(self):
        # The leader starts a child in its group and is killed; the child goes too.
        proc = spawn("bash", "-c", "sleep 30 & echo $!; wait", stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # the child is started
        proc_out = subprocess.check_output(["pgrep", "-g", str(proc.pid)], text=True)
        members = [int(p) for p in proc_out.split()]
        self.assertGreaterEqual(len(members), 2)
        _kill_group(proc, grace_seconds=0)
        # SIGKILL is immediate, but the orphan is reaped by init in its own time.
        deadline = time.monotonic() + 5
        while True:
            alive = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout
            if not alive.strip() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(alive.strip(), "", "a member of the group survived")
        proc.stdout.close()


if __name__ == "__main__":
    unittest.main()
