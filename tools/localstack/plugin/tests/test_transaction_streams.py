"""A cancelled TransactWriteItems on moto (a failed condition, as an event store's
optimistic-concurrency conflict) leaves the table's stream readable: a record written
after it reaches a reader that held its iterator from before, and the cancelled write
left no record. With moto's own rollback the reader gets the cancelled write and never
the next one."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from moto.dynamodb.exceptions import TransactionCanceledException  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator  # noqa: E402

from eventkit_localstack.patches import keep_stream_shards  # noqa: E402

ACCOUNT, REGION = "000000000000", "us-east-1"


def put(table, pk, condition=None):
    item = {"Put": {"TableName": table, "Item": {"pk": {"S": pk}}}}
    if condition:
        item["Put"]["ConditionExpression"] = condition
    return item


def stream_after_a_cancelled_transaction(transact):
    backend = DynamoDBBackend(REGION, ACCOUNT)
    backend.create_table(
        "t",
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


class CancelledTransactionsKeepStreams(unittest.TestCase):
    def test_a_reader_sees_what_was_written_after_a_cancelled_transaction(self):
        transact = keep_stream_shards(DynamoDBBackend.transact_write_items)
        self.assertEqual(stream_after_a_cancelled_transaction(transact), ["a", "c"])

    def test_without_the_fix_the_reader_sees_the_cancelled_write_and_loses_the_next(self):
        self.assertEqual(
            stream_after_a_cancelled_transaction(DynamoDBBackend.transact_write_items), ["a", "b"]
        )


if __name__ == "__main__":
    unittest.main()
