#!/usr/bin/env python3
"""Create what LocalStack's CloudFormation accepted but did not create, and fix the outputs.

LocalStack 4.9.2 "deploys" some resource types as placeholders (physical id `unknown`):
the stack succeeds, the resource does not exist. For the types the kit uses, this creates
the resource through the service's own API, as CloudFormation would have, and rewrites
the stack outputs that referred to it.

  AWS::Events::Archive   -> events:CreateArchive (name: ArchiveName, else <stack>-<logical id>)

Usage: localstack-gaps.py --stack NAME --template PACKAGED.yaml --outputs build/stack-outputs.env
       [--endpoint URL] [--region R]
Does nothing on a stack without placeholders (on AWS, or a fixed LocalStack).
"""

import argparse
import json
import sys

import boto3
import yaml


class Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}


Loader.add_multi_constructor("!", _tag)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--endpoint")
    p.add_argument("--region", default="us-east-1")
    args = p.parse_args()

    session = dict(endpoint_url=args.endpoint, region_name=args.region)
    cfn = boto3.client("cloudformation", **session)
    events = boto3.client("events", **session)
    with open(args.template, encoding="utf-8") as f:
        template = yaml.load(f, Loader=Loader)  # noqa: S506 (SafeLoader subclass)
    resources = template.get("Resources", {})
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId")
                for r in cfn.describe_stack_resources(StackName=args.stack)["StackResources"]}

    def resolve(value):
        """Ref and GetAtt ...Arn of resources the stack did create."""
        if isinstance(value, dict) and "Ref" in value:
            return physical[value["Ref"]]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            kind = resources[logical]["Type"]
            if kind == "AWS::Events::EventBus" and attr == "Arn":
                account = boto3.client("sts", **session).get_caller_identity()["Account"]
                return f"arn:aws:events:{args.region}:{account}:event-bus/{physical[logical]}"
            raise ValueError(f"cannot resolve {value}")
        return value

    made = {}  # logical id -> {"Ref": ..., "Arn": ...}
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::Events::Archive" or physical.get(logical) not in ("unknown", None):
            continue
        props = resource.get("Properties", {})
        name = props.get("ArchiveName") or f"{args.stack}-{logical}"[:48]
        request = {"ArchiveName": name, "EventSourceArn": resolve(props["SourceArn"])}
        if "EventPattern" in props:
            request["EventPattern"] = json.dumps(props["EventPattern"])
        if "RetentionDays" in props:
            request["RetentionDays"] = int(props["RetentionDays"])
        if "Description" in props:
            request["Description"] = props["Description"]
        try:
            arn = events.create_archive(**request)["ArchiveArn"]
        except events.exceptions.ResourceAlreadyExistsException:
            arn = events.describe_archive(ArchiveName=name)["ArchiveArn"]
        made[logical] = {"Ref": name, "Arn": arn}
        print(f"localstack-gaps: created {logical} (AWS::Events::Archive {name}), which LocalStack's CloudFormation skips", file=sys.stderr)
    if not made:
        return 0

    outputs = {}
    with open(args.outputs, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                outputs[k] = v
    for key, output in (template.get("Outputs") or {}).items():
        value = output.get("Value")
        if isinstance(value, dict) and value.get("Ref") in made:
            outputs[key] = made[value["Ref"]]["Ref"]
        elif isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in made:
            outputs[key] = made[value["Fn::GetAtt"][0]][value["Fn::GetAtt"][1]]
    with open(args.outputs, "w", encoding="utf-8") as f:
        for k in sorted(outputs):
            f.write(f"{k}={outputs[k]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
