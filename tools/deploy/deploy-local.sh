#!/usr/bin/env bash
# Builds every Lambda function and deploys infra/template.yaml to LocalStack with plain
# CloudFormation (`aws cloudformation package` + `deploy`), then prints the stack's
# outputs as KEY=VALUE lines and writes them to build/stack-outputs.env.
# Re-running updates the stack in place.
#
# Environment (all optional):
#   ENDPOINT    LocalStack endpoint            (default http://127.0.0.1:4566)
#   STACK       stack name                     (default eventkit)
#   TEMPLATE    template                       (default infra/template.yaml)
#   REGION      region                         (default us-east-1)
#   STAGE       Stage parameter                (default dev)
#   ARCH        Architecture parameter         (default x86_64; arm64 needs the
#               aarch64-unknown-linux-gnu Rust target installed)
#   PARAMETERS  extra Key=Value parameter overrides, space-separated
#   BUCKET      deployment artifact bucket     (default eventkit-deploy-artifacts)
#   PATTERNS    comma-separated pattern ids to deploy alone (with what they require),
#               e.g. PATTERNS=claim-check; default: every pattern (infra/template.yaml)
#   LAMBDA_PROFILE  Cargo profile of the functions (default `dev`: unoptimised, and on an
#               x86_64 Linux host built by plain `cargo build` from the artifacts the tests
#               and `make watch` already compiled, then stripped; `release` for what AWS
#               would run, built by cargo-lambda)
#   LAMBDA_COMPILER cargo-lambda compiler (default `cargo` on an x86_64 Linux host with
#               LOCALSTACK_MODE other than docker, where the functions run as local
#               processes; else `cargo-zigbuild`, which targets Lambda's glibc)
#   SKIP_BUILD=1  deploy what is in target/lambda without building
#   FORCE=1       deploy even when the stack was deployed from the same files and binaries
#   LAMBDA_DIR  Cargo Lambda output folder     (default <cargo target dir>/lambda)
#   LINT=0        skip cfn-lint (default: lint when cfn-lint is available)
#   OUTPUTS_FILE  where to write outputs       (default build/stack-outputs.env)
#   AWS_CLI     aws command                    (default build/venv/bin/aws, else `aws`)
#   CFN_LINT    cfn-lint command               (default build/venv/bin/cfn-lint, else `cfn-lint`)
#
# Exit status: 0 deployed; 1 anything failed (the message names the cause and the next
# step).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENDPOINT="${ENDPOINT:-http://127.0.0.1:4566}"
STACK="${STACK:-eventkit}"
REGION="${REGION:-us-east-1}"
STAGE="${STAGE:-dev}"
ARCH="${ARCH:-x86_64}"
BUCKET="${BUCKET:-eventkit-deploy-artifacts}"
TEMPLATE="${TEMPLATE:-$ROOT/infra/template.yaml}"
LAMBDA_PROFILE="${LAMBDA_PROFILE:-dev}"
if [ -z "${LAMBDA_COMPILER:-}" ]; then
    if [ "$(uname -sm)" = "Linux x86_64" ] && [ "${ARCH:-x86_64}" = x86_64 ] && [ "${LOCALSTACK_MODE:-host}" != docker ]; then
        LAMBDA_COMPILER=cargo
    else
        LAMBDA_COMPILER=cargo-zigbuild
    fi
fi
WORK="$ROOT/build/deploy/$STACK"
OUTPUTS_FILE="${OUTPUTS_FILE:-$ROOT/build/stack-outputs.env}"
PYTHON="${PYTHON:-python3}"

# LocalStack accepts any credentials; never let a user's real profile leak in here.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=
export AWS_DEFAULT_REGION="$REGION" AWS_REGION="$REGION" AWS_PAGER=""
unset AWS_PROFILE AWS_DEFAULT_PROFILE

if [ -z "${AWS_CLI:-}" ]; then
    if [ -x "$ROOT/build/venv/bin/aws" ]; then AWS_CLI="$ROOT/build/venv/bin/aws"; else AWS_CLI=aws; fi
fi
if [ -z "${CFN_LINT:-}" ]; then
    if [ -x "$ROOT/build/venv/bin/cfn-lint" ]; then CFN_LINT="$ROOT/build/venv/bin/cfn-lint"; else CFN_LINT=cfn-lint; fi
fi

START=$SECONDS
log() { echo "deploy-local: [$((SECONDS - START))s] $*" >&2; }
die() {
    echo "deploy-local: FAILED: $1" >&2
    [ -n "${2:-}" ] && echo "deploy-local: next step: $2" >&2
    exit 1
}
# AWS_ENDPOINT_URL as well as --endpoint-url: awscli v1's `cloudformation package` and
# `deploy` create their S3 clients without --endpoint-url and would upload to AWS.
aws_ls() { AWS_ENDPOINT_URL="$ENDPOINT" "$AWS_CLI" --endpoint-url "$ENDPOINT" --region "$REGION" "$@"; }

