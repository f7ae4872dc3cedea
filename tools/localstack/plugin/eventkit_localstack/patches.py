"""Fixes for LocalStack 4.9.2 defects the kit's tests meet, applied at start-up.

Loaded by the ``localstack.hooks.on_infra_start`` entry point ``eventkit_patches``. Each
fix names the defect it works around; remove it when the pinned LocalStack has it fixed.

* EventBridge archive replay: the archive stores each event's ``time`` as an ISO string,
  and replay treats it as a ``datetime`` (``str.replace() takes no keyword arguments``,
  HTTP 500 from ``StartReplay`` whenever the archive holds an event). The fix parses the
  string where replay reads it.
* EventBridge Step Functions target with an input transformer: the target names the
  execution after the event's ``id``, which the transformed input no longer has
  (``Failed to deliver to target ...: 'id'``). AWS names it with a fresh UUID; so does the
  fix, when the input has no ``id``.
* CloudWatch Logs ``filterPattern``: the community matcher accepts every event. The fix
  matches plain terms (all must occur) and ``{ $.field = "value" }`` JSON filters, which
  is what the kit's CLI sends.
* moto ``TransactWriteItems`` that is cancelled (a failed condition: the optimistic
  concurrency conflict of an event store) rolls back by swapping every table for a deep
  copy. Stream readers hold the old table's stream shard, so they never see a record
  written after it, and records of the cancelled writes stay in it. The fix keeps the
  shard readers hold, without the cancelled records, on the restored table.
* moto ``TransactWriteItems`` deep-copies every table before each transaction, so each one
  costs time in proportion to all the data stored. The fix saves and restores only the
  items a transaction names.
* moto runs DynamoDB writes from concurrent requests without a lock: an ``ADD`` is a
  read-modify-write in Python, and a cancelled transaction's rollback puts back items a
  concurrent transaction has since committed to, so an effect is lost or applied twice.
  DynamoDB serialises writes to an item; the fix serialises moto's writes.
* Step Functions evaluates every JSONPath (each ``.$`` parameter, ``ResultPath``,
  ``InputPath``) by building a new ``jsonpath_ng`` parser, whose LALR tables ply generates
  each time: 10-30 ms of CPU per path, under the one interpreter lock every service
  shares. The fix parses each distinct path once.
* CloudWatch Logs ``DescribeLogGroups`` deep-copies every log group, every stream and
  every event stored, twice, to sum stored bytes without a race: its cost grows with all
  the logs ever written. The fix reads a snapshot of the groups and streams instead.
* Lambda's SQS event source mappings short-poll (``WaitTimeSeconds`` is the batching
  window, 0 or 1 s here) and back off at most 1 s on an empty queue: about one
  ``ReceiveMessage`` a second for each mapping, each through the whole gateway, a quarter
  of a core with the stack idle. Lambda on AWS long-polls, 20 s. The fix long-polls too (a
  receive still returns with the first message); a poll that returns after its mapping
  was disabled, updated or deleted puts its messages back at once instead of invoking.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import threading
from datetime import datetime, timezone

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


def _to_datetime(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _patch_archive_replay() -> None:
    from localstack.services.events import archive, replay

    normalize = archive.ArchiveService._normalize_datetime

    def _normalize_datetime(self, dt):
        return normalize(self, _to_datetime(dt))

    archive.ArchiveService._normalize_datetime = _normalize_datetime

    reformat = replay.ReplayService.re_format_events_from_archive

    def re_format_events_from_archive(self, events, replay_name):
        out = reformat(self, events, replay_name)
        for event in out:
            if "Time" in event:
                event["Time"] = _to_datetime(event["Time"])
        return out

    def _set_event_last_replayed_time(self, events):
        self.replay.event_last_replayed_time = max(_to_datetime(e["time"]) for e in events)

    replay.ReplayService.re_format_events_from_archive = re_format_events_from_archive
    replay.ReplayService._set_event_last_replayed_time = _set_event_last_replayed_time


def _patch_states_target() -> None:
    import uuid

    from localstack.services.events import target

    def send_event(self, event, trace_header):
        self.service = "stepfunctions"
        name = event.get("id") if isinstance(event, dict) and event.get("id") else str(uuid.uuid4())
        self.client.start_execution(
            stateMachineArn=self.target["Arn"], name=name, input=target.to_json_str(event)
        )

    target.StatesTargetSender.send_event = send_event


_JSON_FILTER = re.compile(r'^\{\s*\$\.([A-Za-z0-9_.]+)\s*=\s*"?([^"}]*?)"?\s*\}$')


def pattern_matcher(pattern: str):
    """A matcher for the filter patterns the kit uses (see the module docstring)."""
    pattern = (pattern or "").strip()
    json_filter = _JSON_FILTER.match(pattern)
    if json_filter:
        path, expected = json_filter.group(1).split("."), json_filter.group(2)

        def match_json(_pattern, event):
            try:
                value = json.loads(event["message"])
                for part in path:
                    value = value[part]
            except (ValueError, KeyError, TypeError):
                return False
            return str(value) == expected

        return match_json
    terms = [t.strip('"') for t in re.findall(r'"[^"]*"|\S+', pattern)]
    return lambda _pattern, event: all(t in event.get("message", "") for t in terms)


def _patch_logs_filter() -> None:
    from localstack.services.logs import provider

    provider.get_pattern_matcher = pattern_matcher


def parse_once(parse):
    """``parse`` (a ``jsonpath_ng`` parse function) remembering each path's expression.
    Expressions are immutable once built: ``find`` and ``update`` change the data, not them."""
    cached = functools.lru_cache(maxsize=4096)(parse)

    def patched(path, *args, **kwargs):
        if args or kwargs or not isinstance(path, str):
            return parse(path, *args, **kwargs)
        return cached(path)

    patched.eventkit_patched = True
    return patched


def _patch_jsonpath_parse() -> None:
    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path

    for module in (json_path, result_path):
        if not getattr(module.parse, "eventkit_patched", False):
            module.parse = parse_once(module.parse)


def describe_group(group) -> dict:
    """A moto log group's ``DescribeLogGroups`` entry, as LocalStack's own, from a snapshot
    of its streams (``list`` of a dict's values is atomic) instead of a deep copy."""
    arn = group.arn if group.arn.endswith(":*") else f"{group.arn}:*"
    described = {
        "arn": arn,
        "creationTime": group.creation_time,
        "logGroupName": group.name,
        "metricFilterCount": 0,
        "storedBytes": sum(s.stored_bytes for s in list(group.streams.values())),
    }
    if group.retention_in_days:
        described["retentionInDays"] = group.retention_in_days
    if group.kms_key_id:
        described["kmsKeyId"] = group.kms_key_id
    return described


def described_groups(backend, prefix: str = "", pattern: str = "") -> list[dict]:
    """The described groups of ``backend`` whose names match, sorted by name."""
    groups = [
        describe_group(group)
        for name, group in list(backend.groups.items())
        if not (prefix or pattern) or (prefix and name.startswith(prefix)) or (pattern and pattern in name)
    ]
    return sorted(groups, key=lambda g: g["logGroupName"])


def _patch_logs_describe() -> None:
    from localstack.aws.api import handler
    from localstack.aws.api.logs import DescribeLogGroupsResponse, InvalidParameterException
    from localstack.services.logs import provider
    from moto.logs.models import LogGroup

    if getattr(provider.LogsProvider.describe_log_groups, "eventkit_patched", False):
        return

    # LocalStack dispatches to the provider attribute named as the function
    @handler("DescribeLogGroups", expand=False)
    def describe_log_groups(self, context, request):
        prefix = request.get("logGroupNamePrefix", "")
        pattern = request.get("logGroupNamePattern", "")
        if pattern and prefix:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        backend = provider.get_moto_logs_backend(context.account_id, context.region)
        return DescribeLogGroupsResponse(logGroups=described_groups(backend, prefix, pattern))

    describe_log_groups.eventkit_patched = True
    provider.LogsProvider.describe_log_groups = describe_log_groups
    LogGroup.to_describe_dict = describe_group


def keep_stream_shards(transact_write_items):
    """``transact_write_items`` whose rollback keeps each table's stream shard object and
    drops the records the cancelled transaction wrote to it."""

    def patched(self, transact_items):
        shards = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if getattr(table, "stream_shard", None) is not None
        }
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for name, (shard, count) in shards.items():
                del shard.items[count:]
                table = self.tables.get(name)
                if table is not None and table.stream_shard is not shard:
                    shard.table = table
                    table.stream_shard = shard
            raise

    patched.eventkit_patched = True
    return patched


