#!/usr/bin/env bash
# make new-function NAME=<crate>: a new pattern function from templates/function (a
# cargo-lambda template): functions/<NAME>/ (Cargo.toml with deploy metadata, a wiring-only
# main.rs, one typed handler on the router with its unit tests, a sample event) and its
# resources as infra/patterns/<NAME>.yaml (queue, DLQ, alarm, rule, function), its sample
# event under events/<NAME>/.
# make new-crate NAME=<crate> DIR=<dir>: the same function as a crate of its own in
# <DIR>/<NAME>/, outside this workspace: its own [workspace], eventkit by path to this
# checkout's shared/ (with a version beside it, so the manifest also takes crates.io's),
# its sample event and template fragment kept inside it, and this checkout's Cargo.lock.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
NAME="${NAME:-}"
DIR="${DIR:-}"
if ! [[ "$NAME" =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]]; then
    echo "new-function: NAME=\`$NAME\` is not a name the kit takes: lowercase letters and digits in words joined by single hyphens, starting with a letter (e.g. NAME=order-audit)" >&2
    exit 2
fi
cargo_lambda="$ROOT/build/tools-venv/bin/cargo-lambda"

if [ -n "$DIR" ]; then
    DIR="$(realpath -m "$DIR")"
    case "$DIR/" in
        "$ROOT"/*) echo "new-crate: DIR=$DIR is inside this workspace; a crate of its own goes elsewhere (e.g. DIR=..), or use make new-function" >&2; exit 2 ;;
    esac
    [ ! -e "$DIR/$NAME" ] || { echo "new-crate: $DIR/$NAME already exists; pick another NAME or DIR" >&2; exit 2; }
    mkdir -p "$DIR"
    (cd "$DIR" && "$cargo_lambda" lambda new --template "$ROOT/templates/function" --no-interactive \
        --render-var "eventkit_path=$ROOT/shared" "$NAME")
    rm -f "$DIR/$NAME/CargoLambda.toml"
    # The versions the kit is tested with; cargo drops what the crate does not use.
    cp Cargo.lock "$DIR/$NAME/Cargo.lock"
    cat <<NEXT
new-crate: created $DIR/$NAME/ (eventkit from $ROOT/shared). Next:
  cd $DIR/$NAME && cargo test       # its unit tests, the sample event included
  cargo lambda build --release      # its bootstrap, for SAM or cargo lambda deploy
  infra.yaml is its resources as a fragment of the kit's template: merge it into yours.
NEXT
    exit 0
fi

for taken in "functions/$NAME" "infra/patterns/$NAME.yaml" "events/$NAME"; do
    [ ! -e "$taken" ] || { echo "new-function: $taken already exists; pick another NAME" >&2; exit 2; }
done
(cd functions && "$cargo_lambda" lambda new --template ../templates/function --no-interactive "$NAME")
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
