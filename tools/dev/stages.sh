#!/usr/bin/env bash
# Runs make targets one after another, each announced with what it does and how long it
# usually takes, and ends with a table of each stage's time (also when one fails).
# Usage: tools/dev/stages.sh <target>...   (make test calls it)
set -uo pipefail
declare -A usual=(
    [lint]="fmt, clippy, features, template drift, cfn-lint; ~1 min warm, 10-13 min on a fresh clone (compiles the workspace)"
    [unit-test]="unit and doc tests, no AWS; ~1 min warm, 4-6 min on a fresh clone"
    [e2e-test]="the library on LocalStack's APIs and the Python peers; ~1-2 min (first run installs LocalStack and the peers)"
    [executor-test]="the Lambda process executor on its own LocalStack; ~1 min"
    [patterns-test]="builds every function, deploys the stack, runs every pattern; ~4-5 min (the build ~2 min of it on a fresh clone)"
    [readme-test]="the README's commands as written, on the deployed stack; ~2-4 min (sam build reuses the tests' build)"
    [demo-test]="make demo on the deployed stack, every step's outcome checked, its page rendered in headless Chromium; ~2-3 min (the first run installs the browser, ~30 s)"
)
# A fresh clone's target/ and build/ grow to about 16 GB (measured); when the disk fills,
# the failure surfaces much later as an obscure linker error, so say it first.
need_gb=20
free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if [ ! -d target ] && [ "$free_gb" -lt "$need_gb" ]; then
    echo "stages: ${free_gb} GB free here; a first run grows target/ and build/ to about 16 GB and needs ${need_gb} free. Free some space (old clones' target/ folders) and run again." >&2
    exit 1
fi
echo "==> ${free_gb} GB free on this disk" >&2
names=() times=() results=()
status=0
for stage in "$@"; do
    echo "==> make $stage: ${usual[$stage]:-}" >&2
    start=$SECONDS
    if make --no-print-directory "$stage"; then result=ok; else result=FAILED; status=1; fi
    names+=("$stage") times+=($((SECONDS - start))) results+=("$result")
    [ "$status" -eq 0 ] || break
done
{
    echo
    printf '%-16s %8s  %s\n' stage seconds result
    total=0
    for i in "${!names[@]}"; do
        printf '%-16s %8d  %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
        total=$((total + times[i]))
    done
    printf '%-16s %8d\n' total "$total"
} >&2
exit "$status"
