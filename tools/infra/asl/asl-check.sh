#!/usr/bin/env bash
# Validates every state machine definition of infra/template.yaml (the files in
# infra/statemachines/ and any inline Definition/DefinitionString) with asl-validator, as
# CreateStateMachine would: LocalStack accepts definitions AWS refuses (duplicate state
# names across Parallel branches, unreachable states). Each definition gets its
# DefinitionSubstitutions first (tools/infra/aws_rules.py --asl-out), with values of the
# kind they have on AWS. Then checks the validator still refuses each definition in
# refused/. Installs asl-validator on first use (and when the committed lock changes) into
# build/asl-validator/, from the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
src="$root/tools/infra/asl"
dir="$root/build/asl-validator"
python="${PYTHON:-$root/build/venv/bin/python}"
"$root/tools/dev/npm-ci.sh" asl-check "$src" "$dir" node_modules/.bin/asl-validator
validator="$dir/node_modules/.bin/asl-validator"
"$python" "$root/tools/infra/aws_rules.py" "${1:-$root/infra/template.yaml}" --asl-out "$dir/definitions"
failed=0 checked=0
for f in "$dir"/definitions/*.asl.json; do
    [ -e "$f" ] || continue
    checked=$((checked + 1))
    "$validator" --silent --json-path "$f" || { failed=1; "$validator" --json-path "$f" >&2 || true; }
done
for f in "$src"/refused/*.asl.json; do
    if "$validator" --silent --json-path "$f"; then
        echo "asl-check: asl-validator accepts $f, which CreateStateMachine refuses" >&2; failed=1
    fi
done
[ "$failed" = 0 ] || { echo "asl-check: a state machine definition is invalid (above)" >&2; exit 1; }
echo "asl-check: $checked state machine definitions valid; $(ls "$src"/refused/*.asl.json | wc -l) refused fixtures refused"
