"""DynamoDB on moto (the kit's ``dynamodb:moto`` provider; LocalStack's own needs a jar
these machines cannot download).

* A cancelled ``TransactWriteItems`` (a failed condition: the optimistic concurrency
  conflict of an event store) rolls back by swapping every table for a deep copy. Stream
  readers hold the old table's stream shard, so they never see a record written after it,
  and records of the cancelled writes stay in it. The fix keeps the shard readers hold,
  without the cancelled records, on the restored table. AWS: a cancelled transaction
  writes nothing, so nothing reaches the stream
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
  The same fix saves and restores only the items a transaction names, where moto
  deep-copies every table before each one (its cost grew with all the data stored).
* Writes from concurrent requests run without a lock: an ``ADD`` is a read-modify-write in
  Python, and a cancelled transaction's rollback puts back items a concurrent transaction
  has since committed to, so an effect is lost or applied twice. DynamoDB serialises
  writes to an item (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html#Expressions.UpdateExpressions.ADD);
  the fix serialises moto's writes.
"""

from __future__ import annotations

import copy
import functools
import threading


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


