//! The deployed ledger consumer under faults, its real process killed or held at a chosen
//! point of an idempotent record by the kit's debug-build fault hook (`eventkitfault`,
//! `shared/src/fault.rs`; `make deploy-local` deploys debug builds):
//! - killed while it holds the `INPROGRESS` record, and killed after its effect committed:
//!   SQS redelivers after the visibility timeout, and each entry is posted once;
//! - one entry delivered to two concurrent invocations: one posts it, the other is told
//!   "in progress" and reports its record failed; its retry replays; one posting;
//! - a handler that panics on one record of a batch: that record alone is reported failed,
//!   the others are posted;
//! - a payload of the wrong type (a card number for the amount): the failure names the
//!   field, and the function's CloudWatch log never holds the value;
//! - its table throttling, then losing its answers (a copy of the consumer whose DynamoDB
//!   endpoint is a fault proxy, on a queue of its own): entries dead-lettered, nothing
//!   posted; after a redrive each posted once.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use eventkit::fault::EXTENSION;
use eventkit::idempotency::powertools_hash;
use eventkit::Envelope;
use eventkit_e2e::fault_proxy::{FaultProxy, Mode};
use eventkit_e2e::function_copy::{FunctionCopy, MAX_RECEIVES};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{queue_depth, skip_on_aws, unique, wait_for};
use serde_json::{json, Value};

/// Why the fault-hook tests skip on AWS.
const NO_FAULT_HOOKS: &str = "needs the debug build's fault hook (`eventkitfault`); \
    `make aws-deploy` deploys release builds (sam build), which have none";

fn with_fault(mut entry: Envelope, fault: &str) -> Envelope {
    entry.extensions.insert(EXTENSION.into(), json!(fault));
    entry
}

#[tokio::test]
async fn a_consumer_killed_mid_record_posts_each_entry_once() -> anyhow::Result<()> {
    skip_on_aws!(NO_FAULT_HOOKS);
    let stack = Stack::load().await?;
    let account = unique("crash");
    stack.open_account(&account).await?;
    let started = chrono::Utc::now();

    // Killed holding INPROGRESS: nothing posted; the redelivery (visibility timeout 12 s)
    // finds the record past its in-progress expiry (the invocation's remaining time,
    // under 10 s) and posts it.
    let before = with_fault(Stack::entry(&account, 100), "abort-before-handler");
    // Killed after the entry and its COMPLETED record committed in one transaction: the
    // redelivery replays; posting it again would make the balance 1100 + 1000.
    let after = with_fault(Stack::entry(&account, 1000), "abort-after-handler");
    stack
        .publisher
        .publish(&[before.clone(), after.clone()])
        .await?;

    let seen = [
        ("fault injected: aborting the process", &before.id),
        ("fault injected: aborting the process", &after.id),
        // The redelivery of the entry killed after its commit replays rather than posts.
        ("duplicate absorbed", &after.id),
    ];
    for (line, id) in seen {
        stack
            .wait_for_log_lines_since(
                "P2PConsumerFunctionName",
                &[line, id],
                1,
                Some(started),
                Duration::from_secs(120),
            )
            .await?;
    }
    stack
        .wait_for_account(&account, (1100, 2), Duration::from_secs(120))
        .await?;
    assert!(
        !stack.dlq_envelope_ids().await?.contains(&before.id),
        "the entry killed mid-record was dead-lettered"
    );
    Ok(())
}

#[tokio::test]
async fn one_entry_in_two_concurrent_invocations_is_posted_once() -> anyhow::Result<()> {
    skip_on_aws!(NO_FAULT_HOOKS);
    let stack = Stack::load().await?;
    let account = unique("twice");
    stack.open_account(&account).await?;
    // The first invocation holds the record INPROGRESS for 5 s after claiming it.
    let entry = with_fault(Stack::entry(&account, 7), "hold-5000");
    let batch = |message_id: &str| sqs_batch(message_id, &entry);

    let first = {
        let (stack, batch) = (Stack::load().await?, batch("first"));
        tokio::spawn(async move { stack.invoke("P2PConsumerFunctionName", &batch).await })
    };
    wait_until_in_progress(&stack, &entry).await?;
    let second = stack
        .invoke("P2PConsumerFunctionName", &batch("second"))
        .await?;
    assert_eq!(
        second,
        json!({"batchItemFailures": [{"itemIdentifier": "second"}]}),
        "the concurrent duplicate is told to retry"
    );
    let first = first.await??;
    assert_eq!(
        first,
        json!({"batchItemFailures": []}),
        "the first posts it"
    );
    let retried = stack
        .invoke("P2PConsumerFunctionName", &batch("second"))
        .await?;
    assert_eq!(
        retried,
        json!({"batchItemFailures": []}),
        "the retry replays"
    );
    assert_eq!(stack.account(&account).await?, Some((7, 1)));
    Ok(())
}

