"""Two LocalStack costs the patches remove keep their answers: Step Functions JSONPath
expressions parsed once give what a fresh parse gives, and DescribeLogGroups without deep
copies describes each group as LocalStack's own code does."""

import copy
import os
import sys
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from jsonpath_ng.ext import parse  # noqa: E402
from localstack.services.logs import provider  # noqa: E402, F401 (applies LocalStack's own patches)
from moto.logs.models import LogGroup, LogsBackend  # noqa: E402

from eventkit_localstack.patches import (  # noqa: E402
    describe_group,
    _patch_logs_describe,
    described_groups,
    parse_once,
)

ACCOUNT, REGION = "000000000000", "us-east-1"
DATA = {"order": {"id": "o-1", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]}}
PATHS = ["$.order.id", "$.order.items[0].sku", "$.order.items[*].qty", "$.order.items[?(@.qty > 1)].sku"]


class JsonPathParsedOnce(unittest.TestCase):
    def test_each_path_is_parsed_once_and_finds_what_a_fresh_parse_finds(self):
        calls = []

        def counting(path):
            calls.append(path)
            return parse(path)

        cached = parse_once(counting)
        for _ in range(3):
            for path in PATHS:
                found = [m.value for m in cached(path).find(DATA)]
                self.assertEqual(found, [m.value for m in parse(path).find(DATA)], path)
        self.assertEqual(calls, PATHS)

    def test_an_expression_reused_for_an_update_leaves_the_next_find_unchanged(self):
        cached = parse_once(parse)
        first = copy.deepcopy(DATA)
        cached("$.order.id").update(first, "o-2")
        self.assertEqual(first["order"]["id"], "o-2")
        self.assertEqual([m.value for m in cached("$.order.id").find(DATA)], ["o-1"])


def backend_with_logs():
    backend = LogsBackend(REGION, ACCOUNT)
    now = int(time.time() * 1000)  # moto drops events older than 14 days
    for name in ("/aws/lambda/b", "/aws/lambda/a", "/aws/events/c"):
        backend.create_log_group(name, tags={})
        for stream in ("s1", "s2"):
            backend.create_log_stream(name, stream)
            backend.put_log_events(
                name, stream, [{"timestamp": now + i, "message": f"line {i}"} for i in range(50)]
            )
    backend.put_retention_policy("/aws/lambda/a", 7)
    return backend


class DescribeLogGroupsWithoutCopies(unittest.TestCase):
    def test_each_group_is_described_as_localstack_describes_it(self):
        backend = backend_with_logs()
        for group in backend.groups.values():
            # LogGroup.to_describe_dict is LocalStack's patched version here (its deep copy)
            self.assertEqual(describe_group(group), LogGroup.to_describe_dict(group))
            self.assertGreater(describe_group(group)["storedBytes"], 0)

    def test_prefix_and_pattern_select_and_nothing_is_deep_copied(self):
        backend = backend_with_logs()
        with mock.patch("copy.deepcopy", side_effect=AssertionError("deep copy")):
            names = [g["logGroupName"] for g in described_groups(backend)]
            lambdas = [g["logGroupName"] for g in described_groups(backend, prefix="/aws/lambda/")]
            events = [g["logGroupName"] for g in described_groups(backend, pattern="events")]
        self.assertEqual(names, ["/aws/events/c", "/aws/lambda/a", "/aws/lambda/b"])
        self.assertEqual(lambdas, ["/aws/lambda/a", "/aws/lambda/b"])
        self.assertEqual(events, ["/aws/events/c"])

    def test_localstack_dispatches_describe_log_groups_to_the_fix(self):
        from localstack.aws.skeleton import create_dispatch_table

        _patch_logs_describe()
        dispatch = create_dispatch_table(provider.LogsProvider())
        self.assertTrue(dispatch["DescribeLogGroups"].fn.eventkit_patched)


if __name__ == "__main__":
    unittest.main()
