//! `eventkit dlq` against the deployed stack on LocalStack (`make patterns-test` runs it
//! after the patterns): a request with a forged reply address fails at the stock responder
//! until it reaches StockRequestsDLQ; the CLI lists that DLQ, shows the message and the
//! reason the responder logged, counts it with --dry-run, moves it back (it returns as a
//! new message: the move went through the source queue), and purges only with --yes.

use std::process::Command;
use std::time::{Duration, Instant};

use eventkit::Envelope;
use eventkit_testkit::target::{on_aws, stack_config};
use serde_json::json;

/// Runs the CLI: against LocalStack, or with `EVENTKIT_TARGET=aws` (`make aws-test`) with
/// the user's AWS settings and the stack `EVENTKIT_STACK` names.
fn eventkit(args: &[&str]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventkit"));
    command.args(args);
    if !on_aws() {
        command
            .env(
                "AWS_ENDPOINT_URL",
                std::env::var("LOCALSTACK_ENDPOINT")
                    .unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
            )
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    }
    let out = command.output().expect("the eventkit binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `args` until `done` accepts the output or `limit` passes.
fn until(args: &[&str], limit: Duration, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = eventkit(args);
        if ok && done(&out) {
            return out;
        }
        assert!(
            start.elapsed() < limit,
            "eventkit {} did not get there in {limit:?}; last output:\n{out}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn stack_output(key: &str) -> String {
    let outputs = std::fs::read_to_string(eventkit_testkit::stack_outputs_file())
        .expect("a deployed stack: make deploy-local (on AWS: make aws-deploy)");
    outputs
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no output {key}"))
        .to_owned()
}

#[test]
#[ignore = "needs the deployed stack: make patterns-test"]
fn a_dead_letter_is_listed_explained_counted_redriven_and_purged() {
    let id = format!("cli-forged-{}", std::process::id());
    // The requester's contract (its source), with a reply address off the allow-list.
    let mut forged = Envelope::new(
        "eventkit.stock-requester",
        "stock.check.requested",
        json!({"sku": "mug", "quantity": 1}),
    )
    .with_id(id.clone());
    forged.extensions.insert(
        "replyto".into(),
        json!("https://sqs.us-east-1.amazonaws.com/000000000000/not-a-reply-queue"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sqs = rt.block_on(async {
        if on_aws() {
            return aws_sdk_sqs::Client::new(&stack_config().await.unwrap());
        }
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(
                std::env::var("LOCALSTACK_ENDPOINT")
                    .unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
            )
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        aws_sdk_sqs::Client::new(&config)
    });
    rt.block_on(
        sqs.send_message()
            .queue_url(stack_output("StockRequestsQueueUrl"))
            .message_body(forged.to_json())
            .send(),
    )
    .unwrap();

    // Three failed receives later it waits in the DLQ, with the responder's reason.
    let peek = until(
        &["dlq", "peek", "StockRequestsDLQ"],
        Duration::from_secs(90),
        |out| out.contains(&id) && out.contains("is not allowed"),
    );
    let line = peek.lines().position(|l| l.contains(&id)).unwrap();
    assert!(
        peek.lines()
            .nth(line)
            .unwrap()
            .contains("stock.check.requested"),
        "{peek}"
    );
    assert!(
        peek.lines()
            .nth(line + 1)
            .unwrap()
            .contains("stock-responder: "),
        "the reason names the consumer:\n{peek}"
    );

    let list = until(&["dlq", "list"], Duration::from_secs(10), |out| {
        out.contains("StockRequestsDLQ")
    });
    let row = list
        .lines()
        .find(|l| l.starts_with("StockRequestsDLQ "))
        .unwrap_or_else(|| panic!("{list}"));
    let depth: i64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(depth >= 1 && row.contains("StockRequestsQueue"), "{row}");

    let (ok, out) = eventkit(&[
        "dlq",
        "redrive",
        "StockRequestsDLQ",
        "--type",
        "stock.check.requested",
        "--dry-run",
    ]);
    assert!(ok && out.contains("would move"), "{out}");
    let (ok, out) = eventkit(&[
        "dlq",
        "redrive",
        "StockRequestsDLQ",
        "--type",
        "no.such.type",
        "--dry-run",
    ]);
    assert!(ok && out.contains("would move 0 message(s)"), "{out}");
    assert!(
        eventkit(&["dlq", "peek", "StockRequestsDLQ"])
            .1
            .contains(&id),
        "a dry run moves nothing"
    );

    // The real move: back to StockRequestsQueue, where the responder fails it again and
    // SQS parks it again, as a new message (a new message id) carrying the same envelope.
    let message_id = |peek: &str| {
        peek.lines()
            .find(|l| l.contains(&id))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_owned)
    };
    let first = message_id(&peek).unwrap();
    let (ok, out) = eventkit(&["dlq", "redrive", "StockRequestsDLQ"]);
    assert!(ok && out.contains("moved"), "{out}");
    until(
        &["dlq", "peek", "StockRequestsDLQ"],
        Duration::from_secs(90),
        |out| message_id(out).is_some_and(|m| m != first),
    );

    let (ok, out) = eventkit(&["dlq", "purge", "StockRequestsDLQ"]);
    assert!(!ok && out.contains("add --yes"), "{out}");
    let (ok, out) = eventkit(&["dlq", "purge", "StockRequestsDLQ", "--yes"]);
    assert!(ok, "{out}");
    until(
        &["dlq", "peek", "StockRequestsDLQ"],
        Duration::from_secs(30),
        |out| !out.contains(&id),
    );
}

#[test]
#[ignore = "needs the deployed stack: make patterns-test"]
fn a_missing_stack_queue_or_file_is_named_and_a_sample_publishes() {
    let (ok, out) = eventkit(&["--stack", "no-such-stack", "dlq", "list"]);
    assert!(
        !ok && out.contains("stack `no-such-stack` was not found"),
        "{out}"
    );
    let (ok, out) = eventkit(&["dlq", "peek", "NoSuchDLQ"]);
    assert!(
        !ok && out.contains("`NoSuchDLQ` is not a dead-letter queue of this stack"),
        "{out}"
    );
    let (ok, out) = eventkit(&["publish", "--file", "Cargo.toml"]);
    assert!(!ok && out.contains("Cargo.toml is not JSON"), "{out}");
    let (ok, out) = eventkit(&[
        "publish",
        "--file",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/p2p-consumer/sqs-open-and-post.json"
        ),
    ]);
    assert!(ok && out.matches("published ledger.").count() == 3, "{out}");
}