#[tokio::test]
async fn a_handler_panic_fails_its_record_alone() -> anyhow::Result<()> {
    skip_on_aws!(NO_FAULT_HOOKS);
    let stack = Stack::load().await?;
    let account = unique("panic");
    stack.open_account(&account).await?;
    let entries = [
        ("before", Stack::entry(&account, 5)),
        (
            "poison",
            with_fault(Stack::entry(&account, 50), "panic-in-handler"),
        ),
        ("after", Stack::entry(&account, 500)),
    ];
    let mut batch = json!({"Records": []});
    for (message_id, entry) in &entries {
        let record = sqs_batch(message_id, entry)["Records"][0].clone();
        batch["Records"]
            .as_array_mut()
            .expect("an array")
            .push(record);
    }
    // A partial batch response at all says the panic did not take the process down: a
    // crashed runtime answers the invocation with an error instead.
    let answer = stack.invoke("P2PConsumerFunctionName", &batch).await?;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "poison"}]}),
        "the panicking record alone is failed"
    );
    assert_eq!(stack.account(&account).await?, Some((505, 2)));
    Ok(())
}

/// The ledger table throttling, then losing every answer (each request applied, the answer
/// cut), under the real consumer binary with its DynamoDB endpoint
/// (`AWS_ENDPOINT_URL_DYNAMODB`) on a fault proxy: the SDK retries each call (standard
/// mode, 3 attempts, backoff with jitter), the record fails, returns to its queue and after
/// `maxReceiveCount` receives lands in the DLQ; nothing is posted. Once the table answers
/// again, `eventkit dlq redrive` moves the DLQ back and each entry is posted once, the ones
/// whose claim was applied unanswered included (their `INPROGRESS` record has expired). At
/// each quiet point entries sent == posted + dead-lettered.
#[tokio::test]
async fn a_failing_ledger_table_dead_letters_entries_and_a_redrive_posts_each_once(
) -> anyhow::Result<()> {
    skip_on_aws!(
        "needs a fault proxy on this machine's loopback in front of the table, which a \
         function on AWS cannot reach"
    );
    let stack = Stack::load().await?;
    let proxy = FaultProxy::in_front_of_localstack().await?;
    let copy = FunctionCopy::deploy(
        &stack,
        "P2PConsumerFunctionName",
        &[("AWS_ENDPOINT_URL_DYNAMODB", &proxy.endpoint())],
    )
    .await?;
    // Opened through the deployed consumer, whose table answers.
    let account = unique("outage");
    stack.open_account(&account).await?;

    let mut sent = 0;
    for (mode, amounts) in [
        (Mode::Throttle, [1, 2, 4]),
        (Mode::LoseResponses, [8, 16, 32]),
    ] {
        proxy.set(mode);
        let failed_before = proxy.failed();
        for amount in amounts {
            let entry = Stack::entry(&account, amount);
            stack
                .sqs
                .send_message()
                .queue_url(&copy.queue_url)
                .message_body(delivered_body(&entry))
                .send()
                .await?;
        }
        sent += amounts.len();
        wait_for(
            &format!("the entries sent under {mode:?} in the copy's DLQ"),
            Duration::from_secs(180),
            || async {
                let quiet = queue_depth(&stack.sqs, &copy.queue_url).await? == 0;
                Ok((quiet && queue_depth(&stack.sqs, &copy.dlq_url).await? == sent).then_some(()))
            },
        )
        .await?;
        assert_eq!(
            stack.account(&account).await?,
            Some((0, 0)),
            "{mode:?}: nothing posted while the table failed"
        );
        // Each entry was received MAX_RECEIVES times, each time trying its first call 3 times.
        let failed = proxy.failed() - failed_before;
        eprintln!("{mode:?}: {sent} entries dead-lettered, {failed} requests failed by the proxy");
        // An invocation killed at its timeout ends its retries early: name that if it happens.
        let timeouts = stack
            .group_log_lines(
                &format!("/aws/lambda/{}", copy.name),
                &["Task timed out"],
                None,
            )
            .await?
            .len();
        assert!(
            failed >= 3 * MAX_RECEIVES * amounts.len(),
            "{mode:?}: each receive retried its call ({failed} requests failed by the proxy, \
             {timeouts} invocations of the copy timed out)"
        );
    }

    proxy.set(Mode::Pass);
    let moved = eventkit_cli::dlq::redrive(
        &stack.sqs,
        &copy.dlq_url,
        &copy.queue_url,
        None,
        false,
        |_| {},
    )
    .await?;
    assert_eq!(moved, sent, "the redrive moves every dead-lettered entry");
    stack
        .wait_for_account(&account, (63, 6), Duration::from_secs(120))
        .await?;
    wait_for(
        "the copy's queue to drain",
        Duration::from_secs(60),
        || async { Ok((queue_depth(&stack.sqs, &copy.queue_url).await? == 0).then_some(())) },
    )
    .await?;
    assert_eq!(queue_depth(&stack.sqs, &copy.dlq_url).await?, 0);
    assert_eq!(
        stack.account(&account).await?,
        Some((63, 6)),
        "each entry posted once"
    );
    copy.remove(&stack).await
}

