#!/usr/bin/env python3
"""Least privilege, proven at run time: every AWS call a deployed principal made, judged
against that principal's policies as deployed.

LocalStack's community edition enforces no IAM. Its plugin (``eventkit_localstack.iam_calls``)
records each call made with a role's credentials (functions, event source mappings, Step
Functions tasks, EventBridge targets with a role) or by EventBridge for a rule, in
``build/localstack/iam-calls.jsonl``. This script turns each call into the IAM action(s) and
resource ARN(s) AWS authorises (``authorisations``), reads every role's policies back from
LocalStack's IAM, and evaluates each with moto's IAM policy evaluator
(``moto.iam.access_control.IAMPolicy``); calls EventBridge makes without a role are judged
by the target's resource policy (queue policy, function policy). Then it lists, per role,
each granted action (per statement resource) that no call used: each must be removed or
justified in the template: ``Metadata: IamAudit: Unexercised: {"<action>" or "<action>
<LogicalId of the resource>": reason}`` on the resource that owns the role (a function, a
state machine) or at the template's top level for every role.

The log covers one LocalStack run (``make localstack-up`` starts it empty); calls by roles
of other stacks or earlier deploys are counted and left out.

Usage:
  audit.py reset                 empty the call log
  audit.py report --stack NAME   judge the calls; exit 1 on any denied or unmapped call or
                                 unjustified unused grant; writes build/iam-audit/report.md

Known limits of the evaluator (moto 5): conditions other than StringEquals are not evaluated
(an ``ArnEquals aws:SourceArn`` on a queue policy counts as met), ``NotResource`` is not
supported, and matching is case-sensitive. Permission boundaries and SCPs: none are used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from urllib.parse import unquote, urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLS = os.environ.get("EVENTKIT_IAM_CALLS") or os.path.join(ROOT, "build/localstack/iam-calls.jsonl")
OUT_DIR = os.path.join(ROOT, "build/iam-audit")


class Unmapped(Exception):
    """A call this audit cannot turn into IAM actions and resources: add it to AUTHORISE."""


# ---- calls -> (action, resource) -----------------------------------------------------------
def _queue_arn(call, url_or_name):
    parts = [p for p in urlparse(url_or_name).path.split("/") if p] if "://" in url_or_name else [url_or_name]
    account = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else call["account"]
    return f"arn:aws:sqs:{call['region']}:{account}:{parts[-1]}"


def _table_arn(call, name, index=None):
    arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{call['region']}:{call['account']}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def _bus_arn(call, name):
    name = name or "default"
    return name if name.startswith("arn:") else f"arn:aws:events:{call['region']}:{call['account']}:event-bus/{name}"


def _function_arn(call, name, qualifier=None):
    if name.startswith("arn:"):
        arn = name
    elif ":" in name:  # "<account>:function:<name>" or "<name>:<qualifier>"
        arn = f"arn:aws:lambda:{call['region']}:{call['account']}:function:{name.split(':function:')[-1]}"
    else:
        arn = f"arn:aws:lambda:{call['region']}:{call['account']}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier and qualifier != "$LATEST" else arn


def _object_arn(p):
    return f"arn:aws:s3:::{p['Bucket']}/{unquote(str(p.get('Key', '')))}"


_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_S3_ACTION = {"HeadObject": "GetObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
              "CompleteMultipartUpload": "PutObject", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket",
              "HeadBucket": "ListBucket", "GetObjectAttributes": "GetObjectAttributes"}
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}
# Actions that take no resource (Resource "*" in every AWS policy that grants them).
_NO_RESOURCE = {"cloudwatch:PutMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                "xray:GetSamplingRules", "xray:GetSamplingTargets", "dynamodb:ListStreams",
                "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
# Calls no policy governs (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
_FREE = {("sts", "GetCallerIdentity")}


def authorisations(call):
    """[(iam action, resource arn)] AWS checks for one recorded call; Unmapped if unknown."""
    service, op, p = call["service"], call["operation"], call.get("params") or {}
    if (service, op) in _FREE:
        return []
    if service == "sqs":
        if op in ("StartMessageMoveTask", "ListMessageMoveTasks"):
            # A redrive also needs receive/delete on the DLQ and send on the destination:
            # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
            src = p["SourceArn"]
            out = [(f"sqs:{op}", src)]
            if op == "StartMessageMoveTask":
                out += [("sqs:ReceiveMessage", src), ("sqs:DeleteMessage", src), ("sqs:GetQueueAttributes", src)]
                if p.get("DestinationArn"):
                    out.append(("sqs:SendMessage", p["DestinationArn"]))
            return out
        target = p.get("QueueUrl") or p.get("QueueName")
        if not target:
            raise Unmapped(f"sqs:{op} names no queue")
        return [(f"sqs:{_SQS_BATCH.get(op, op)}", _queue_arn(call, target))]
    if service == "dynamodb":
        if op == "TransactWriteItems" or op == "TransactGetItems":
            out = []
            for item in p.get("TransactItems", []):
                for kind, body in item.items():
                    out.append((f"dynamodb:{_TRANSACT[kind]}", _table_arn(call, body["TableName"])))
            return out
        if op in ("BatchWriteItem", "BatchGetItem"):
            return [(f"dynamodb:{op}", _table_arn(call, t)) for t in p.get("RequestItems", [])]
        if "TableName" not in p:
            raise Unmapped(f"dynamodb:{op} names no table")
        return [(f"dynamodb:{op}", _table_arn(call, p["TableName"], p.get("IndexName")))]
    if service == "dynamodbstreams":
        if op == "ListStreams":
            return [("dynamodb:ListStreams", "*")]
        if not p.get("StreamArn"):
            raise Unmapped(f"dynamodb:{op} names no stream")
        return [(f"dynamodb:{op}", p["StreamArn"])]
    if service == "s3":
        if "Key" in p:
            return [(f"s3:{_S3_ACTION.get(op, op)}", _object_arn(p))]
        if "Bucket" in p:
            return [(f"s3:{_S3_ACTION.get(op, op)}", f"arn:aws:s3:::{p['Bucket']}")]
        raise Unmapped(f"s3:{op} names no bucket")
    if service == "events":
        if op == "PutEvents":
            buses = {e.get("EventBusName") for e in p.get("Entries", [])} or {None}
            return [("events:PutEvents", _bus_arn(call, b)) for b in sorted(buses, key=str)]
        raise Unmapped(f"events:{op}")
    if service == "stepfunctions":
        action = f"states:{op}"
        if action in _NO_RESOURCE:
            return [(action, "*")]
        arn = p.get("stateMachineArn") or p.get("executionArn")
        if not arn:
            raise Unmapped(f"states:{op} names no state machine or execution")
        return [(action, arn)]
    if service == "lambda":
        if op == "Invoke":
            return [("lambda:InvokeFunction", _function_arn(call, p["FunctionName"], p.get("Qualifier")))]
        if "FunctionName" in p:
            return [(f"lambda:{op}", _function_arn(call, p["FunctionName"], p.get("Qualifier")))]
        raise Unmapped(f"lambda:{op}")
    if service == "logs":
        group = p.get("logGroupName") or p.get("logGroupIdentifier")
        if not group:
            raise Unmapped(f"logs:{op} names no log group")
        arn = group if group.startswith("arn:") else f"arn:aws:logs:{call['region']}:{call['account']}:log-group:{group}"
        return [(f"logs:{op}", f"{arn}:*")]
    if service in ("cloudwatch", "xray"):
        return [(f"{service}:{op}", "*")]
    if service == "sns" and p.get("TopicArn"):
        return [(f"sns:{op}", p["TopicArn"])]
    raise Unmapped(f"{service}:{op}")


# ---- policies -------------------------------------------------------------------------------
def _managed_document(iam, arn):
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        return version["PolicyVersion"]["Document"]
    except Exception:
        # AWS managed policies SAM attaches, when LocalStack's IAM does not hold them: the
        # published documents moto ships.
        from moto.iam.aws_managed_policies import aws_managed_policies_data

        return json.loads(aws_managed_policies_data)[arn.rsplit("/", 1)[-1]]["Document"]


def _doc(value):
    return json.loads(unquote(value)) if isinstance(value, str) else value


def role_policies(iam, role_name):
    """{policy name: document} of a role: inline and attached."""
    out = {}
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        out[name] = _doc(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        out[attached["PolicyName"]] = _doc(_managed_document(iam, attached["PolicyArn"]))
    return out


def evaluate(documents, action, resource, conditions=None):
    """moto's verdict over a set of policy documents: explicit deny wins, then any allow."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    allowed = False
    for doc in documents:
        verdict = IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource, None, conditions)
        if verdict == PermissionResult.DENIED:
            return False
        allowed = allowed or verdict == PermissionResult.PERMITTED
    return allowed


