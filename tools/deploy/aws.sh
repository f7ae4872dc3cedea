#!/usr/bin/env bash
# A stack of infra/template.yaml in an AWS account, through SAM CLI and the caller's usual
# AWS settings (AWS_PROFILE, SSO, environment, instance role): nothing here is specific to
# an emulator. `make aws-deploy` and `make aws-destroy` run it (docs/AWS.md).
#
#   aws.sh deploy   builds every function with `sam build` (cargo-lambda, release) and
#                   deploys with a non-interactive `sam deploy`, then writes the stack's
#                   outputs as KEY=VALUE lines to build/stack-outputs-<STACK>.env
#   aws.sh destroy  empties the stack's S3 bucket (CloudFormation cannot delete a bucket
#                   that holds objects), `sam delete --no-prompts` (the stack and the
#                   artifacts it uploaded), then deletes any /aws/lambda/<function> log group
#                   of the stack's functions that a late invocation recreated. The template
#                   retains nothing. SAM's managed bucket (stack aws-sam-cli-managed-default)
#                   serves every SAM deploy in the account and region, so it stays.
#
# Environment:
#   STACK       stack name (required; letters, digits and '-', at most 40 characters: the
#               template names functions <STACK>-<name>, and Lambda allows 64)
#   PARAMETERS  deploy: Key=Value parameter overrides, space-separated (default: the
#               template's defaults); the pattern suite's: FunctionTimeout=10
#               QueueVisibilityTimeout=12 TracesExporter=console LogEnvelopes=true
#   DRY_RUN=1   deploy: stop at the change set: create it, print it, do not execute it
#   BUCKET      deploy: S3 bucket for the artifacts (default: SAM's managed one, --resolve-s3)
#   REGION      region (default: the one the credential chain resolves)
#   SAM         sam command (default build/sam-venv/bin/sam, from `make sam-cli`)
#   PYTHON      a Python with boto3 (default build/sam-venv/bin/python)
#   TEMPLATE    deploy: template (default infra/template.yaml)
#   OUTPUTS_FILE  the outputs file (default build/stack-outputs-<STACK>.env; destroy deletes it)
#   SAM_BUILD_MODE, CARGO_LAMBDA_COMPILER  passed to sam build and cargo-lambda as set
#               (unset: release builds linked by zig, what Lambda runs)
#
# Exit status: 0 done (deploy with DRY_RUN=1: the change set created); 1 anything failed
# (the message names the cause and the next step); 2 a setting is missing or wrong.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

COMMAND="${1:-}"
case "$COMMAND" in
    deploy | destroy) ;;
    *) echo "usage: $0 deploy|destroy (settings in the environment: see the head of this file)" >&2; exit 2 ;;
esac
START=$SECONDS
log() { echo "aws-$COMMAND: [$((SECONDS - START))s] $*" >&2; }
die() {
    echo "aws-$COMMAND: FAILED: $1" >&2
    [ -n "${2:-}" ] && echo "aws-$COMMAND: next step: $2" >&2
    exit 1
}

if [ -z "${STACK:-}" ]; then
    echo "aws-$COMMAND: STACK is not set: name the stack, e.g. make aws-$COMMAND STACK=eventkit-dev" >&2
    exit 2
fi
if ! [[ "$STACK" =~ ^[A-Za-z][A-Za-z0-9-]{0,39}$ ]]; then
    echo "aws-$COMMAND: STACK=$STACK: a stack name here is a letter, then letters, digits or '-', 40 characters at most" >&2
    exit 2
fi
SAM="${SAM:-$ROOT/build/sam-venv/bin/sam}"
PYTHON="${PYTHON:-$ROOT/build/sam-venv/bin/python}"
TEMPLATE="${TEMPLATE:-$ROOT/infra/template.yaml}"
OUTPUTS_FILE="${OUTPUTS_FILE:-$ROOT/build/stack-outputs-$STACK.env}"
WORK="$ROOT/build/aws/$STACK"
export SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}" AWS_PAGER=""

[ -x "$SAM" ] || die "SAM CLI not found at $SAM" "run \`make sam-cli\` (or set SAM)"
REGION="${REGION:-$("$PYTHON" tools/deploy/aws-stack.py region)}" || exit 1
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"

