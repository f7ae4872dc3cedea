"""The template's security invariants, checked on every assembly (and so by `make lint`).

checkov (also in `make lint`) checks resources one by one against AWS-wide rules; this
module checks what it cannot: least privilege across the kit's own policies, and what the
reasons in infra/checkov-skips.yaml promise instead of the skipped check.

- IAM (functions', state machines' and roles' policies): no wildcard in an allowed action,
  no NotAction/NotResource, no `Resource: "*"` unless every action of the statement has no
  resource-level permissions, and a wildcard inside an ARN only for object keys under a
  bucket of the template. No SAM policy template or managed policy: every grant is written
  out, so a reader sees it whole.
- A wildcard principal only in a Deny statement.
- Encryption at rest: SSE on every queue, table and bucket; point-in-time recovery on every
  table; every public-access block on for every bucket and insecure transport denied.
- Failures of asynchronous invocations: a function EventBridge invokes directly has an
  OnFailure destination; a stream event source has an OnFailure queue.
"""

# Actions that take no resource-level permission, so `Resource: "*"` is their only form.
RESOURCE_STAR_ONLY = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    # Task tokens are not resources: the Service Authorization Reference lists no resource
    # type for these, so a statement naming a state machine never matches them.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _getatt(value):
    """(logical id, attribute) of a {"Fn::GetAtt": [...]}, else None."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list):
        return tuple(value["Fn::GetAtt"])
    return None


def _policy_documents(name, resource):
    """(where, policy document) for each policy the resource carries; problems for grants
    that are not written out."""
    kind = resource.get("Type")
    props = resource.get("Properties") or {}
    docs, problems = [], []
    if kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        for i, policy in enumerate(_list(props.get("Policies"))):
            if isinstance(policy, dict) and "Statement" in policy:
                docs.append((f"{name}.Policies[{i}]", policy))
            else:
                shown = policy if isinstance(policy, str) else next(iter(policy), policy)
                problems.append(f"{name}.Policies[{i}] is {shown!r}, a managed policy or SAM policy "
                                "template: write its statements out, each action on its resources")
    elif kind == "AWS::IAM::Role":
        for i, policy in enumerate(_list(props.get("Policies"))):
            docs.append((f"{name}.Policies[{i}]", policy.get("PolicyDocument") or {}))
        for arn in _list(props.get("ManagedPolicyArns")):
            problems.append(f"{name}.ManagedPolicyArns has {arn!r}: write its statements out")
    elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy",
                  "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
        docs.append((name, props.get("PolicyDocument") or {}))
    return docs, problems


def _resource_wildcard_ok(resource, buckets):
    """A wildcard inside an ARN is fine only for object keys under one of the template's
    buckets: `${Bucket.Arn}/...*`."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
        for bucket in buckets:
            if text.startswith("${" + bucket + ".Arn}/"):
                return True
    return False


def _statement_problems(where, statement, buckets):
    problems = []
    effect = statement.get("Effect")
    sid = statement.get("Sid")
    at = f"{where} statement {sid!r}" if sid else f"{where} statement"
    principal = statement.get("Principal")
    if principal == "*" or (isinstance(principal, dict) and "*" in _list(principal.get("AWS"))):
        if effect != "Deny":
            problems.append(f"{at} allows any principal ('*'): name the service or account")
    if effect != "Allow":
        return problems
    for key in ("NotAction", "NotResource"):
        if key in statement:
            problems.append(f"{at} uses {key}: grant named actions on named resources instead")
    actions = [a for a in _list(statement.get("Action")) if isinstance(a, str)]
    for action in actions:
        if "*" in action:
            problems.append(f"{at} allows {action!r}: list the actions it needs")
    if "Principal" in statement:
        # A resource policy's Resource is the resource it is attached to.
        return problems
    for resource in _list(statement.get("Resource")):
        if resource == "*":
            broad = sorted(a for a in actions if a not in RESOURCE_STAR_ONLY)
            if broad:
                problems.append(f"{at} allows {', '.join(broad)} on every resource ('*'): name the resources")
        elif isinstance(resource, str) and "*" in resource:
            problems.append(f"{at} has the resource {resource!r}: name the resource")
        elif isinstance(resource, dict) and "*" in str(resource) and not _resource_wildcard_ok(resource, buckets):
            problems.append(f"{at} has a wildcard in the resource {resource!r}: reference the resource "
                            "(!GetAtt / !Ref) or, from another fragment, give it a name and grant its exact ARN")
    return problems


