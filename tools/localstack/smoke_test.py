"""Smoke test of a running LocalStack (started by tools/localstack/localstack.sh up).

    build/venv/bin/python tools/localstack/smoke_test.py [--endpoint http://127.0.0.1:4566]

Checks what the kit relies on: SQS with a DLQ redrive policy, S3 (300 KB object, path-style),
DynamoDB (conditional put failing with ConditionalCheckFailed and
ReturnValuesOnConditionCheckFailure=ALL_OLD, TTL, DeleteItem, Streams), EventBridge (custom bus,
rule on detail.subject, SQS target) and CloudFormation (a queue and a table). Uses botocore from
build/venv (the same library as the awscli there; one process instead of ~40 awscli start-ups).
Names are unique per run, so it can be re-run against the same instance. Exits non-zero on the
first failure.
"""

import argparse
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RUN = f"smoke{int(time.time())}{os.getpid()}"


def ok(what):
    print(f"ok   {what}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        print(f"FAIL {what} {detail}", file=sys.stderr)
        sys.exit(1)
    ok(what)


def main():
    parser = argparse.ArgumentParser()
    port = os.environ.get("LOCALSTACK_PORT", "4566")
    parser.add_argument("--endpoint", default=f"http://127.0.0.1:{port}")
    endpoint = parser.parse_args().endpoint

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})

    def client(name):
        return session.client(name, endpoint_url=endpoint, config=cfg)

    started = time.monotonic()

    # --- SQS: DLQ redrive --------------------------------------------------------------------
    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{RUN}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    q_url = sqs.create_queue(
        QueueName=f"{RUN}-main",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}),
            "VisibilityTimeout": "1",
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=q_url, MessageBody="hello")
    msgs = sqs.receive_message(QueueUrl=q_url, WaitTimeSeconds=5).get("Messages", [])
    check([m["Body"] for m in msgs] == ["hello"], "sqs send/receive", msgs)
    time.sleep(2)  # visibility timeout expires; the next receive moves the message to the DLQ
    msgs = sqs.receive_message(QueueUrl=q_url, WaitTimeSeconds=1).get("Messages", [])
    check(msgs == [], "sqs: message not redelivered after maxReceiveCount", msgs)
    msgs = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5).get("Messages", [])
    check([m["Body"] for m in msgs] == ["hello"], "sqs: message moved to the DLQ", msgs)

    # --- S3: 300 KB object, path-style -------------------------------------------------------
    s3 = client("s3")
    body = os.urandom(300 * 1024)
    s3.create_bucket(Bucket=f"{RUN}-bucket")
    s3.put_object(Bucket=f"{RUN}-bucket", Key="dir/obj.bin", Body=body)
    got = s3.get_object(Bucket=f"{RUN}-bucket", Key="dir/obj.bin")["Body"].read()
    check(got == body, "s3 300 KB put/get (path-style)")

    # --- DynamoDB (moto) + Streams ------------------------------------------------------------
    ddb = client("dynamodb")
    table = f"{RUN}-table"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    old = {"pk": {"S": "a"}, "v": {"N": "1"}}
    ddb.put_item(TableName=table, Item=old, ConditionExpression="attribute_not_exists(pk)")
    try:
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "a"}, "v": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        check(False, "dynamodb conditional put should fail")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(code == "ConditionalCheckFailedException", "dynamodb ConditionalCheckFailed", code)
        check(e.response.get("Item") == old, "dynamodb ALL_OLD returns the old item", e.response)
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    check(ttl.get("TimeToLiveStatus") == "ENABLED", "dynamodb UpdateTimeToLive", ttl)
    deleted = ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    check(deleted.get("Attributes") == old, "dynamodb DeleteItem", deleted)
    check("Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}), "dynamodb item gone")
    streams = client("dynamodbstreams")
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    it = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    names = [r["eventName"] for r in streams.get_records(ShardIterator=it)["Records"]]
    check(names == ["INSERT", "REMOVE"], "dynamodb streams records", names)

    # --- EventBridge: custom bus, rule on detail.subject, SQS target ---------------------------
    events = client("events")
    ev_url = sqs.create_queue(QueueName=f"{RUN}-events")["QueueUrl"]
    ev_arn = sqs.get_queue_attributes(QueueUrl=ev_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    bus = f"{RUN}-bus"
    events.create_event_bus(Name=bus)
    events.put_rule(
        Name=f"{RUN}-rule",
        EventBusName=bus,
        EventPattern=json.dumps({"detail": {"subject": ["order.created"]}}),
    )
    events.put_targets(Rule=f"{RUN}-rule", EventBusName=bus, Targets=[{"Id": "q", "Arn": ev_arn}])
    res = events.put_events(
        Entries=[
            {"EventBusName": bus, "Source": "kit", "DetailType": "t",
             "Detail": json.dumps({"subject": subject, "n": n})}
            for n, subject in enumerate(["order.created", "order.deleted"])
        ]
    )
    check(res["FailedEntryCount"] == 0, "eventbridge put-events", res)
    msgs = sqs.receive_message(QueueUrl=ev_url, WaitTimeSeconds=10).get("Messages", [])
    detail = json.loads(msgs[0]["Body"])["detail"] if msgs else None
    check(detail == {"subject": "order.created", "n": 0}, "eventbridge rule delivered to SQS", msgs)
    msgs = sqs.receive_message(QueueUrl=ev_url, WaitTimeSeconds=2).get("Messages", [])
    check(msgs == [], "eventbridge did not deliver the non-matching event", msgs)

    # --- CloudFormation: a queue and a table -------------------------------------------------------
    cfn = client("cloudformation")
    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{RUN}-cfn"}},
            "T": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"{RUN}-cfn",
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                },
            },
        },
        "Outputs": {"Url": {"Value": {"Ref": "Q"}}},
    }
    stack = f"{RUN}-stack"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    deadline = time.monotonic() + 120
    while True:
        desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not desc["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    check(desc["StackStatus"] == "CREATE_COMPLETE", "cloudformation stack", desc)
    sqs.get_queue_url(QueueName=f"{RUN}-cfn")
    status = ddb.describe_table(TableName=f"{RUN}-cfn")["Table"]["TableStatus"]
    check(status == "ACTIVE", "cloudformation created the queue and the table", status)
    cfn.delete_stack(StackName=stack)

    print(f"all checks passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
