#!/usr/bin/env bash
# make new-function NAME=<crate>: a new pattern function from templates/function (a
# cargo-lambda template): functions/<NAME>/ (Cargo.toml with deploy metadata, a wiring-only
# main.rs, one typed handler on the router with its unit tests, a sample event) and its
# resources as infra/patterns/<NAME>.yaml (queue, DLQ, alarm, rule, function), its sample
# event under events/<NAME>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
NAME="${NAME:-}"
if ! [[ "$NAME" =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]]; then
    echo "new-function: NAME=\`$NAME\` is not a name the kit takes: lowercase letters and digits in words joined by single hyphens, starting with a letter (e.g. NAME=order-audit)" >&2
    exit 2
fi
for taken in "functions/$NAME" "infra/patterns/$NAME.yaml" "events/$NAME"; do
    [ ! -e "$taken" ] || { echo "new-function: $taken already exists; pick another NAME" >&2; exit 2; }
done
cargo_lambda="build/tools-venv/bin/cargo-lambda"
(cd functions && "../$cargo_lambda" lambda new --template ../templates/function --no-interactive "$NAME")
rm -f "functions/$NAME/CargoLambda.toml"   # the template's own settings, not the function's
mv "functions/$NAME/infra.yaml" "infra/patterns/$NAME.yaml"
mkdir -p "events/$NAME"
mv "functions/$NAME/events/"* "events/$NAME/" && rmdir "functions/$NAME/events"
cat <<NEXT
new-function: created functions/$NAME/, events/$NAME/ and infra/patterns/$NAME.yaml. Next:
  cargo test -p $NAME                  # its unit tests, the sample event included
  make infra                           # add it to infra/template.yaml and the README catalogue
  make deploy-local                    # deploy it with the rest
NEXT
