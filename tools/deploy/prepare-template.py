#!/usr/bin/env python3
"""Turn infra/template.yaml into a template that `aws cloudformation package` can upload.

This does to the template what `sam build` does, without SAM CLI or Docker:

* every AWS::Serverless::Function whose Metadata says ``BuildMethod: rust-cargolambda``
  gets ``CodeUri`` = the Cargo Lambda output folder of its binary
  (``<lambda-dir>/<Metadata.BuildProperties.Binary>/``, holding ``bootstrap``), which must
  exist (build first: ``cargo lambda build --release --bin <Binary>``);
* every other local path (CodeUri, DefinitionUri, ContentUri, ...) is made absolute,
  since the output template lives in another folder than the input.

Usage:
  prepare-template.py INPUT OUTPUT [--lambda-dir target/lambda] [--list-binaries]

``--list-binaries`` prints the binary names the template needs, one per line, and writes
nothing. Needs PyYAML only. Exit status 2 = the template is unusable (message on stderr).
"""

import argparse
import json
import os
import sys

import yaml

# Resource type -> properties that may hold a local path for `cloudformation package`.
LOCAL_PATH_PROPERTIES = {
    "AWS::Serverless::Function": ["CodeUri"],
    "AWS::Serverless::StateMachine": ["DefinitionUri"],
    "AWS::Serverless::LayerVersion": ["ContentUri"],
    "AWS::Serverless::Api": ["DefinitionUri"],
    "AWS::Serverless::HttpApi": ["DefinitionUri"],
    "AWS::Lambda::Function": ["Code"],
    "AWS::StepFunctions::StateMachine": ["DefinitionS3Location"],
}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {"Fn::" + tag_suffix: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


class CfnDumper(yaml.SafeDumper):
    """Never emits aliases (CloudFormation rejects YAML anchors in some places)."""

    def ignore_aliases(self, data):
        return True


def fail(message):
    print(f"prepare-template: error: {message}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            template = yaml.load(f, Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    except yaml.YAMLError as e:
        fail(f"{path} is not valid YAML: {e}")
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        fail(f"{path} has no Resources section")
    return template


def cargo_lambda_binary(name, resource):
    """Binary name for a function built by Cargo Lambda, else None."""
    metadata = resource.get("Metadata") or {}
    if metadata.get("BuildMethod") != "rust-cargolambda":
        return None
    binary = (metadata.get("BuildProperties") or {}).get("Binary")
    if not isinstance(binary, str) or not binary:
        fail(f"{name}: Metadata.BuildProperties.Binary must name the Cargo binary")
    return binary


def is_local_path(value):
    return isinstance(value, str) and value and "://" not in value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output", nargs="?")
    parser.add_argument("--lambda-dir", default="target/lambda")
    parser.add_argument("--list-binaries", action="store_true")
    args = parser.parse_args()

    template = load(args.input)
    base = os.path.dirname(os.path.abspath(args.input))
    lambda_dir = os.path.abspath(args.lambda_dir)

    binaries = []
    for name, resource in template["Resources"].items():
        if not isinstance(resource, dict):
            fail(f"resource {name} is not a mapping")
        rtype = resource.get("Type")
        props = resource.get("Properties") or {}
        binary = cargo_lambda_binary(name, resource) if rtype == "AWS::Serverless::Function" else None
        if binary:
            binaries.append(binary)
            if args.list_binaries:
                continue
            folder = os.path.join(lambda_dir, binary)
            if not os.path.isfile(os.path.join(folder, "bootstrap")):
                fail(
                    f"{name}: {folder}/bootstrap does not exist; build it first: "
                    f"cargo lambda build --release --bin {binary}"
                )
            props["CodeUri"] = folder + os.sep
            resource["Properties"] = props
            # The build is done; what is left is a plain SAM function.
            resource.pop("Metadata", None)
            continue
        for prop in LOCAL_PATH_PROPERTIES.get(rtype, []):
            if is_local_path(props.get(prop)) and not os.path.isabs(props[prop]):
                path = os.path.normpath(os.path.join(base, props[prop]))
                if not os.path.exists(path):
                    fail(f"{name}: {prop} {props[prop]!r} does not exist ({path})")
                props[prop] = path

    if args.list_binaries:
        print("\n".join(sorted(set(binaries))))
        return
    if not args.output:
        fail("OUTPUT is required")
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(f"# Generated by tools/deploy/prepare-template.py from {args.input}; do not edit.\n")
        yaml.dump(template, f, Dumper=CfnDumper, sort_keys=False, default_flow_style=False, width=1000)


if __name__ == "__main__":
    main()
