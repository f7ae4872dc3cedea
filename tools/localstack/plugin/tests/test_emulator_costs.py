"""LocalStack costs the patches remove keep their answers: Step Functions JSONPath
expressions parsed once give what a fresh parse gives, DescribeLogGroups without deep
copies describes each group as LocalStack's own code does, and SQS event source mappings
that long-poll still invoke only while their mapping is on."""

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

from botocore.hooks import HierarchicalEmitter  # noqa: E402
from localstack.services.lambda_.event_source_mapping.pollers.poller import (  # noqa: E402
    EmptyPollResultsException,
)
from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller  # noqa: E402

from eventkit_localstack.patches.lambda_ import LONG_POLL_SECONDS, _patch_sqs_long_poll, marking_poller  # noqa: E402
from eventkit_localstack.patches.logs import _patch_logs_describe, describe_group, described_groups  # noqa: E402
from eventkit_localstack.patches.stepfunctions import parse_once  # noqa: E402

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


class FakeSqs:
    """The calls an SQS poller makes, recorded; ``queued`` is what a receive returns."""

    def __init__(self, queued):
        self.meta = type("Meta", (), {"events": HierarchicalEmitter()})()
        self.queued, self.receives, self.returned = queued, [], []

    def receive_message(self, **params):
        self.receives.append(params)
        return {"Messages": self.queued}

    def change_message_visibility_batch(self, **params):
        self.returned.extend(params["Entries"])


class FakeProcessor:
    def __init__(self):
        self.batches = []

    def process_events_batch(self, events):
        self.batches.append(events)


QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:orders"
QUEUE_URL = "http://127.0.0.1:4566/queue/us-east-1/000000000000/orders"


def poller(window, queued, processor):
    _patch_sqs_long_poll()
    params = {"SqsQueueParameters": {"BatchSize": 10}}
    if window is not None:
        params["SqsQueueParameters"]["MaximumBatchingWindowInSeconds"] = window
    source = FakeSqs(queued)
    with mock.patch(f"{SqsPoller.__module__}.get_queue_url", return_value=QUEUE_URL):  # asks SQS
        made = SqsPoller(QUEUE_ARN, params, source, processor)
    made.is_fifo_queue = False  # a cached property; the real one asks SQS
    return made, source


def message(i):
    return {"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": "{}", "Attributes": {},
            "MD5OfBody": "", "MessageAttributes": {}}


class SqsMappingsLongPoll(unittest.TestCase):
    def test_a_mapping_without_a_long_window_waits_twenty_seconds_for_its_first_message(self):
        for window, expected in ((None, LONG_POLL_SECONDS), (0, LONG_POLL_SECONDS), (1, LONG_POLL_SECONDS), (20, 20)):
            made, source = poller(window, [], FakeProcessor())
            with self.assertRaises(EmptyPollResultsException):
                made.poll_events()
            self.assertEqual(source.receives[-1]["WaitTimeSeconds"], expected, window)

    def test_a_running_mapping_invokes_with_what_it_received(self):
        processor = FakeProcessor()
        made, source = poller(1, [message(1), message(2)], processor)
        made.poll_events()
        self.assertEqual([len(b) for b in processor.batches], [2])
        self.assertEqual(source.returned, [])

    def test_a_poll_that_returns_after_its_mapping_stopped_puts_the_messages_back(self):
        processor = FakeProcessor()
        made, source = poller(1, [message(i) for i in range(12)], processor)
        made.eventkit_stopped = True  # what EsmWorker.stop/delete now set
        platform = FakeSqs([])
        with mock.patch("eventkit_localstack.patches.lambda_.platform_sqs", return_value=platform) as chosen:
            made.poll_events()
        chosen.assert_called_with(QUEUE_ARN)
        self.assertEqual(processor.batches, [])
        # By the platform, not with the function role's client (the IAM audit judges that one).
        self.assertEqual(source.returned, [])
        self.assertEqual([e["ReceiptHandle"] for e in platform.returned], [f"r-{i}" for i in range(12)])
        self.assertEqual({e["VisibilityTimeout"] for e in platform.returned}, {0})

    def test_stopping_a_worker_stops_its_poller_and_starting_one_starts_it(self):
        from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker

        _patch_sqs_long_poll()
        for name in ("stop", "delete", "stop_for_shutdown", "start"):
            self.assertTrue(getattr(getattr(EsmWorker, name), "eventkit_patched", False), name)
        calls = []
        worker = type("Worker", (), {})()
        worker.poller = type("Poller", (), {})()
        for stopped in (True, False, True):
            marking_poller(lambda self: calls.append(self), stopped)(worker)
            self.assertEqual(worker.poller.eventkit_stopped, stopped)
        self.assertEqual(calls, [worker] * 3)


if __name__ == "__main__":
    unittest.main()
