"""Prints a deployed function's environment as KEY=VALUE lines, for `make watch` and
`cargo lambda deploy --env-file`. The function is found by its binary: the deployed
function whose CodeUri/Binary in infra/template.yaml is that crate (or, with two or more
deployments of one crate, the one named with DEPLOYED=<FunctionName suffix>).

Usage: function-env.py <binary> [<deployed name suffix>]
Exit 2 with a one-line fix when the stack is not deployed, the name is unknown, or the
binary is deployed more than once and no suffix was given.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fail(message):
    print(f"function-env: {message}", file=sys.stderr)
    sys.exit(2)


def deployed_names(binary, stack):
    """The FunctionName of every function built from `binary`, in template order."""
    text = open(os.path.join(ROOT, "infra", "template.yaml")).read()
    names = []
    # Each function: `Binary: <binary>` in its Metadata, then `FunctionName: !Sub ${AWS::StackName}-<x>`.
    for block in re.split(r"\n  (?=[A-Za-z0-9]+:\n    Type: AWS::Serverless::Function)", text):
        if re.search(rf"\n        Binary: {re.escape(binary)}\n", block):
            m = re.search(r"FunctionName: !Sub \$\{AWS::StackName\}-([A-Za-z0-9-]+)", block)
            if m:
                names.append(m.group(1))
    return names


def main():
    if len(sys.argv) < 2:
        fail("usage: function-env.py <binary> [<deployed name suffix>]")
    binary, suffix = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None)
    stack = os.environ.get("STACK", "eventkit")
    if not os.path.isdir(os.path.join(ROOT, "functions", binary)):
        known = sorted(d for d in os.listdir(os.path.join(ROOT, "functions")) if not d.startswith("."))
        fail(f"no function crate `{binary}` under functions/; pick one of: {', '.join(known)}")
    if not os.path.exists(os.path.join(ROOT, "build", "stack-outputs.env")):
        fail("no deployed stack: run `make deploy-local` first")
    names = deployed_names(binary, stack)
    if not names:
        fail(f"`{binary}` is not deployed by infra/template.yaml; add it to infra/patterns/ and run `make infra deploy-local`")
    if suffix:
        if suffix not in names:
            fail(f"`{binary}` is deployed as {', '.join(names)}; DEPLOYED={suffix} is none of them")
        names = [suffix]
    elif len(names) > 1:
        fail(f"`{binary}` is deployed {len(names)} times ({', '.join(names)}): say which with DEPLOYED=<one of them>")
    import boto3  # after the checks above, which need no AWS

    client = boto3.client("lambda", endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    try:
        config = client.get_function_configuration(FunctionName=f"{stack}-{names[0]}")
    except client.exceptions.ResourceNotFoundException:
        fail(f"function {stack}-{names[0]} is not deployed (is LocalStack up? run `make deploy-local`)")
    except Exception as e:  # connection refused and the like
        fail(f"cannot read {stack}-{names[0]} from {client.meta.endpoint_url}: {e}; run `make deploy-local`")
    for key, value in sorted(config.get("Environment", {}).get("Variables", {}).items()):
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
