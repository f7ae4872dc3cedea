"""tools/bench/load_table.py on made-up soak-cost lines: rows by rate, each per-event figure
against the slowest rate's, worked by hand."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import load_table  # noqa: E402


def row(rate, per_event, instances, memory=40.0):
    return {"rate": rate, "events": 400, "delivered": 444, "invocations": 60,
            "instances": instances, "records_per_invocation": 7.4,
            "duration_ms_per_event": per_event, "duration_ms_per_record": per_event * 0.9,
            "billed_ms_per_event": per_event + 1, "max_memory_mb": memory,
            "events_per_s": rate * 0.9, "p50_ms": 700}


class LoadTable(unittest.TestCase):
    def test_rows_are_sorted_by_rate_and_compared_with_the_slowest(self):
        text = load_table.table([row(16, 12.0, 3), row(4, 10.0, 1, memory=None)])
        lines = text.splitlines()
        self.assertEqual(len(lines), 4)
        # 4/s first: its own baseline; 16/s: 12 / 10 = 1.20.
        self.assertIn("| 4 | 3.6 | 700 ms | 60 | 1 | 7.4 | 10.00 | 1.00 | 11.00 | - |", lines[2])
        self.assertIn("| 16 | 14.4 | 700 ms | 60 | 3 | 7.4 | 12.00 | 1.20 | 13.00 | 40 MB |", lines[3])


if __name__ == "__main__":
    unittest.main()
