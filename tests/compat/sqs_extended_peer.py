"""The Amazon SQS Extended Client for Python as a peer of the kit's SQS claim check.

Usage:
  sqs_extended_peer.py send QUEUE_URL BUCKET BODY_FILE [--legacy]
      sends the file's text as a message body through the Extended Client (always through
      S3); prints {"message_id", "sha256", "size"}
  sqs_extended_peer.py receive QUEUE_URL BUCKET
      receives one message through the Extended Client (which fetches the body from S3)
      and deletes it; prints {"sha256", "size", "body_prefix", "attributes"}

The endpoint comes from AWS_ENDPOINT_URL. One JSON line on stdout.
"""

import hashlib
import json
import sys

import boto3
import sqs_extended_client  # noqa: F401 (patches boto3.Session)


def client(bucket, legacy=False):
    sqs = boto3.session.Session().client("sqs")
    sqs.large_payload_support = bucket
    sqs.always_through_s3 = True
    sqs.use_legacy_attribute = legacy
    return sqs


def main():
    command, queue, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
    if command == "send":
        with open(sys.argv[4], encoding="utf-8") as f:
            body = f.read()
        sqs = client(bucket, legacy="--legacy" in sys.argv)
        out = sqs.send_message(QueueUrl=queue, MessageBody=body)
        print(json.dumps({"message_id": out["MessageId"], "sha256": hashlib.sha256(body.encode()).hexdigest(),
                          "size": len(body.encode())}))
    elif command == "receive":
        sqs = client(bucket)
        for _ in range(20):
            out = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1, MessageAttributeNames=["All"])
            messages = out.get("Messages", [])
            if messages:
                m = messages[0]
                body = m["Body"]
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
                print(json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest(), "size": len(body.encode()),
                                  "body_prefix": body[:60], "attributes": sorted(m.get("MessageAttributes", {}))}))
                return
        print(json.dumps({"error": "no message within 20 s"}))
    else:
        raise SystemExit(f"unknown command {command}")


main()