case "$ARCH" in
    x86_64) ARCH_FLAG=(--target x86_64-unknown-linux-gnu) ;;
    arm64) ARCH_FLAG=(--arm64) ;;
    *) die "ARCH=$ARCH is not x86_64 or arm64" "set ARCH=x86_64 or ARCH=arm64" ;;
esac

command -v "$AWS_CLI" >/dev/null 2>&1 \
    || die "AWS CLI not found ($AWS_CLI)" "run \`make localstack-install\` (it installs build/venv with awscli) or set AWS_CLI"
PYTHON="$(command -v "$PYTHON")" || die "${PYTHON} not found" "install Python 3 with PyYAML"
"$PYTHON" -c 'import yaml' 2>/dev/null || die "$PYTHON lacks PyYAML" "apt-get install python3-yaml, or set PYTHON=build/venv/bin/python"
# A Python with boto3 (LocalStack's venv has it) for localstack-leftovers.py.
BOTO_PYTHON=""
for p in "$ROOT/build/venv/bin/python" "$PYTHON"; do
    if [ -x "$p" ] && "$p" -c 'import boto3' 2>/dev/null; then BOTO_PYTHON="$p"; break; fi
done
[ -n "$BOTO_PYTHON" ] || die "no Python with boto3 found" "run \`make localstack-up\` (it installs build/venv)"
mkdir -p "$WORK"

# --- 1. LocalStack reachable? ----------------------------------------------------------
log "checking LocalStack at $ENDPOINT"
health="$(curl -fsS --max-time 5 "$ENDPOINT/_localstack/health" 2>/dev/null)" \
    || die "LocalStack is not reachable at $ENDPOINT" "run \`make localstack-up\` (or set ENDPOINT to a running LocalStack)"
for svc in cloudformation s3 lambda; do
    echo "$health" | "$PYTHON" -c "
