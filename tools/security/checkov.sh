#!/usr/bin/env bash
# checkov over the assembled template. checkov exits 0 when it cannot parse a file (and
# so checks nothing); this fails then too, and when it checked no resource at all.
set -euo pipefail
template=${1:-infra/template.yaml}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
build/checkov-venv/bin/checkov -f "$template" --framework cloudformation --compact --quiet --skip-download >"$out" 2>&1 || rc=$?
cat "$out"
if grep -q "Parsing errors: [1-9]\|YAML error parsing\|Failed to parse" "$out"; then
  echo "checkov.sh: checkov could not parse $template, so it checked nothing; fix the YAML (cfn-lint names the line)" >&2
  exit 1
fi
if ! grep -q "Passed checks: [1-9]" "$out"; then
  echo "checkov.sh: checkov passed no check on $template; is it the template?" >&2
  exit 1
fi
exit "$rc"
