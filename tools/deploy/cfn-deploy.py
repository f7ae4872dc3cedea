#!/usr/bin/env python3
"""Create or update a CloudFormation stack through a change set, polling every second.

`aws cloudformation deploy` does the same but waits in 30-second steps, which is most of
a LocalStack deploy's time. This prints each resource as it completes and, on failure,
the failed resources with their reasons.

Usage: cfn-deploy.py --stack NAME --template FILE --bucket BUCKET [--parameter K=V ...]
       [--endpoint URL] [--region R] [--timeout SECONDS]
A template over CloudFormation's inline limit (51,200 bytes) is uploaded to BUCKET first.
Exit status: 0 the stack is CREATE_COMPLETE or UPDATE_COMPLETE (or nothing changed);
1 it failed (reasons printed); 2 bad usage.
"""

import argparse
import sys
import time

import boto3
from botocore.exceptions import ClientError

DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
FAILED_SUFFIXES = ("FAILED", "ROLLBACK_COMPLETE")


def log(message, start):
    print(f"cfn-deploy: [{time.monotonic() - start:5.1f}s] {message}", file=sys.stderr, flush=True)


def stack_status(cfn, stack):
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def failed_events(cfn, stack, since):
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    return [e for e in events if "FAILED" in e.get("ResourceStatus", "") and e["Timestamp"].timestamp() >= since]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--parameter", action="append", default=[])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--endpoint")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    start = time.monotonic()
    since = time.time() - 5
    cfn = boto3.client("cloudformation", endpoint_url=args.endpoint, region_name=args.region)
    with open(args.template, encoding="utf-8") as f:
        body = f.read()
    parameters = []
    for p in args.parameter:
        if "=" not in p:
            print(f"cfn-deploy: --parameter {p!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        k, v = p.split("=", 1)
        parameters.append({"ParameterKey": k, "ParameterValue": v})

    status = stack_status(cfn, args.stack)
    source = {"TemplateBody": body}
    if len(body.encode()) > 51200:
        key = f"{args.stack}/template-{int(time.time())}.yaml"
        s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region)
        s3.put_object(Bucket=args.bucket, Key=key, Body=body.encode())
        if args.endpoint:
            url = f"{args.endpoint.rstrip('/')}/{args.bucket}/{key}"
        else:
            url = f"https://{args.bucket}.s3.{args.region}.amazonaws.com/{key}"
        source = {"TemplateURL": url}
    kind = "UPDATE" if status in DONE or (status or "").endswith("UPDATE_ROLLBACK_COMPLETE") else "CREATE"
    name = f"deploy-{int(time.time())}"
    cfn.create_change_set(
        StackName=args.stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        **source,
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    log(f"{kind.lower()} change set {name} for stack {args.stack}", start)
    while True:
        cs = cfn.describe_change_set(StackName=args.stack, ChangeSetName=name)
        if cs["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        time.sleep(0.5)
    if cs["Status"] == "FAILED":
        reason = cs.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            log("no changes", start)
            cfn.delete_change_set(StackName=args.stack, ChangeSetName=name)
            return 0
        print(f"cfn-deploy: the change set failed: {reason}", file=sys.stderr)
        return 1
    log(f"{len(cs.get('Changes', []))} resource changes; executing", start)
    cfn.execute_change_set(StackName=args.stack, ChangeSetName=name)

    seen = set()
    deadline = time.monotonic() + args.timeout
    while True:
        status = stack_status(cfn, args.stack)
        for e in reversed(cfn.describe_stack_events(StackName=args.stack).get("StackEvents", [])):
            key = (e["LogicalResourceId"], e["ResourceStatus"], e["EventId"])
            if e["Timestamp"].timestamp() < since or key in seen:
                continue
            seen.add(key)
            if e["ResourceStatus"].endswith("_COMPLETE") and e["LogicalResourceId"] != args.stack:
                log(f"{e['ResourceStatus'].lower()}: {e['LogicalResourceId']} ({e['ResourceType']})", start)
        if status in DONE:
            log(f"stack {args.stack} is {status}", start)
            return 0
        if status is None or status.endswith(FAILED_SUFFIXES) or status == "UPDATE_ROLLBACK_COMPLETE":
            print(f"cfn-deploy: stack {args.stack} ended {status}; failed resources:", file=sys.stderr)
            for e in failed_events(cfn, args.stack, since):
                print(f"    {e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason')}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"cfn-deploy: stack {args.stack} still {status} after {args.timeout}s", file=sys.stderr)
            return 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