deploy() {
    command -v cargo-lambda >/dev/null 2>&1 \
        || die "cargo-lambda is not on the PATH" "run tools/deploy/install-tools.sh and put build/tools-venv/bin on the PATH (make does)"
    params=()
    for p in ${PARAMETERS:-}; do
        [[ "$p" == *=* ]] || { echo "aws-deploy: PARAMETERS: \`$p\` is not Key=Value" >&2; exit 2; }
        params+=("$p")
    done
    param_args=()
    [ "${#params[@]}" -gt 0 ] && param_args=(--parameter-overrides "${params[@]}")

    # --- 1. Build -------------------------------------------------------------------------------
    mkdir -p "$WORK"
    log "sam build (${SAM_BUILD_MODE:-release} mode; cargo lambda build per function: a first release build takes a quarter of an hour on 2 cores)"
    "$SAM" build --template-file "$TEMPLATE" --build-dir "$WORK/sam-build" "${param_args[@]}" >&2 \
        || die "sam build failed (see above)" "fix what it reports; cargo-lambda needs zig (tools/deploy/install-tools.sh)"

    # --- 2. Deploy --------------------------------------------------------------------------------
    bucket_args=(--resolve-s3)
    [ -n "${BUCKET:-}" ] && bucket_args=(--s3-bucket "$BUCKET" --s3-prefix "$STACK")
    dry_args=()
    [ "${DRY_RUN:-0}" = 1 ] && dry_args=(--no-execute-changeset)
    log "sam deploy --stack-name $STACK --region $REGION${PARAMETERS:+ (PARAMETERS: $PARAMETERS)}${dry_args:+ (DRY_RUN: the change set only)}"
    "$SAM" deploy --template-file "$WORK/sam-build/template.yaml" --stack-name "$STACK" --region "$REGION" \
        --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND "${bucket_args[@]}" \
        --no-confirm-changeset --no-fail-on-empty-changeset --no-progressbar \
        "${param_args[@]}" "${dry_args[@]}" >&2 \
        || die "sam deploy of $STACK failed (see above)" \
            "read the failed resources above (aws cloudformation describe-stack-events --stack-name $STACK), fix the cause and re-run; make aws-destroy STACK=$STACK removes a stack that failed to create"

    if [ "${DRY_RUN:-0}" = 1 ]; then
        log "DRY_RUN=1: the change set above was created and not executed; nothing changed"
        log "deploy it with the same command without DRY_RUN; a new stack waits in REVIEW_IN_PROGRESS until then (make aws-destroy STACK=$STACK removes it)"
        exit 0
    fi

    # --- 3. Outputs ---------------------------------------------------------------------------------
    mkdir -p "$(dirname "$OUTPUTS_FILE")"
    "$PYTHON" tools/deploy/aws-stack.py outputs --stack "$STACK" --out "$OUTPUTS_FILE" \
        || die "could not read the outputs of $STACK (see above)"
    cat "$OUTPUTS_FILE"
    log "done in $((SECONDS - START))s; outputs written to ${OUTPUTS_FILE#"$ROOT"/}"
}

destroy() {
    local status
    status="$("$PYTHON" tools/deploy/aws-stack.py status --stack "$STACK")" || die "could not read stack $STACK (see above)"
    case "$status" in
        NONE)
            log "stack $STACK does not exist in $REGION: nothing to delete"
            rm -f "$OUTPUTS_FILE"
            return ;;
        REVIEW_IN_PROGRESS)
            # Only a DRY_RUN's change set: nothing was created, and sam delete cannot read a
            # template the stack does not have yet.
            log "stack $STACK holds only a change set (REVIEW_IN_PROGRESS); deleting it"
            "$PYTHON" tools/deploy/aws-stack.py delete-stack --stack "$STACK" || die "could not delete stack $STACK (see above)"
            rm -rf "$WORK"
            return ;;
    esac
    local names
    names="$("$PYTHON" tools/deploy/aws-stack.py function-names --stack "$STACK")" \
        || die "could not read the functions of $STACK (see above)"
    log "emptying the S3 buckets of $STACK ($REGION)"
    "$PYTHON" tools/deploy/aws-stack.py empty-buckets --stack "$STACK" || die "could not empty the stack's buckets (see above)"
    log "sam delete --stack-name $STACK --region $REGION"
    "$SAM" delete --stack-name "$STACK" --region "$REGION" --no-prompts >&2 \
        || die "sam delete of $STACK failed (see above)" \
            "read why (aws cloudformation describe-stack-events --stack-name $STACK), fix it and re-run"
    if [ -n "$names" ]; then
        # shellcheck disable=SC2086 # one function name a line, no spaces in them
        "$PYTHON" tools/deploy/aws-stack.py leftover-log-groups --delete $names \
            || die "could not delete the log groups the stack's functions left (see above)"
    fi
    rm -f "$OUTPUTS_FILE"
    rm -rf "$WORK"
    log "done in $((SECONDS - START))s: stack $STACK deleted"
}

"$COMMAND"