def _rule_targets(resources):
    """Logical ids of functions some EventBridge rule invokes (asynchronously)."""
    targets = set()
    for resource in resources.values():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        for target in _list((resource.get("Properties") or {}).get("Targets")):
            ref = _getatt(target.get("Arn"))
            if ref and resources.get(ref[0], {}).get("Type") == "AWS::Serverless::Function":
                targets.add(ref[0])
    return targets


def security_problems(resources):
    """Every break of the invariants above, one readable line each (empty: none)."""
    problems = []
    buckets = {k for k, r in resources.items() if r.get("Type") == "AWS::S3::Bucket"}
    denied_insecure = set()
    for name, resource in sorted(resources.items()):
        docs, found = _policy_documents(name, resource)
        problems += found
        for where, doc in docs:
            for statement in _list(doc.get("Statement")):
                problems += _statement_problems(where, statement, buckets)
                condition = statement.get("Condition") or {}
                if (statement.get("Effect") == "Deny"
                        and str((condition.get("Bool") or {}).get("aws:SecureTransport")).lower() == "false"):
                    bucket = (resource.get("Properties") or {}).get("Bucket")
                    if isinstance(bucket, dict) and "Ref" in bucket:
                        denied_insecure.add(bucket["Ref"])

    for name, resource in sorted(resources.items()):
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == "AWS::SQS::Queue":
            if props.get("SqsManagedSseEnabled") is not True and not props.get("KmsMasterKeyId"):
                problems.append(f"{name}: a queue without encryption at rest: set SqsManagedSseEnabled: true")
        elif kind == "AWS::DynamoDB::Table":
            if (props.get("SSESpecification") or {}).get("SSEEnabled") is not True:
                problems.append(f"{name}: a table without SSESpecification: SSEEnabled: true")
            pitr = props.get("PointInTimeRecoverySpecification") or {}
            if pitr.get("PointInTimeRecoveryEnabled") is not True:
                problems.append(f"{name}: a table without point-in-time recovery: "
                                "PointInTimeRecoverySpecification: PointInTimeRecoveryEnabled: true")
        elif kind == "AWS::S3::Bucket":
            if not props.get("BucketEncryption"):
                problems.append(f"{name}: a bucket without BucketEncryption")
            block = props.get("PublicAccessBlockConfiguration") or {}
            for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                if block.get(key) is not True:
                    problems.append(f"{name}: PublicAccessBlockConfiguration.{key} is not true")
            if name not in denied_insecure:
                problems.append(f"{name}: no bucket policy denies aws:SecureTransport false")
        elif kind == "AWS::Lambda::EventSourceMapping" or kind == "AWS::Serverless::Function":
            sources = [props] if kind == "AWS::Lambda::EventSourceMapping" else [
                (e.get("Properties") or {}) | {"_type": e.get("Type")}
                for e in (props.get("Events") or {}).values()]
            for source in sources:
                stream = source.get("_type") in ("DynamoDB", "Kinesis") or any(
                    ":dynamodb:" in str(source.get("EventSourceArn", "")) or "StreamArn" in str(v)
                    for v in (source.get("EventSourceArn"), source.get("Stream")) if v)
                if stream and not ((source.get("DestinationConfig") or {}).get("OnFailure")):
                    problems.append(f"{name}: a stream event source without DestinationConfig.OnFailure "
                                    "(a batch that keeps failing would be dropped when the stream expires)")

    for fn in sorted(_rule_targets(resources)):
        config = (resources[fn].get("Properties") or {}).get("EventInvokeConfig") or {}
        if not (config.get("DestinationConfig") or {}).get("OnFailure"):
            problems.append(f"{fn}: EventBridge invokes it asynchronously, but it has no "
                            "EventInvokeConfig.DestinationConfig.OnFailure: a failed event would be lost")
    return problems
