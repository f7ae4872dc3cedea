# Source this from the repository root, after `make deploy-local`:
#   source tools/dev/env.sh
# It puts the project's cargo-lambda (installed into build/tools-venv by the Makefile) on
# the PATH and points the AWS SDKs and CLIs at LocalStack. The deployed stack's outputs
# (table names, queue URLs, ...) are in build/stack-outputs.env; `make watch` reads a
# function's own settings from the deployed function instead.
_eventkit_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$_eventkit_root/build/tools-venv/bin:$_eventkit_root/build/venv/bin:$PATH"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
if [ -x "$_eventkit_root/build/tools-venv/bin/cargo-lambda" ]; then :; else
    echo "env.sh: cargo-lambda is not installed yet: run 'make tools' (or 'make deploy-local')" >&2
fi
unset _eventkit_root