import json, sys
s = json.load(sys.stdin).get('services', {}).get('$svc')
sys.exit(0 if s in ('available', 'running') else 1)" \
        || die "LocalStack at $ENDPOINT does not offer $svc" "restart it with \`make localstack-down localstack-up\`"
done

# --- 2. Template lint --------------------------------------------------------------------
# Every file under infra/ (the template and the definitions it references), hashed: a
# template that passed cfn-lint and then deployed is not linted or deployed again unchanged.
INFRA_DIGEST="$({ echo "$TEMPLATE"; find "$ROOT/infra" -type f ! -name '.template.*' -print0 \
    | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)"
if [ "${LINT:-1}" != 0 ] && command -v "$CFN_LINT" >/dev/null 2>&1; then
    if [ "$(cat "$WORK/linted" 2>/dev/null)" = "$INFRA_DIGEST" ]; then
        log "cfn-lint: infra/ is unchanged since it last passed"
    else
        log "cfn-lint ${TEMPLATE#"$ROOT"/}"
        set +e
        "$CFN_LINT" -- "$TEMPLATE" >&2
        rc=$?
        set -e
        # cfn-lint exit status is a bit set: 1 fatal, 2 error, 4 warning, 8 informational.
        if [ $((rc & 3)) -ne 0 ]; then
            die "${TEMPLATE#"$ROOT"/} has template errors (cfn-lint above)" "fix the template and re-run"
        fi
        echo "$INFRA_DIGEST" >"$WORK/linted"
    fi
fi
if [ -n "${PATTERNS:-}" ]; then
    log "assembling the template for PATTERNS=$PATTERNS"
    "$PYTHON" tools/infra/assemble.py --only "$PATTERNS" --out "$ROOT/infra/.template.$STACK.yaml" >&2 \
        || die "cannot assemble PATTERNS=$PATTERNS (see above)" "name patterns from \`$PYTHON tools/infra/assemble.py --list\`"
    # Beside the full template, so relative paths (state machine definitions) still resolve.
    TEMPLATE="$ROOT/infra/.template.$STACK.yaml"
fi
"$PYTHON" tools/deploy/prepare-template.py "$TEMPLATE" --list-binaries >"$WORK/binaries" \
    || die "${TEMPLATE#"$ROOT"/} cannot be read (see above)" "fix the template and re-run"

# --- 3. Build ------------------------------------------------------------------------------
TARGET_DIR="$(cargo metadata --no-deps --format-version 1 2>/dev/null \
    | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')" \
    || die "cargo metadata failed in $ROOT" "run \`cargo metadata --no-deps\` to see why"
LAMBDA_DIR="${LAMBDA_DIR:-$TARGET_DIR/lambda}"

if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "SKIP_BUILD=1: using what is in $LAMBDA_DIR"
else
    # The binaries the template's functions name.
    mapfile -t BINS <"$WORK/binaries"
    [ "${#BINS[@]}" -gt 0 ] || die "the template names no function binaries" "add a function (Metadata: BuildProperties: Binary)"

    bin_args=()
    for b in "${BINS[@]}"; do bin_args+=(--bin "$b"); done
    if [ "$LAMBDA_PROFILE" = dev ] && [ "$LAMBDA_COMPILER" = cargo ] && [ "$ARCH" = x86_64 ]; then
        # Functions that run as host processes: the host's own dev build, which shares every
        # dependency with `cargo test --workspace` and `make watch` (the workspace-hack crate
        # gives all selections one feature set); cargo-lambda's `--target` would compile
        # them all again into a folder of their own unless CARGO_BUILD_TARGET names the same
        # triple, as make does. Copied as cargo-lambda lays them out.
        log "cargo build --workspace (dev profile, ${#BINS[@]} functions; a first build takes several minutes)"
        cargo build --workspace "${bin_args[@]}" >&2 \
            || die "cargo build failed" "fix the compile errors above and re-run"
        # Under CARGO_BUILD_TARGET (make sets it) cargo writes to target/<triple>/debug.
        OUT_DIR="$TARGET_DIR/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug"
        for b in "${BINS[@]}"; do
            mkdir -p "$LAMBDA_DIR/$b"
            strip -o "$LAMBDA_DIR/$b/bootstrap" "$OUT_DIR/$b" \
                || die "could not strip $OUT_DIR/$b" "is binutils' strip installed?"
        done
    else
        tools/deploy/install-tools.sh >&2 \
            || die "could not install cargo-lambda" "run tools/deploy/install-tools.sh and fix what it reports"
        export PATH="$ROOT/build/tools-venv/bin:$PATH"
        log "cargo lambda build --profile $LAMBDA_PROFILE --compiler $LAMBDA_COMPILER ${ARCH_FLAG[*]} (${#BINS[@]} functions; a first build takes a few minutes)"
        if ! cargo lambda build --profile "$LAMBDA_PROFILE" --compiler "$LAMBDA_COMPILER" "${ARCH_FLAG[@]}" \
            --lambda-dir "$LAMBDA_DIR" "${bin_args[@]}" >&2; then
            hint="fix the compile errors above and re-run"
            [ "$ARCH" = arm64 ] && hint="an arm64 build needs \`rustup target add aarch64-unknown-linux-gnu\`; or deploy with ARCH=x86_64"
            die "cargo lambda build failed" "$hint"
        fi
    fi
fi

log "preparing template (CodeUri -> $LAMBDA_DIR/<binary>/)"
"$PYTHON" tools/deploy/prepare-template.py "$TEMPLATE" "$WORK/template.built.yaml" --lambda-dir "$LAMBDA_DIR" \
    || die "could not prepare the template (see above)" "build the functions (drop SKIP_BUILD) or fix the template"

# --- 3b. Deployed already? -------------------------------------------------------------------
# What the stack was last deployed from here: infra/, the settings, the built binaries, the
# stack's own id, status and last update (one re-created, rolled back or updated from
# elsewhere is deployed again), and the outputs file it wrote (another stack's deploy
# rewrites it). FORCE=1 deploys regardless.
deployed_from() {
    {
        echo "$INFRA_DIGEST $STAGE $ARCH ${PARAMETERS:-} ${PATTERNS:-} $LAMBDA_PROFILE $ENDPOINT"
        sha256sum "$WORK/template.built.yaml"
        while read -r b; do sha256sum "$LAMBDA_DIR/$b/bootstrap"; done <"$WORK/binaries"
        sha256sum "$OUTPUTS_FILE" 2>/dev/null || echo "no outputs"
        aws_ls cloudformation describe-stacks --stack-name "$STACK" --output text \
            --query 'Stacks[0].[StackId,StackStatus,CreationTime,LastUpdatedTime]' 2>/dev/null || echo none
    } | sha256sum | cut -d' ' -f1
}
if [ "${FORCE:-0}" != 1 ] && [ "$(cat "$WORK/deployed" 2>/dev/null)" = "$(deployed_from)" ]; then
    log "stack $STACK is deployed from these very files and binaries: nothing to do (FORCE=1 deploys anyway)"
    cat "$OUTPUTS_FILE"
    exit 0
fi
rm -f "$WORK/deployed"

# --- 4. Deployment bucket ------------------------------------------------------------------
if ! aws_ls s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
    log "creating deployment bucket s3://$BUCKET"
    aws_ls s3api create-bucket --bucket "$BUCKET" >/dev/null \
        || die "could not create bucket $BUCKET on $ENDPOINT" "check LocalStack's log"
fi

# --- 5. Stack state before deploying --------------------------------------------------------
stack_status() {
    aws_ls cloudformation describe-stacks --stack-name "$STACK" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}
status="$(stack_status)"
case "$status" in
    NONE | *_COMPLETE | REVIEW_IN_PROGRESS) ;;
    *_IN_PROGRESS)
        die "stack $STACK is busy ($status)" "wait until it settles, then re-run" ;;
esac
case "$status" in
    ROLLBACK_COMPLETE | ROLLBACK_FAILED | DELETE_FAILED)
        # A stack whose creation failed cannot be updated; it holds nothing worth keeping.
        # LocalStack does not roll back a failed creation, nor delete those resources with
        # the stack: delete them first, or their fixed names collide on the next create.
        log "stack $STACK is in $status (its creation failed earlier); deleting it and its leftovers first"
        if [ -n "$BOTO_PYTHON" ]; then
            "$BOTO_PYTHON" tools/deploy/localstack-leftovers.py --endpoint "$ENDPOINT" --region "$REGION" "$STACK" \
                || log "warning: some leftovers of $STACK remain (see above); if the next create says 'already exists', restart LocalStack"
        fi
        aws_ls cloudformation delete-stack --stack-name "$STACK"
        aws_ls cloudformation wait stack-delete-complete --stack-name "$STACK" \
            || die "could not delete stack $STACK (status $(stack_status))" \
                "delete it by hand: aws --endpoint-url $ENDPOINT cloudformation delete-stack --stack-name $STACK; or restart LocalStack"
        ;;
esac

# --- 6. Package and deploy ---------------------------------------------------------------
log "aws cloudformation package -> $WORK/template.packaged.yaml"
aws_ls cloudformation package --template-file "$WORK/template.built.yaml" \
    --s3-bucket "$BUCKET" --s3-prefix "$STACK" \
    --output-template-file "$WORK/template.packaged.yaml" >"$WORK/package.log" 2>&1 \
    || { cat "$WORK/package.log" >&2; die "aws cloudformation package failed (see above)" "check the template's local paths and the bucket"; }

log "deploying stack $STACK (Stage=$STAGE Architecture=$ARCH${PARAMETERS:+ $PARAMETERS})"
param_args=(--parameter "Stage=$STAGE" --parameter "Architecture=$ARCH")
for p in ${PARAMETERS:-}; do param_args+=(--parameter "$p"); done
if ! AWS_ENDPOINT_URL="$ENDPOINT" "$BOTO_PYTHON" tools/deploy/cfn-deploy.py --stack "$STACK" --bucket "$BUCKET" \
    --template "$WORK/template.packaged.yaml" --endpoint "$ENDPOINT" --region "$REGION" "${param_args[@]}"; then
    status="$(stack_status)"
    next="read the failed resources above (and LocalStack's log), fix the cause and re-run (a re-run first deletes a stack whose creation failed)"
    if grep -q "lambda-runtime" "$ROOT/build/localstack/localstack.log" 2>/dev/null; then
        next="if LocalStack tried to run Lambda in Docker (its default executor), start it with LAMBDA_RUNTIME_EXECUTOR=process, as \`make localstack-up\` does; then re-run"
    fi
    die "stack $STACK did not deploy (status $status)" "$next"
fi
status="$(stack_status)"
log "stack $STACK is $status"

# --- 7. Outputs ----------------------------------------------------------------------------
aws_ls cloudformation describe-stacks --stack-name "$STACK" --output json \
    --query 'Stacks[0].Outputs' >"$WORK/outputs.json" \
    || die "could not read the outputs of $STACK" "check LocalStack's log"
mkdir -p "$(dirname "$OUTPUTS_FILE")"
"$PYTHON" -c '
import json, sys
for o in sorted(json.load(open(sys.argv[1])) or [], key=lambda o: o["OutputKey"]):
    print("%s=%s" % (o["OutputKey"], o["OutputValue"]))' "$WORK/outputs.json" >"$OUTPUTS_FILE.tmp"
mv "$OUTPUTS_FILE.tmp" "$OUTPUTS_FILE"
# Resources LocalStack's CloudFormation accepts without creating (archives): create them.
"$BOTO_PYTHON" tools/deploy/localstack-gaps.py --stack "$STACK" --template "$WORK/template.packaged.yaml" \
    --outputs "$OUTPUTS_FILE" --endpoint "$ENDPOINT" --region "$REGION" \
    || die "could not create what LocalStack's CloudFormation skipped (see above)" "check LocalStack's log"
deployed_from >"$WORK/deployed"
cat "$OUTPUTS_FILE"
log "done in $((SECONDS - START))s; outputs written to ${OUTPUTS_FILE#"$ROOT"/}"
