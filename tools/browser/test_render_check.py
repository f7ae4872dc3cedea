"""render_check.py passes a page whose diagrams all render, and fails one with a broken
diagram naming it; it also fails a page that cannot load its local Mermaid, reaches for the
network, logs an error, or whose diagrams Mermaid never draws. Run by `make browser-test`
with build/browser-venv's Python, after `make browser`."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHECK = HERE / "render_check.py"
MERMAID_JS = ROOT / "build" / "mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM = ROOT / "build" / "chromium" / "bin" / "chromium"


def sections(output):
    """The check's report per page: {page file name: its lines}."""
    found, current = {}, None
    for line in output.splitlines():
        m = re.match(r"render-check: (?:ok|FAILED) (\S+): ", line)
        if m:
            current = os.path.basename(m.group(1))
            found[current] = line
        elif current:
            found[current] += "\n" + line
    return found


class RenderCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for need in (MERMAID_JS, CHROMIUM):
            if not need.exists():
                raise RuntimeError(f"{need.relative_to(ROOT)} is missing: run `make browser`")
        cls.tmp = Path(tempfile.mkdtemp(prefix="render-check-"))
        # As the demo lays out build/demo/: the page with mermaid.min.js beside it.
        shutil.copy(MERMAID_JS, cls.tmp)
        for name in ("good.html", "bad.html"):
            shutil.copy(HERE / "testdata" / name, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def page(self, name, replace, new, source="good.html", folder=None):
        """A variant of a fixture: `replace` substituted by `new`."""
        text = (HERE / "testdata" / source).read_text()
        self.assertIn(replace, text)
        path = (folder or self.tmp) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(replace, new))
        return path

    def check(self, *pages, args=()):
        return subprocess.run([sys.executable, str(CHECK), *args, *map(str, pages)],
                              capture_output=True, text=True, timeout=600)

    def test_a_page_whose_diagrams_all_render_passes(self):
        run = self.check(self.tmp / "good.html")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("3 of 3 diagrams rendered (flowchart, sequenceDiagram, stateDiagram-v2)", run.stdout)
        self.assertEqual(run.stderr, "")

    def test_a_broken_diagram_fails_the_check_and_is_named(self):
        run = self.check(self.tmp / "bad.html")
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("2 of 3 diagrams rendered", run.stderr)
        self.assertIn("diagram 2 of 3 #scatter-gather-sequence (sequenceDiagram) did not render: "
                      "Mermaid drew its error diagram", run.stderr)
        self.assertIn("Parse error on line 11", run.stderr)
        self.assertNotIn("#sender-router-flow", run.stderr)
        self.assertNotIn("#checkout-saga-states", run.stderr)

    def test_pages_that_cannot_render_offline_or_log_errors_fail(self):
        # One run over several pages: each is reported on its own, and one failure fails all.
        # A folder without mermaid.min.js beside the page.
        missing = self.page("no-mermaid.html", "<title>", "<title>", folder=self.tmp / "elsewhere")
        online = self.page("online.html", '<script src="mermaid.min.js">',
                           '<script src="https://cdn.jsdelivr.net/npm/mermaid@12/dist/mermaid.min.js">')
        noisy = self.page("noisy.html", "</body>",
                          '<script>console.error("boom"); setTimeout(() => { throw new Error("late") });</script></body>')
        run = self.check(self.tmp / "good.html", missing, online, noisy)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        report = sections(run.stdout + run.stderr)
        self.assertTrue(report["good.html"].startswith("render-check: ok "), report)
        self.assertIn("FAILED", report["no-mermaid.html"])
        self.assertIn("could not load file://", report["no-mermaid.html"])
        self.assertIn("mermaid.min.js did not load", report["no-mermaid.html"])
        self.assertIn("it must render offline", report["online.html"])
        self.assertIn("mermaid.min.js did not load", report["online.html"])
        self.assertIn("3 of 3 diagrams rendered", report["noisy.html"])
        self.assertIn("console error: boom", report["noisy.html"])
        self.assertIn("page error: late", report["noisy.html"])

    def test_diagrams_mermaid_never_draws_fail_at_the_deadline(self):
        idle = self.page("idle.html", "startOnLoad: true", "startOnLoad: false")
        run = self.check(idle, args=("--timeout", "2"))
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        for label in ("#sender-router-flow", "#scatter-gather-sequence", "#checkout-saga-states"):
            self.assertIn(f"{label} (", run.stderr)
        self.assertIn("Mermaid never processed it within 2 s", run.stderr)


if __name__ == "__main__":
    unittest.main()
