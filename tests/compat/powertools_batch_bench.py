"""Peer timing for the idempotent-batch benchmark: Powertools for AWS Lambda (Python)
BatchProcessor over an SQS batch, each record handled by an idempotent function on
DynamoDB, as its documentation shows.

Usage: powertools_batch_bench.py TABLE ROUNDS BATCH STREAM_FILE
Prints one JSON line: {"fresh_ms": [...], "duplicate_ms": [...], "stream_ms": [...]} (wall
time per batch: new records, then the same records again; then the batches of ids in
STREAM_FILE, a JSON list of lists, in order), and for each series its batches' windows
(`*_windows`, [start, end] in epoch seconds) to match against a proxy's request log.
The endpoint comes from AWS_ENDPOINT_URL.
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

table, rounds, size, stream_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
persistence = DynamoDBPersistenceLayer(table_name=table)
config = IdempotencyConfig(event_key_jmespath="id")
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="envelope", persistence_store=persistence, config=config)
def handle(envelope):
    return {"ok": True}


def record_handler(record):
    handle(envelope=json.loads(record.body))


def batch(ids=None):
    records = []
    for i, event_id in enumerate(ids or [str(uuid.uuid4()) for _ in range(size)]):
        body = {"specversion": "1.0", "id": event_id, "source": "bench", "type": "bench.event",
                "time": "2026-01-01T00:00:00Z", "data": {"i": i}}
        records.append({"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": json.dumps(body),
                        "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench", "awsRegion": "us-east-1"})
    return {"Records": records}


series = {name: ([], []) for name in ("fresh", "duplicate", "stream")}


def timed(name, event):
    millis, windows = series[name]
    begun, start = time.time(), time.perf_counter()
    result = process_partial_response(event=event, record_handler=record_handler, processor=processor)
    millis.append((time.perf_counter() - start) * 1000)
    windows.append([begun, time.time()])
    assert not result["batchItemFailures"], result


for _ in range(rounds):
    event = batch()
    timed("fresh", event)
    timed("duplicate", event)
prefix = str(uuid.uuid4())
with open(stream_file) as f:
    for ids in json.load(f):
        timed("stream", batch([f"{prefix}-{i}" for i in ids]))
out = {}
for name, (millis, windows) in series.items():
    out[f"{name}_ms"], out[f"{name}_windows"] = millis, windows
print(json.dumps(out))