/// The body of the SQS message a bus rule delivers for `entry`.
fn delivered_body(entry: &Envelope) -> String {
    json!({
        "version": "0", "id": unique("eb"), "detail-type": entry.event_type,
        "source": entry.source, "account": "000000000000", "time": "2026-12-03T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": entry,
    })
    .to_string()
}

/// An SQS batch of one message carrying `entry` as a bus rule delivers it.
fn sqs_batch(message_id: &str, entry: &Envelope) -> Value {
    json!({"Records": [{
        "messageId": message_id, "receiptHandle": "rh", "body": delivered_body(entry),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ledger", "awsRegion": "us-east-1",
    }]})
}

/// Waits until the consumer holds `entry`'s idempotency record INPROGRESS.
async fn wait_until_in_progress(stack: &Stack, entry: &Envelope) -> anyhow::Result<()> {
    let key = format!(
        "{}.{}#{}",
        stack.output("P2PConsumerFunctionName")?,
        entry.event_type,
        powertools_hash(&Value::String(entry.id.clone()))
    );
    let table = stack.output("IdempotencyTableName")?;
    wait_for(
        "the first invocation to hold the record INPROGRESS",
        Duration::from_secs(30),
        || async {
            let item = stack
                .dynamodb
                .get_item()
                .table_name(&table)
                .key("id", AttributeValue::S(key.clone()))
                .consistent_read(true)
                .send()
                .await?;
            let status = item
                .item()
                .and_then(|i| i.get("status"))
                .and_then(|s| s.as_s().ok())
                .cloned();
            Ok((status.as_deref() == Some("INPROGRESS")).then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn a_payload_of_the_wrong_type_is_refused_without_reaching_the_logs() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let account = unique("leak");
    let started = chrono::Utc::now();
    // A producer's mistake: a card number where the amount belongs.
    let secret = format!("4111-1111-{}", unique("card"));
    let mut poison = Stack::entry(&account, 1);
    poison.data = Some(json!({"account": account, "amount": secret}));
    // Straight onto the queue, as the rule would deliver it: the bus's audit of contracts
    // (tests/tests/contracts.rs) would rightly refuse it.
    stack
        .send_raw("LedgerQueueUrl", &delivered_body(&poison))
        .await?;

    let failed = stack
        .wait_for_log_lines_since(
            "P2PConsumerFunctionName",
            &["record failed", &poison.id],
            1,
            Some(started),
            Duration::from_secs(60),
        )
        .await?;
    assert!(
        failed[0].contains("amount"),
        "the failure names the field at fault: {}",
        failed[0]
    );
    let leaked = stack
        .log_lines_since("P2PConsumerFunctionName", &[&secret], Some(started))
        .await?;
    assert!(
        leaked.is_empty(),
        "the payload reached the logs: {leaked:?}"
    );
    Ok(())
}
