"""Peer timing for the idempotent-batch benchmark: Powertools for AWS Lambda (Python)
BatchProcessor over an SQS batch, each record handled by an idempotent function on
DynamoDB, as its documentation shows.

Usage: powertools_batch_bench.py TABLE ROUNDS BATCH
Prints one JSON line: {"fresh_ms": [...], "duplicate_ms": [...]} (wall time per batch:
new records, then the same records again). The endpoint comes from AWS_ENDPOINT_URL.
"""

import json
import sys
import time
import uuid

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

table, rounds, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
persistence = DynamoDBPersistenceLayer(table_name=table)
config = IdempotencyConfig(event_key_jmespath="id")
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="envelope", persistence_store=persistence, config=config)
def handle(envelope):
    return {"ok": True}


def record_handler(record):
    handle(envelope=json.loads(record.body))


def batch():
    records = []
    for i in range(size):
        body = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bench", "type": "bench.event",
                "time": "2026-01-01T00:00:00Z", "data": {"i": i}}
        records.append({"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": json.dumps(body),
                        "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench", "awsRegion": "us-east-1"})
    return {"Records": records}


fresh, duplicate = [], []
for _ in range(rounds):
    event = batch()
    for sink in (fresh, duplicate):
        start = time.perf_counter()
        result = process_partial_response(event=event, record_handler=record_handler, processor=processor)
        sink.append((time.perf_counter() - start) * 1000)
        assert not result["batchItemFailures"], result
print(json.dumps({"fresh_ms": fresh, "duplicate_ms": duplicate}))
