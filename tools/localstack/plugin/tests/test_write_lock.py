"""Concurrent transactions on one item, half of them cancelled by a failed condition, as
the ledger's duplicates are: with moto's writes serialised every committed ADD counts
once; without, rollbacks and read-modify-writes lose some."""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402

from eventkit_localstack.patches import dynamodb as patches  # noqa: E402
from test_transaction_streams import ACCOUNT, REGION, table  # noqa: E402

THREADS, ROUNDS = 8, 150


def add(n):
    return {"Update": {"TableName": "t", "Key": {"pk": {"S": "acc"}},
                       "UpdateExpression": "ADD balance :n", "ExpressionAttributeValues": {":n": {"N": str(n)}}}}


def run(backend):
    table(backend)
    backend.put_item("t", {"pk": {"S": "acc"}, "balance": {"N": "0"}})
    backend.put_item("t", {"pk": {"S": "seen"}})
    duplicate = {"Put": {"TableName": "t", "Item": {"pk": {"S": "seen"}}, "ConditionExpression": "attribute_not_exists(pk)"}}

    def worker():
        for _ in range(ROUNDS):
            backend.transact_write_items([add(1)])
            try:  # a duplicate: its ADD is rolled back
                backend.transact_write_items([add(1000), duplicate])
            except Exception:
                pass

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return int(backend.get_item("t", {"pk": {"S": "acc"}}).to_json()["Attributes"]["balance"]["N"])


class SerialisedWrites(unittest.TestCase):
    def test_every_committed_add_counts_once(self):
        original = {name: getattr(DynamoDBBackend, name) for name in patches.WRITE_METHODS}
        sys.setswitchinterval(1e-6)  # switch threads often, as a loaded LocalStack does
        try:
            patches._patch_moto_transactions()
            patches._patch_moto_write_lock()
            self.assertEqual(run(DynamoDBBackend(REGION, ACCOUNT)), THREADS * ROUNDS)
        finally:
            sys.setswitchinterval(0.005)
            for name, method in original.items():
                setattr(DynamoDBBackend, name, method)


if __name__ == "__main__":
    unittest.main()
