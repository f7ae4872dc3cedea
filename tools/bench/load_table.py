"""Prints `make load-run`'s table: one row per soak rate, from the `soak-cost` lines the soak
printed (build/load-run/costs.jsonl), each per-event figure also as a ratio to the first
(slowest) rate's, which is the question the run answers: does the cost per event hold as
the consumer's instances multiply?

Usage: load_table.py COSTS_JSONL
"""

import json
import sys


def table(rows):
    """The markdown table of `rows` (dicts from soak-cost lines), sorted by rate."""
    rows = sorted(rows, key=lambda r: r["rate"])
    base = rows[0]["duration_ms_per_event"]
    lines = [
        "| rate (events/s) | applied (events/s) | p50 latency | invocations | instances | records per invocation | Lambda ms per event | / slowest rate | billed ms per event | max memory |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        memory = r.get("max_memory_mb")
        lines.append(
            "| {rate} | {eps:.1f} | {p50} ms | {inv} | {inst} | {rpi:.1f} | {dur:.2f} | {ratio:.2f} | {billed:.2f} | {mem} |".format(
                rate=r["rate"],
                eps=r["events_per_s"],
                p50=r["p50_ms"],
                inv=r["invocations"],
                inst=r["instances"],
                rpi=r["records_per_invocation"],
                dur=r["duration_ms_per_event"],
                ratio=r["duration_ms_per_event"] / base,
                billed=r["billed_ms_per_event"],
                mem="-" if memory is None else f"{memory:.0f} MB",
            )
        )
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table([json.loads(line) for line in f if line.strip()]))
