#!/usr/bin/env python3
"""A deployed stack, through boto3 and the caller's usual AWS settings (credential chain,
region, and `AWS_ENDPOINT_URL` when set): what `make aws-deploy`, `aws-test` and
`aws-destroy` (tools/deploy/aws.sh) need besides SAM CLI.

  aws-stack.py region
      the region boto3 resolves (exit 1 with the reason when there is none)
  aws-stack.py outputs --stack NAME --out FILE [--expect-parameters "K=V ..."]
      writes the stack's outputs as sorted KEY=VALUE lines (the format of
      build/stack-outputs.env); with --expect-parameters, first fails unless the stack was
      deployed with those parameter values
  aws-stack.py status --stack NAME
      the stack's status, or NONE when it does not exist
  aws-stack.py delete-stack --stack NAME
      deletes the stack through CloudFormation and waits; for a stack `sam delete` cannot
      read (REVIEW_IN_PROGRESS: only the change set of a DRY_RUN, nothing created)
  aws-stack.py empty-buckets --stack NAME
      deletes every object (and object version) in the stack's S3 buckets, which
      CloudFormation cannot delete while they hold anything
  aws-stack.py function-names --stack NAME
      the physical names of the stack's Lambda functions, one a line
  aws-stack.py leftover-log-groups NAMES... [--delete]
      of /aws/lambda/<name> for each name, those that exist (a function that ran after
      its declared log group was deleted recreates it); --delete deletes them

Exit status: 0 done; 1 a failure, named on stderr.
"""

import argparse
import os
import sys

import boto3
import botocore.exceptions


def die(message, hint=None):
    print(f"aws-stack: {message}", file=sys.stderr)
    if hint:
        print(f"aws-stack: next step: {hint}", file=sys.stderr)
    sys.exit(1)


def session():
    # boto3 reads AWS_DEFAULT_REGION and the profile; the Rust SDK (the tests) AWS_REGION
    # first. Either will do.
    s = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    if not s.region_name:
        die(
            "no AWS region: neither AWS_REGION, AWS_DEFAULT_REGION nor the AWS profile names one",
            "export AWS_REGION=us-east-1 (or set region in your AWS profile)",
        )
    return s


def describe(cfn, stack):
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except botocore.exceptions.ClientError as e:
        if "does not exist" in str(e):
            die(f"stack {stack} does not exist in {cfn.meta.region_name}", f"deploy it: make aws-deploy STACK={stack}")
        raise


def outputs(args):
    s = session()
    stack = describe(s.client("cloudformation"), args.stack)
    if not stack["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in stack["StackStatus"]:
        die(f"stack {args.stack} is {stack['StackStatus']}", f"deploy it again: make aws-deploy STACK={args.stack}")
    if args.expect_parameters:
        deployed = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        wrong = []
        for pair in args.expect_parameters.split():
            key, _, want = pair.partition("=")
            if deployed.get(key) != want:
                wrong.append(f"{key}={deployed.get(key)} (the suite needs {want})")
        if wrong:
            die(
                f"stack {args.stack} was deployed with " + ", ".join(wrong)
                + "; the pattern suite's deadlines assume those values",
                f'make aws-deploy STACK={args.stack} PARAMETERS="{args.expect_parameters}"',
            )
    lines = sorted(f"{o['OutputKey']}={o['OutputValue']}" for o in stack.get("Outputs", []))
    if not lines:
        die(f"stack {args.stack} has no outputs")
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.out + ".tmp", args.out)
    print(f"aws-stack: {len(lines)} outputs of {args.stack} ({s.region_name}) written to {args.out}", file=sys.stderr)


def status(args):
    try:
        print(session().client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]["StackStatus"])
    except botocore.exceptions.ClientError as e:
        if "does not exist" not in str(e):
            raise
        print("NONE")


def delete_stack(args):
    cfn = session().client("cloudformation")
    cfn.delete_stack(StackName=args.stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=args.stack, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    print(f"aws-stack: deleted stack {args.stack}", file=sys.stderr)


def stack_resources(s, stack, kind):
    """Physical ids of the stack's resources of `kind`; none when the stack does not exist."""
    cfn = s.client("cloudformation")
    found = []
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                if r["ResourceType"] == kind and r.get("PhysicalResourceId") and r["ResourceStatus"] != "DELETE_COMPLETE":
                    found.append(r["PhysicalResourceId"])
    except botocore.exceptions.ClientError as e:
        if "does not exist" in str(e):
            return []
        raise
    return found


def empty_buckets(args):
    s = session()
    buckets = stack_resources(s, args.stack, "AWS::S3::Bucket")
    s3 = s.resource("s3")
    for name in buckets:
        bucket = s3.Bucket(name)
        try:
            deleted = sum(len(r.get("Deleted", [])) for r in bucket.object_versions.delete())
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchBucket":
                continue
            raise
        print(f"aws-stack: emptied s3://{name} ({deleted} object versions deleted)", file=sys.stderr)


def function_names(args):
    for name in sorted(stack_resources(session(), args.stack, "AWS::Lambda::Function")):
        print(name)


def leftover_log_groups(args):
    logs = session().client("logs")
    left = []
    for name in args.names:
        group = f"/aws/lambda/{name}"
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if any(g["logGroupName"] == group for g in found):
            left.append(group)
    for group in left:
        if args.delete:
            logs.delete_log_group(logGroupName=group)
            print(f"aws-stack: deleted log group {group}", file=sys.stderr)
        else:
            print(group)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("region")
    p = sub.add_parser("outputs")
    p.add_argument("--stack", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--expect-parameters", default="")
    for name in ("status", "delete-stack"):
        sub.add_parser(name).add_argument("--stack", required=True)
    p = sub.add_parser("empty-buckets")
    p.add_argument("--stack", required=True)
    p = sub.add_parser("function-names")
    p.add_argument("--stack", required=True)
    p = sub.add_parser("leftover-log-groups")
    p.add_argument("names", nargs="*")
    p.add_argument("--delete", action="store_true")
    args = ap.parse_args()
    try:
        if args.command == "region":
            print(session().region_name)
        elif args.command == "outputs":
            outputs(args)
        elif args.command == "status":
            status(args)
        elif args.command == "delete-stack":
            delete_stack(args)
        elif args.command == "empty-buckets":
            empty_buckets(args)
        elif args.command == "function-names":
            function_names(args)
        else:
            leftover_log_groups(args)
    except botocore.exceptions.NoCredentialsError:
        die("no AWS credentials found", "set AWS_PROFILE (aws sso login / aws configure), or the AWS_ACCESS_KEY_ID pair")
    except botocore.exceptions.ClientError as e:
        die(str(e))
    except botocore.exceptions.EndpointConnectionError as e:
        die(str(e), "check the network (and AWS_ENDPOINT_URL, if set)")
    except botocore.exceptions.BotoCoreError as e:
        die(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
