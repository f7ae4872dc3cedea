"""A cancelled TransactWriteItems on moto (a failed condition, as an event store's
optimistic-concurrency conflict) leaves the table's stream readable: a record written
after it reaches a reader that held its iterator from before, and the cancelled write
left no record. With moto's own rollback the reader gets the cancelled write and never
the next one."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from moto.dynamodb.exceptions import TransactionCanceledException  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator  # noqa: E402

from eventkit_localstack.patches.dynamodb import (  # noqa: E402
    SharedTables,
    item_level_rollback,
    keep_stream_shards,
)

ACCOUNT, REGION = "000000000000", "us-east-1"


def put(table, pk, condition=None):
    item = {"Put": {"TableName": table, "Item": {"pk": {"S": pk}}}}
    if condition:
        item["Put"]["ConditionExpression"] = condition
    return item


def table(backend, name="t"):
    backend.create_table(
        name,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=None,
        deletion_protection_enabled=False,
    )


def stream_after_a_cancelled_transaction(transact):
    backend = DynamoDBBackend(REGION, ACCOUNT)
    table(backend)
    transact(backend, [put("t", "a")])
    streams = DynamoDBStreamsBackend(REGION, ACCOUNT)
    reader = ShardIterator(streams, backend.tables["t"].stream_shard, "TRIM_HORIZON")
    first = reader.get(100)
    try:  # "b" is written, then "a" fails its condition: cancelled
        transact(backend, [put("t", "b"), put("t", "a", "attribute_not_exists(pk)")])
    except TransactionCanceledException:
        pass
    transact(backend, [put("t", "c")])
    following = streams.shard_iterators[first["NextShardIterator"]].get(100)
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in first["Records"] + following["Records"]]


PATCHED = keep_stream_shards(item_level_rollback(DynamoDBBackend.transact_write_items))


def update(table, pk, n):
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": str(n)}},
        }
    }


class CancelledTransactionsKeepStreams(unittest.TestCase):
    def test_a_reader_sees_what_was_written_after_a_cancelled_transaction(self):
        transact = keep_stream_shards(DynamoDBBackend.transact_write_items)
        self.assertEqual(stream_after_a_cancelled_transaction(transact), ["a", "c"])

    def test_with_item_level_rollback_too(self):
        self.assertEqual(stream_after_a_cancelled_transaction(PATCHED), ["a", "c"])


class ItemLevelRollback(unittest.TestCase):
    def test_a_cancelled_transaction_leaves_every_item_as_it_was(self):
        backend = DynamoDBBackend(REGION, ACCOUNT)
        table(backend, "t")
        table(backend, "u")
        PATCHED(backend, [update("t", "kept", 1), put("u", "taken")])
        before = backend.tables["t"]
        with self.assertRaises(TransactionCanceledException):
            # An update, a new item, then a failed condition: all three undone.
            PATCHED(
                backend,
                [update("t", "kept", 2), put("t", "new"), put("u", "taken", "attribute_not_exists(pk)")],
            )
        self.assertIs(backend.tables["t"], before, "no table was swapped for a copy")
        item = backend.get_item("t", {"pk": {"S": "kept"}})
        self.assertEqual(item.to_json()["Attributes"]["n"], {"N": "1"})
        self.assertIsNone(backend.get_item("t", {"pk": {"S": "new"}}))
        self.assertIsNotNone(backend.get_item("u", {"pk": {"S": "taken"}}))
        # The committed one applies as usual.
        PATCHED(backend, [update("t", "kept", 3)])
        item = backend.get_item("t", {"pk": {"S": "kept"}})
        self.assertEqual(item.to_json()["Attributes"]["n"], {"N": "3"})

    def test_tables_are_not_copied(self):
        backend = DynamoDBBackend(REGION, ACCOUNT)
        table(backend)
        PATCHED(backend, [put("t", "a")])
        self.assertIsInstance(backend.tables, SharedTables)
        self.assertIs(copy.deepcopy(backend.tables), backend.tables)

    def test_without_the_fix_the_reader_sees_the_cancelled_write_and_loses_the_next(self):
        self.assertEqual(
            stream_after_a_cancelled_transaction(DynamoDBBackend.transact_write_items), ["a", "b"]
        )


if __name__ == "__main__":
    unittest.main()
