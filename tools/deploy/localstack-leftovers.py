#!/usr/bin/env python3
"""Delete what a failed stack left behind on LocalStack, before the stack itself is deleted.

LocalStack 4.9.2 does not roll back a failed stack creation: the stack reports
ROLLBACK_COMPLETE, but every resource created before the failure still exists, and
deleting the stack does not delete them either. The next creation then fails on the
resources with fixed names (the bus `<stack>-bus`, the functions `<stack>-<name>`, their
log groups): "already exists".

This script reads the stack's resources (still listed with their physical ids) and
deletes those of the types the kit's template uses. It never touches anything the stack
does not list. Real AWS does not need it; tools/deploy/deploy-local.sh only runs it
against LocalStack, for a stack in ROLLBACK_COMPLETE / ROLLBACK_FAILED / DELETE_FAILED.

Usage: localstack-leftovers.py --endpoint URL --region REGION STACK
Needs boto3 (build/venv has it). Exit 0 when nothing known is left; 1 otherwise.
"""

import argparse
import sys

import boto3
from botocore.exceptions import ClientError

NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchEntity",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "StateMachineDoesNotExist",
    "NotFoundException",
    "NotFound",
    "404",
}

# Deletion order: consumers before what they consume.
ORDER = [
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::Events::Rule",
    "AWS::Events::EventBus",
    "AWS::SQS::QueuePolicy",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::DynamoDB::Table",
    "AWS::S3::BucketPolicy",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::IAM::Role",
]
# Removed together with their parent (policies) or not stateful at all.
IMPLICIT = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::Lambda::Permission"}


class Deleter:
    def __init__(self, endpoint, region):
        self.session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region
        )
        self.endpoint = endpoint

    def client(self, name):
        return self.session.client(name, endpoint_url=self.endpoint)

    def delete(self, rtype, pid):
        if rtype == "AWS::Lambda::EventSourceMapping":
            self.client("lambda").delete_event_source_mapping(UUID=pid)
        elif rtype == "AWS::Lambda::Function":
            self.client("lambda").delete_function(FunctionName=pid)
        elif rtype == "AWS::StepFunctions::StateMachine":
            self.client("stepfunctions").delete_state_machine(stateMachineArn=pid)
        elif rtype == "AWS::Events::Rule":
            events = self.client("events")
            # LocalStack's physical id of a rule on a custom bus is "<bus>|<rule>".
            bus, _, rule = pid.rpartition("|")
            kwargs = {"Name": rule, "EventBusName": bus} if bus else {"Name": rule}
            targets = events.list_targets_by_rule(Rule=rule, **({"EventBusName": bus} if bus else {}))
            ids = [t["Id"] for t in targets.get("Targets", [])]
            if ids:
                events.remove_targets(Rule=rule, Ids=ids, Force=True, **({"EventBusName": bus} if bus else {}))
            events.delete_rule(Force=True, **kwargs)
        elif rtype == "AWS::Events::EventBus":
            events = self.client("events")
            for rule in events.list_rules(EventBusName=pid).get("Rules", []):
                self.delete("AWS::Events::Rule", f"{pid}|{rule['Name']}")
            events.delete_event_bus(Name=pid)
        elif rtype == "AWS::SQS::Queue":
            self.client("sqs").delete_queue(QueueUrl=pid)
        elif rtype == "AWS::SNS::Topic":
            self.client("sns").delete_topic(TopicArn=pid)
        elif rtype == "AWS::DynamoDB::Table":
            self.client("dynamodb").delete_table(TableName=pid)
        elif rtype == "AWS::S3::Bucket":
            s3 = self.client("s3")
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=pid):
                objects = [
                    {"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if objects:
                    s3.delete_objects(Bucket=pid, Delete={"Objects": objects, "Quiet": True})
            s3.delete_bucket(Bucket=pid)
        elif rtype == "AWS::Logs::LogGroup":
            self.client("logs").delete_log_group(logGroupName=pid)
        elif rtype == "AWS::CloudWatch::Alarm":
            self.client("cloudwatch").delete_alarms(AlarmNames=[pid])
        elif rtype == "AWS::IAM::Role":
            iam = self.client("iam")
            for name in iam.list_role_policies(RoleName=pid).get("PolicyNames", []):
                iam.delete_role_policy(RoleName=pid, PolicyName=name)
            for p in iam.list_attached_role_policies(RoleName=pid).get("AttachedPolicies", []):
                iam.detach_role_policy(RoleName=pid, PolicyArn=p["PolicyArn"])
            iam.delete_role(RoleName=pid)
        else:
            return False
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("stack")
    args = parser.parse_args()

    deleter = Deleter(args.endpoint, args.region)
    cfn = deleter.client("cloudformation")
    try:
        resources = cfn.describe_stack_resources(StackName=args.stack)["StackResources"]
    except ClientError as e:
        print(f"localstack-leftovers: cannot list the resources of {args.stack}: {e}", file=sys.stderr)
        return 1

    left = [
        r
        for r in resources
        if r.get("PhysicalResourceId") and r.get("ResourceStatus") not in ("DELETE_COMPLETE", "CREATE_FAILED")
        and r["ResourceType"] not in IMPLICIT
    ]
    rank = {t: i for i, t in enumerate(ORDER)}
    left.sort(key=lambda r: rank.get(r["ResourceType"], len(ORDER)))

    failures = 0
    for r in left:
        rtype, pid, logical = r["ResourceType"], r["PhysicalResourceId"], r["LogicalResourceId"]
        try:
            known = deleter.delete(rtype, pid)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in NOT_FOUND:
                continue
            print(f"localstack-leftovers: could not delete {logical} ({rtype} {pid}): {e}", file=sys.stderr)
            failures += 1
            continue
        if known:
            print(f"localstack-leftovers: deleted {logical} ({rtype} {pid})", file=sys.stderr)
        else:
            print(f"localstack-leftovers: left {logical} ({rtype} {pid}): type not handled", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
