"""What the executor starts for a function, and the init error when it cannot (no
LocalStack needed): a bootstrap for OS-only runtimes, awslambdaric under
LAMBDA_PROCESS_PYTHON for Python ones.

    build/venv/bin/python tools/localstack/plugin/tests/test_entrypoint.py
"""

import os
import sys
import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eventkit_localstack.process_executor import ProcessRuntimeExecutor  # noqa: E402


def executor(runtime: str, handler: str, code_dir: Path) -> ProcessRuntimeExecutor:
    # Only what _entrypoint reads: the function's configuration and its unpacked code.
    e = ProcessRuntimeExecutor.__new__(ProcessRuntimeExecutor)
    e.function_version = SimpleNamespace(config=SimpleNamespace(runtime=runtime, handler=handler))
    e._code_dir = code_dir
    return e


class Entrypoint(unittest.TestCase):
    def setUp(self):
        self.code = Path(tempfile.mkdtemp())

    def test_a_python_function_runs_awslambdaric_under_the_configured_interpreter(self):
        with mock.patch.dict(os.environ, {"LAMBDA_PROCESS_PYTHON": sys.executable}):
            command, watched, missing = executor("python3.11", "app.consumer.handler", self.code)._entrypoint()
        self.assertIsNone(missing)
        self.assertEqual(command, [sys.executable, "-m", "awslambdaric", "app.consumer.handler"])
        self.assertEqual(watched, self.code / "app" / "consumer.py")

    def test_without_an_interpreter_the_error_names_the_setting(self):
        env = {k: v for k, v in os.environ.items() if k != "LAMBDA_PROCESS_PYTHON"}
        with mock.patch.dict(os.environ, env, clear=True):
            _, _, missing = executor("python3.12", "app.handler", self.code)._entrypoint()
        self.assertIn("LAMBDA_PROCESS_PYTHON", missing)
        self.assertIn("unset", missing)
        with mock.patch.dict(os.environ, {"LAMBDA_PROCESS_PYTHON": str(self.code / "no-python")}):
            _, _, missing = executor("python3.12", "app.handler", self.code)._entrypoint()
        self.assertIn("no-python", missing)

    def test_a_handler_without_a_module_is_refused(self):
        with mock.patch.dict(os.environ, {"LAMBDA_PROCESS_PYTHON": sys.executable}):
            _, _, missing = executor("python3.11", "handler", self.code)._entrypoint()
        self.assertIn("expected <module>.<function>", missing)

    def test_an_os_only_function_runs_its_bootstrap_when_there_is_one(self):
        e = executor("provided.al2023", "bootstrap", self.code)
        _, _, missing = e._entrypoint()
        self.assertIn("Couldn't find valid bootstrap", missing)
        (self.code / "bootstrap").write_text("#!/bin/sh\n")
        command, watched, missing = e._entrypoint()
        self.assertIsNone(missing)
        self.assertEqual((command, watched), ([str(self.code / "bootstrap")], self.code / "bootstrap"))


if __name__ == "__main__":
    unittest.main()
