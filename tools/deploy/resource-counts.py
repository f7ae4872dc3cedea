#!/usr/bin/env python3
"""What a deploy of a SAM template creates: its resources per CloudFormation type after the
SAM transform, as AWS's own transform (aws-sam-translator, the library SAM CLI and
CloudFormation run) expands them, under the template's default parameters (or
`--parameter Key=Value` overrides). Resources whose condition is false are left out.

Usage:
  resource-counts.py [TEMPLATE] [--parameter Key=Value ...] [--json]

Needs cfn-lint and aws-sam-translator (both in build/venv and build/sam-venv). Prints a
Markdown table: type, count; and the declared (pre-transform) types beside it.
"""

import argparse
import collections
import json
import os
import sys

import cfnlint.decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The transform asks for AWS managed policy ARNs only for policies named by their
    short name; the kit names none (every grant is written out)."""

    def load(self):
        return {}


def condition_value(conditions, name, parameters, seen=()):
    if name in seen:
        raise ValueError(f"condition {name} refers to itself")
    return evaluate(conditions, conditions[name], parameters, seen + (name,))


def evaluate(conditions, expr, parameters, seen):
    if isinstance(expr, dict) and len(expr) == 1:
        (fn, args), = expr.items()
        if fn == "Ref":
            return parameters[args]
        if fn == "Condition":
            return condition_value(conditions, args, parameters, seen)
        if fn == "Fn::Equals":
            a, b = (evaluate(conditions, x, parameters, seen) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not evaluate(conditions, args[0], parameters, seen)
        if fn == "Fn::And":
            return all(evaluate(conditions, x, parameters, seen) for x in args)
        if fn == "Fn::Or":
            return any(evaluate(conditions, x, parameters, seen) for x in args)
        raise ValueError(f"cannot evaluate {fn} in a condition")
    return expr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("template", nargs="?", default="infra/template.yaml")
    ap.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", action="store_true", help="print {type: count} as JSON")
    args = ap.parse_args()

    template, matches = cfnlint.decode.decode(args.template)
    if template is None:
        sys.exit(f"resource-counts: cannot read {args.template}: {matches}")
    template = json.loads(json.dumps(template))  # plain dicts for the translator
    parameters = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    for p in args.parameter:
        key, _, value = p.partition("=")
        if key not in parameters:
            sys.exit(f"resource-counts: the template has no parameter {key}")
        parameters[key] = value

    # The transform names the region in ARNs it writes; the counts do not depend on it.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    declared = collections.Counter(r["Type"] for r in template["Resources"].values())
    # Local code and definition paths become S3 locations, as `sam package` makes them.
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://artifacts/" + key
    expanded = transform(template, dict(parameters), NoManagedPolicies())
    conditions = expanded.get("Conditions", {})
    counts = collections.Counter()
    for resource in expanded["Resources"].values():
        condition = resource.get("Condition")
        if condition and not condition_value(conditions, condition, parameters):
            continue
        counts[resource["Type"]] += 1

    if args.json:
        print(json.dumps(dict(sorted(counts.items())), indent=2))
        return
    overrides = " ".join(args.parameter) or "the template's defaults"
    print(f"Resources of {args.template} after the SAM transform, with {overrides}:\n")
    print("| Type | Created | Declared in the template |")
    print("|---|---:|---:|")
    for kind in sorted(set(counts) | set(declared)):
        print(f"| `{kind}` | {counts.get(kind, 0)} | {declared.get(kind, 0) or ''} |")
    print(f"| **Total** | **{sum(counts.values())}** | {sum(declared.values())} |")


if __name__ == "__main__":
    main()
