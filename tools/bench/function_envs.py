#!/usr/bin/env python3
"""Print, for each Rust function of a SAM template, its binary and the environment a
deployment would give it, as one JSON list: [{"function", "binary", "env"}]. The cold-start
benchmark (`coldstart-bench`) starts each release bootstrap with it, so every function gets
past its own configuration checks without a deployed stack.

Intrinsics are resolved to what CloudFormation would produce in account 000000000000,
us-east-1, stack `eventkit`: a queue's Ref is its URL, a table's or bus's Ref its name,
GetAtt X.Arn an ARN, Sub substituted, parameters their default. Nothing is called.

Usage: function_envs.py TEMPLATE    (needs PyYAML)
"""

import importlib.util
import json
import pathlib
import sys

ACCOUNT, REGION, STACK = "000000000000", "us-east-1", "eventkit"
SERVICE = {"AWS::SQS::Queue": "sqs", "AWS::DynamoDB::Table": "dynamodb", "AWS::Events::EventBus": "events",
           "AWS::S3::Bucket": "s3", "AWS::SNS::Topic": "sns", "AWS::Serverless::StateMachine": "states",
           "AWS::StepFunctions::StateMachine": "states", "AWS::Serverless::Function": "lambda"}

spec = importlib.util.spec_from_file_location(
    "prepare_template", pathlib.Path(__file__).parent.parent / "deploy" / "prepare-template.py")
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)


def resolve(value, template):
    resources, parameters = template.get("Resources", {}), template.get("Parameters", {})

    def ref(name):
        pseudo = {"AWS::StackName": STACK, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in parameters:
            return str(parameters[name].get("Default", ""))
        kind = resources.get(name, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{name}"
        if kind.endswith("StateMachine"):
            return get_att(name, "Arn")
        return f"{STACK}-{name}"

    def get_att(name, attribute):
        kind = resources.get(name, {}).get("Type", "")
        service = SERVICE.get(kind, "unknown")
        if attribute == "Arn":
            if service == "s3":
                return f"arn:aws:s3:::{STACK}-{name}"
            if service == "dynamodb":
                return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-{name}"
            if service == "events":
                return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{STACK}-{name}"
            if service == "states":
                return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-{name}"
            return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{STACK}-{name}"
        if attribute == "QueueName" or attribute == "Name":
            return f"{STACK}-{name}"
        if attribute == "QueueUrl":
            return ref(name)
        return f"{STACK}-{name}-{attribute}"

    def sub(text, variables):
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            end = text.index("}", start)
            out.append(text[i:start])
            key = text[start + 2:end]
            if key.startswith("!"):
                out.append("${" + key[1:] + "}")
            elif key in variables:
                out.append(str(go(variables[key])))
            elif "." in key:
                out.append(get_att(*key.split(".", 1)))
            else:
                out.append(ref(key))
            i = end + 1
        return "".join(out) + text[i:]

    def go(v):
        if isinstance(v, dict) and len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref":
                return ref(arg)
            if k == "Fn::GetAtt":
                return get_att(*arg)
            if k == "Fn::Sub":
                return sub(arg, {}) if isinstance(arg, str) else sub(arg[0], arg[1])
            if k == "Fn::Join":
                return str(arg[0]).join(str(go(x)) for x in arg[1])
            if k == "Fn::If":
                return go(arg[1])
        if isinstance(v, (bool, int, float)):
            return json.dumps(v) if isinstance(v, bool) else str(v)
        return v

    return go(value)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    template = prepare.load(sys.argv[1])
    common = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    out = []
    for name, resource in template.get("Resources", {}).items():
        binary = prepare.cargo_lambda_binary(name, resource)
        if not binary:
            continue
        variables = dict(common)
        variables.update(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
        env = {k: str(resolve(v, template)) for k, v in variables.items()}
        out.append({"function": name, "binary": binary, "env": env})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