def statements_for_service(document, principal_service):
    """The statements of a resource policy whose Principal names this AWS service."""
    out = []
    for st in _as_list(document.get("Statement")):
        services = _as_list((st.get("Principal") or {}).get("Service")) if isinstance(st.get("Principal"), dict) else []
        if principal_service in services:
            out.append({k: v for k, v in st.items() if k != "Principal"})
    return {"Version": "2012-10-17", "Statement": out}


def _as_list(value):
    return value if isinstance(value, list) else ([] if value is None else [value])


def resource_policy(clients, action, resource):
    """The resource policy AWS reads for a call a service makes without a role."""
    if action == "sqs:SendMessage":
        url = clients["sqs"].get_queue_url(QueueName=resource.rsplit(":", 1)[-1])["QueueUrl"]
        attrs = clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
        return json.loads(attrs["Policy"]) if "Policy" in attrs else {"Statement": []}
    if action == "lambda:InvokeFunction":
        try:
            return json.loads(clients["lambda"].get_policy(FunctionName=resource)["Policy"])
        except clients["lambda"].exceptions.ResourceNotFoundException:
            return {"Statement": []}
    if action.startswith("logs:"):
        # CloudWatch Logs' resource policies are per account and region, each naming log groups.
        docs = [json.loads(p["policyDocument"]) for p in clients["logs"].describe_resource_policies()["resourcePolicies"]]
        return {"Statement": [st for d in docs for st in _as_list(d.get("Statement"))]}
    raise Unmapped(f"no resource policy known for {action} on {resource}")


