"""Peer for `claimcheck-bench`: the Amazon SQS Extended Client for Python sending bodies
through S3 and receiving them back, as the kit's side does.

Usage: sqs_extended_bench.py QUEUE_URL BUCKET SIZE...
Prints one JSON line: {"<size>": {"send_ms", "recv_ms", "send_peak", "recv_peak"}}: the
median wall time of 5 untraced rounds, then the peak of traced memory (tracemalloc) above
the start of each step in one more round. The endpoint comes from AWS_ENDPOINT_URL.
"""

import json
import statistics
import sys
import time
import tracemalloc

import boto3
import sqs_extended_client  # noqa: F401 (patches boto3.Session)

ROUNDS = 5
queue, bucket, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
sqs = boto3.session.Session().client("sqs")
sqs.large_payload_support = bucket
sqs.always_through_s3 = True


def send(body):
    sqs.send_message(QueueUrl=queue, MessageBody=body)


def receive():
    for _ in range(20):
        out = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=5,
                                  MessageAttributeNames=["All"])
        if out.get("Messages"):
            m = out["Messages"][0]
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
            return m["Body"]
    raise SystemExit("nothing received within 100 s")


def traced(step, *args):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = step(*args)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, peak


result = {}
for size in sizes:
    send_ms, recv_ms = [], []
    for _ in range(ROUNDS):
        body = "x" * size
        start = time.perf_counter()
        send(body)
        send_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        got = receive()
        recv_ms.append((time.perf_counter() - start) * 1000)
        assert len(got) == size, (len(got), size)
        del body, got
    body = "x" * size
    _, send_peak = traced(send, body)
    del body
    got, recv_peak = traced(receive)
    assert len(got) == size
    result[str(size)] = {"send_ms": statistics.median(send_ms), "recv_ms": statistics.median(recv_ms),
                         "send_peak": send_peak, "recv_peak": recv_peak}
print(json.dumps(result))