class SharedTables(dict):
    """A backend's tables whose ``copy.deepcopy`` is itself. moto snapshots
    ``copy.deepcopy(self.tables)`` before every TransactWriteItems to roll back a cancelled
    one: every item of every table, under its lock, so each transaction costs time in
    proportion to all the data stored, and a stack's transactional writers slow down as
    its tables fill (a 2,000-event test took 300 s instead of 14). ``item_level_rollback``
    saves and restores only the items the transaction names instead."""

    def __deepcopy__(self, memo):
        return self


def _key_of(backend, op_type, op):
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def item_level_rollback(transact_write_items):
    """``transact_write_items`` that snapshots only the items it names and puts them back
    when the transaction is cancelled, rather than copying every table (see
    ``SharedTables``). Wrap it in ``keep_stream_shards``: restoring writes stream records,
    which that wrapper drops with the cancelled ones."""

    def patched(self, transact_items):
        try:
            saved = []
            for entry in transact_items:
                ((op_type, op),) = entry.items()
                key = _key_of(self, op_type, op)
                current = self.get_item(op["TableName"], key)
                attrs = copy.deepcopy(current.to_json()["Attributes"]) if current else None
                saved.append((op["TableName"], key, attrs))
        except Exception:  # malformed or unknown table: moto's own path and its errors
            return transact_write_items(self, transact_items)
        if not isinstance(self.tables, SharedTables):
            self.tables = SharedTables(self.tables)
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for table_name, key, attrs in reversed(saved):
                if attrs is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attrs)
            raise

    patched.eventkit_patched = True
    return patched


