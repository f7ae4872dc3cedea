"""Python's `jsonschema` on instances the Rust tests made: does it take each one?

Reads JSON lines from stdin, {"schema": <path>, "instance": <JSON text>}, and prints one
JSON list of booleans (valid or not), in order. The instance travels as text so that
json.loads reads its integers exactly, as a Python consumer would (2**64 stays 2**64).
Run by contracts/tests/bounds.rs with build/venv/bin/python.
"""

import json
import sys

from jsonschema import Draft202012Validator

validators = {}
verdicts = []
for line in sys.stdin:
    if not line.strip():
        continue
    case = json.loads(line)
    path = case["schema"]
    if path not in validators:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        validators[path] = Draft202012Validator(schema)
    verdicts.append(validators[path].is_valid(json.loads(case["instance"])))
print(json.dumps(verdicts))
