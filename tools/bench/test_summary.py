"""tools/bench/summary.py on made-up results: each row's ratio and verdict, and the table
written between the document's markers and nowhere else."""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import summary  # noqa: E402

RESULTS = [
    {"bench": "coldstart", "starts": 20,
     "echo": {"label": "floor", "ms": 2.0, "bytes": 1_000_000},
     "sdk_echo": {"label": "sdk", "ms": 5.0, "bytes": 6_000_000},
     "functions": [{"label": "a (one)", "ms": 3.0, "bytes": 7_000_000},
                   {"label": "b (one)", "ms": 5.0, "bytes": 7_000_000},
                   {"label": "c (two)", "ms": 4.0, "bytes": 9_000_000}]},
    # The capped run comes after; the cold start rows are the uncapped run's.
    {"bench": "coldstart", "starts": 10, "memory_mb": 128.0,
     "echo": {"label": "floor", "ms": 2.5, "bytes": 1_000_000},
     "sdk_echo": {"label": "sdk", "ms": 99.0, "bytes": 6_000_000},
     "functions": [{"label": "a (one)", "ms": 99.0, "bytes": 7_000_000}]},
    {"bench": "coldpath", "starts": 5, "memory_mb": 128.0, "rows": [
        {"label": "floor: by hand", "init_cpu_ms": 5.0, "first_cpu_ms": 15.0, "cold_cpu_ms": 20.0,
         "init_wall_ms": 6.0, "first_wall_ms": 300.0, "warm_wall_ms": 100.0, "warm_cpu_ms": 7.0},
        {"label": "kit: p2p-consumer", "init_cpu_ms": 8.0, "first_cpu_ms": 16.0, "cold_cpu_ms": 24.0,
         "init_wall_ms": 9.0, "first_wall_ms": 280.0, "warm_wall_ms": 200.0, "warm_cpu_ms": 14.0}]},
    {"bench": "idempotency", "added_ms": 0.0, "rows": []},
    {"bench": "idempotency", "added_ms": 5.0, "rows": [
        {"label": "eventkit, concurrent records",
         "new": {"ms": 20.0, "calls_per_record": 2.0, "sequential": 2.0}},
        {"label": "Powertools (Python) BatchProcessor",
         "new": {"ms": 200.0, "calls_per_record": 2.0, "sequential": 20.0}}]},
    {"bench": "claimcheck", "rows": [
        {"body": "1 MiB", "step": "recv", "kit_ms": 5, "kit_peak": 1.2, "peer_ms": 6, "peer_peak": 2.0},
        {"body": "10 MiB", "step": "recv", "kit_ms": 50, "kit_peak": 1.6, "peer_ms": 60, "peer_peak": 2.0},
        {"body": "10 MiB", "step": "send", "kit_ms": 40, "kit_peak": 0.0, "peer_ms": 80, "peer_peak": 1.0}]},
    {"bench": "e2e", "events": 200, "rate": 8,
     "kit": {"p50_ms": 500.0, "p99_ms": 900.0, "events_per_s": 9.0, "invocation_ms": 30.0, "ms_per_event": 4.0},
     "powertools": {"p50_ms": 1000.0, "p99_ms": 3000.0, "events_per_s": 6.0, "invocation_ms": 300.0,
                    "ms_per_event": 40.0}},
]


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        for group, bench, ns in (("sqs_eventbridge_envelope_path", "kit", 26_000.0),
                                 ("sqs_eventbridge_envelope_path", "floor", 20_000.0),
                                 ("router_metrics", "off", 20_000.0),
                                 ("router_metrics", "on", 21_000.0),
                                 ("router_metrics", "on+traces", 23_000.0)):
            d = self.dir / "criterion" / group / bench / "new"
            d.mkdir(parents=True)
            (d / "estimates.json").write_text(json.dumps({"mean": {"point_estimate": ns}, "slope": None}))
        self.results = self.dir / "results.jsonl"
        self.results.write_text("".join(json.dumps(r) + "\n" for r in RESULTS))

    def table(self):
        return {r[0]: r for r in summary.rows(RESULTS, self.dir / "criterion")}

    def test_each_row_has_its_ratio_and_verdict(self):
        t = self.table()
        cold = t["cold start, exec to first `next` (median of 20), 3 functions"]
        self.assertEqual(cold[1:], ["3.0-5.0 ms", "bare `lambda_runtime` echo, 2.00 ms", "1.5-2.5x", "2x", "no"])
        self.assertEqual(t["the same"][3], "0.60-1.00x")
        # Two binaries, not three functions: one of them over 8 MB.
        self.assertEqual(t["deflated bootstrap size, x86_64"][5], "no: 1 of 2 binaries under")
        self.assertEqual(t["deflated bootstrap size, x86_64"][3], "1.17-1.50x echo + SDK")
        cold_path = t["cold path CPU: init + a first batch of 10 over a new TLS connection, ledger consumer"]
        self.assertEqual(cold_path[1:], ["24.0 ms", "the same by hand on `lambda_runtime` + SDK, 20.0 ms",
                                         "1.20x", "1.1x", "no"])
        first = t["first batch wall / warm batch wall, capped at 128 MB's share of a core"]
        self.assertEqual(first[1:], ["280 / 200 ms", "floor 300 / 100 ms", "1.40x", "1.5x", "yes"])
        idem = t["idempotent batch of 10 new records, 5 ms per request"]
        self.assertEqual(idem[3:], ["0.10 (10.0x less)", "5x less", "yes"])
        self.assertEqual(t["sequential DynamoDB round trips, batch of 10 new records"][3:], ["0.10", "<= 2", "yes"])
        peak = t["claim check receive, peak heap above start, 1 MiB / 10 MiB"]
        self.assertEqual(peak[1], "1.20x / 1.60x the body")
        self.assertEqual(peak[5], "no")
        self.assertEqual(t["claim check send + receive time, 10 MiB"][3], "0.50 / 0.83")
        self.assertEqual(t["consumer whole path CPU per batch of 10"][3:], ["1.3x", "1.3x", "yes"])
        metrics = t["metrics / metrics + spans (exported), router CPU per batch of 10"]
        self.assertEqual(metrics[1:], ["21.0 / 23.0 us", "neither, 20.0 us", "1.05x / 1.15x", "1.10x", "no"])
        latency = t["end to end, PutEvents to applied, 200 events at 8/s: p50 / p99"]
        self.assertEqual(latency[1:4], ["500 / 900 ms", "Powertools (Python Lambda) 1000 / 3000 ms", "0.50 / 0.30"])
        self.assertEqual(t["end to end, a burst of 200 events: events/s until all applied"][3], "1.50")
        billed = t["end to end, Lambda duration (billed time) per event applied"]
        self.assertEqual(billed[1:4], ["4.00 ms", "Powertools (Python Lambda) 40.00 ms", "0.10"])

    def test_the_table_replaces_only_what_is_between_the_markers(self):
        doc = self.dir / "BENCHMARKS.md"
        doc.write_text(f"# Benchmarks\n\nbefore\n{summary.START}\nold table\n{summary.END}\nafter\n")
        out = subprocess.run(
            [sys.executable, str(Path(summary.__file__)), str(self.results), str(self.dir / "criterion"), str(doc)],
            capture_output=True, text=True, check=True,
        )
        self.assertIn("| consumer whole path CPU per batch of 10 |", out.stdout)
        text = doc.read_text()
        self.assertTrue(text.startswith("# Benchmarks\n\nbefore\n"))
        self.assertTrue(text.endswith(f"{summary.END}\nafter\n"))
        self.assertNotIn("old table", text)
        self.assertEqual(text.count("| what | the kit |"), 1)

    def test_no_results_is_an_error_naming_the_file(self):
        out = subprocess.run(
            [sys.executable, str(Path(summary.__file__)), str(self.dir / "none.jsonl"), str(self.dir)],
            capture_output=True, text=True,
        )
        self.assertEqual(out.returncode, 1)
        self.assertIn("none.jsonl", out.stderr)


if __name__ == "__main__":
    unittest.main()