WRITES = threading.RLock()  # re-entrant: a transaction's rollback calls put/delete_item
WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def serialised(method):
    """``method`` run under the one lock every moto DynamoDB write takes."""

    @functools.wraps(method)
    def patched(*args, **kwargs):
        with WRITES:
            return method(*args, **kwargs)

    patched.eventkit_serialised = True
    return patched


def _patch_moto_write_lock() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in WRITE_METHODS:
        method = getattr(DynamoDBBackend, name, None)
        if method is not None and not getattr(method, "eventkit_serialised", False):
            setattr(DynamoDBBackend, name, serialised(method))


def _patch_moto_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if not getattr(DynamoDBBackend.transact_write_items, "eventkit_patched", False):
        DynamoDBBackend.transact_write_items = keep_stream_shards(
            item_level_rollback(DynamoDBBackend.transact_write_items)
        )


LONG_POLL_SECONDS = 20  # Lambda's SQS pollers on AWS; SQS's longest wait


def long_polling(init):
    """``SqsPoller.__init__`` whose receives wait up to 20 s. The poller passes
    ``min(maximum_batching_window, 20)`` as ``WaitTimeSeconds`` and, above 20, a LocalStack
    header that waits for a full batch; a window of at most 20 s keeps the plain long poll,
    which returns as soon as one message is there, as before."""

    @functools.wraps(init)
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.maximum_batching_window <= LONG_POLL_SECONDS:
            self.maximum_batching_window = LONG_POLL_SECONDS

    patched.eventkit_patched = True
    return patched


def platform_sqs(queue_arn: str):
    """An SQS client of the platform itself, not the poller's, which runs as the function's
    role: on AWS the service returns a stopped mapping's messages with no permission of the
    role (the IAM audit would rightly find none granted)."""
    from localstack.aws.connect import connect_to
    from localstack.utils.aws.arns import parse_arn

    arn = parse_arn(queue_arn)
    return connect_to(aws_access_key_id=arn["account"], region_name=arn["region"]).sqs


def returned_when_stopped(handle_messages):
    """``SqsPoller.handle_messages`` that, once its mapping stopped polling (disabled,
    updated or deleted while a long poll waited), makes the messages visible again
    instead of invoking the function: the mapping's state decides, as on AWS."""

    @functools.wraps(handle_messages)
    def patched(self, messages):
        if not getattr(self, "eventkit_stopped", False):
            return handle_messages(self, messages)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        sqs = platform_sqs(self.source_arn)
        for start in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
        LOG.debug("eventkit: %d message(s) returned to %s: its mapping stopped", len(entries), self.queue_url)

    patched.eventkit_patched = True
    return patched


def marking_poller(method, stopped: bool):
    """An ``EsmWorker`` state change that also tells its poller whether it may invoke."""

    @functools.wraps(method)
    def patched(self, *args, **kwargs):
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.eventkit_stopped = stopped
        return method(self, *args, **kwargs)

    patched.eventkit_patched = True
    return patched


def _patch_sqs_long_poll() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    if getattr(SqsPoller.__init__, "eventkit_patched", False):
        return
    SqsPoller.__init__ = long_polling(SqsPoller.__init__)
    SqsPoller.handle_messages = returned_when_stopped(SqsPoller.handle_messages)
    for name in ("stop", "delete", "stop_for_shutdown"):
        setattr(EsmWorker, name, marking_poller(getattr(EsmWorker, name), stopped=True))
    EsmWorker.start = marking_poller(EsmWorker.start, stopped=False)


@hooks.on_infra_start()
def eventkit_patches() -> None:
    for name, patch in (
        ("events archive replay", _patch_archive_replay),
        ("events Step Functions target", _patch_states_target),
        ("logs filterPattern", _patch_logs_filter),
        ("moto TransactWriteItems rollback and streams", _patch_moto_transactions),
        ("moto DynamoDB writes serialised", _patch_moto_write_lock),
        ("Step Functions JSONPath parsing", _patch_jsonpath_parse),
        ("logs DescribeLogGroups copies", _patch_logs_describe),
        ("Lambda SQS pollers long-poll", _patch_sqs_long_poll),
    ):
        try:
            patch()
            LOG.info("eventkit: patched %s", name)
        except Exception:  # a newer LocalStack may have moved things: say so, keep running
            LOG.exception("eventkit: could not patch %s; see tools/localstack/plugin/eventkit_localstack/patches.py", name)