# ---- the template's justifications ----------------------------------------------------------
def justifications(template_path):
    """({owner logical id: {action: reason}}, {action: reason} for every role)."""
    sys.path.insert(0, os.path.join(ROOT, "tools/infra"))
    import yaml
    from assemble import CfnLoader

    with open(template_path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
    per_owner = {}
    for logical, res in (template.get("Resources") or {}).items():
        reasons = ((res.get("Metadata") or {}).get("IamAudit") or {}).get("Unexercised")
        if reasons:
            per_owner[logical] = reasons
    everywhere = ((template.get("Metadata") or {}).get("IamAudit") or {}).get("Unexercised") or {}
    return per_owner, everywhere


def source_name(arn):
    """What a service's source ARN names: a rule's name, an API's id."""
    if ":execute-api:" in arn:
        return arn.split(":", 5)[-1].split("/", 1)[0]
    return re.split(r"[:/]", arn)[-1]


def logical_id(names, arn):
    """The stack resource an ARN in a grant names (by its physical name), or None."""
    tail = arn.removesuffix("/*")
    for name, logical in names.items():
        if tail == name or tail.endswith((":" + name, "/" + name)) or f"/{name}/" in tail:
            return logical
    return None


# ---- report ---------------------------------------------------------------------------------
def report(args):
    import boto3

    kw = dict(endpoint_url=args.endpoint, region_name=args.region,
              aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106 (LocalStack)
    clients = {s: boto3.client(s, **kw) for s in ("iam", "sqs", "lambda", "logs", "cloudformation")}
    resources = clients["cloudformation"].describe_stack_resources(StackName=args.stack)["StackResources"]
    role_owner = {r["PhysicalResourceId"]: r["LogicalResourceId"] for r in resources
                  if r["ResourceType"] == "AWS::IAM::Role"}
    names = {r["PhysicalResourceId"].rstrip("/").rsplit("/", 1)[-1]: r["LogicalResourceId"] for r in resources
             if r.get("PhysicalResourceId")}
    # Physical ids as CloudFormation gives them (a rule on a custom bus is `<bus>|<rule>`).
    physical = {part for r in resources for part in re.split(r"[|/]", r.get("PhysicalResourceId") or "")}
    per_owner, everywhere = justifications(args.template)

    calls = []
    if os.path.exists(CALLS):
        with open(CALLS, encoding="utf-8") as f:
            calls = [json.loads(line) for line in f if line.strip()]
    policies, seen = {}, defaultdict(set)   # role name -> documents; role -> {(action, resource)}
    counts = defaultdict(int)
    denied, unmapped, foreign, internal = [], [], 0, 0
    for call in calls:
        role = call["role"].rsplit("/", 1)[-1] if call.get("role") else None
        if role and role not in role_owner:
            foreign += 1  # a role of another stack or an earlier deploy
            continue
        if not role and call.get("caller") == call.get("signing_name"):
            internal += 1  # a service calling itself (an archive's rule): no principal of ours
            continue
        if not role and source_name(call.get("source_arn") or "") not in physical:
            foreign += 1  # a rule or an API of another stack (the library tests make their own)
            continue
        who = role_owner.get(role) if role else f"{call['caller']} for {call['source_arn'].rsplit('/', 1)[-1]}"
        try:
            pairs = authorisations(call)
        except (Unmapped, KeyError) as e:
            unmapped.append((who, call["service"], call["operation"], str(e)))
            continue
        counts[who] += 1
        for action, resource in pairs:
            if role:
                if role not in policies:
                    policies[role] = role_policies(clients["iam"], role)
                seen[role].add((action, resource))
                ok = evaluate(policies[role].values(), action, resource)
            else:
                try:
                    policy = resource_policy(clients, action, resource)
                except Unmapped as e:
                    unmapped.append((who, call["service"], call["operation"], str(e)))
                    continue
                doc = statements_for_service(policy, f"{call['caller']}.amazonaws.com")
                ok = evaluate([doc], action, resource, {"aws:SourceArn": call["source_arn"]})
            if not ok:
                denied.append((who, action, resource))

    unused, justified = [], []
    for role, owner in sorted(role_owner.items(), key=lambda kv: kv[1]):
        if role not in policies:
            policies[role] = role_policies(clients["iam"], role)
        reasons = dict(everywhere, **per_owner.get(owner.removesuffix("Role"), {}), **per_owner.get(owner, {}))
        for pname, doc in policies[role].items():
            for st in _as_list(doc.get("Statement")):
                if st.get("Effect") != "Allow":
                    continue
                for action in _as_list(st.get("Action")):
                    for resource in _as_list(st.get("Resource")):
                        grant = {"Version": "2012-10-17",
                                 "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
                        if any(evaluate([grant], a, r) for a, r in seen[role]):
                            continue
                        why = reasons.get(f"{action} {logical_id(names, resource)}") or reasons.get(action)
                        (justified if why else unused).append((owner, pname, action, resource, why))

    os.makedirs(OUT_DIR, exist_ok=True)
    lines = [f"# IAM audit of stack {args.stack}", "",
             f"{len(calls)} calls recorded ({foreign} by roles, rules or APIs outside the stack, {internal} by a service "
             "to itself), "
             f"{len(role_owner)} roles, {len(denied)} denied, {len(unmapped)} unmapped, "
             f"{len(unused)} unused grants unjustified, {len(justified)} justified.", "",
             "| principal | calls evaluated | distinct (action, resource) |", "|---|---|---|"]
    for role, owner in sorted(role_owner.items(), key=lambda kv: kv[1]):
        lines.append(f"| {owner} | {counts.get(owner, 0)} | {len(seen[role])} |")
    for who in sorted(k for k in counts if k not in role_owner.values()):
        lines.append(f"| {who} (resource policy) | {counts[who]} | |")
    for title, rows in (("Denied", denied), ("Unmapped", unmapped),
                        ("Granted, never used, unjustified", unused), ("Granted, never used, justified", justified)):
        lines += ["", f"## {title} ({len(rows)})", ""] + [f"- {' | '.join(str(c) for c in r)}" for r in sorted(set(rows))]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(OUT_DIR, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    if not calls:
        print("iam-audit: no calls recorded: was LocalStack started with EVENTKIT_IAM_CALLS (make localstack-up does)?", file=sys.stderr)
        return 1
    if denied or unmapped or unused:
        print("iam-audit: FAILED: fix the template's policies (a denied call needs a grant; an unused grant is removed "
              "or justified under Metadata: IamAudit: Unexercised); report in build/iam-audit/report.md", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("reset")
    rep = sub.add_parser("report")
    rep.add_argument("--stack", default="eventkit")
    rep.add_argument("--template", default=os.path.join(ROOT, "infra/template.yaml"))
    rep.add_argument("--endpoint", default=os.environ.get("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4566"))
    rep.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    if args.command == "reset":
        os.makedirs(os.path.dirname(CALLS), exist_ok=True)
        open(CALLS, "w").close()
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
