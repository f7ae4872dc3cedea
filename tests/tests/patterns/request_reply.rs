//! Correlated request/reply: by queues (answered, a silent responder timing out, a late
//! reply, a duplicate reply and an unknown reply each dropped with a log line) and by Step
//! Functions task tokens (answered, failed, timed out).

use std::time::Duration;

use eventkit::Envelope;
use eventkit_contracts::stock::*;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

async fn start(stack: &Stack, sku: &str, timeout_ms: u64) -> anyhow::Result<String> {
    let command = Envelope::new(
        "eventkit.shop",
        START_CHECK,
        json!({"sku": sku, "quantity": 2, "timeout_ms": timeout_ms}),
    );
    let answer = stack
        .invoke(
            "StockRequesterFunctionName",
            &serde_json::to_value(&command)?,
        )
        .await?;
    Ok(answer["request_id"].as_str().unwrap_or_default().to_owned())
}

async fn result(stack: &Stack, id: &str) -> anyhow::Result<Value> {
    let query = Envelope::new("eventkit.shop", CHECK_RESULT, json!({"request_id": id}));
    stack
        .invoke("StockRequesterFunctionName", &serde_json::to_value(&query)?)
        .await
}

/// Waits for a check's outcome; a check that settles on another outcome fails at once,
/// saying which (a late answer shows as `timed_out`, not as a 60 s wait).
async fn wait_outcome(stack: &Stack, id: &str, outcome: &str) -> anyhow::Result<Value> {
    wait_for(&format!("check {id} to be {outcome}"), DEADLINE, || async {
        let r = result(stack, id).await?;
        let now = r["outcome"].as_str().unwrap_or_default();
        if now != outcome && matches!(now, "answered" | "timed_out") {
            anyhow::bail!("check {id} ended `{now}`, not `{outcome}`: {r}");
        }
        Ok((now == outcome).then_some(r))
    })
    .await
}

#[tokio::test]
async fn replies_are_matched_and_stray_ones_dropped_with_a_log_line() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let silent_sku = unique("silent");
    let (answered, silent, late, duplicate) = tokio::try_join!(
        // Checks meant to be answered get 30 s: a cold responder on a loaded 2-core machine
        // took more than 10 s once in a fresh-clone run.
        start(&stack, "mug", 30_000),
        start(&stack, &silent_sku, 1_000),
        start(&stack, "slow-2000-mug", 500),
        start(&stack, "dup-mug", 30_000),
    )?;
    let r = wait_outcome(&stack, &answered, "answered").await?;
    assert_eq!(
        r["reply"],
        json!({"sku": "mug", "on_hand": 25, "available": true})
    );
    // A silent responder: the check times out cleanly, with a typed result.
    let r = wait_outcome(&stack, &silent, "timed_out").await?;
    assert!(r["deadline_ms"].is_i64(), "{r}");
    // A reply after the deadline is dropped: the check stays timed out.
    stack
        .wait_for_log_lines(
            "StockRequesterFunctionName",
            &["late reply dropped", &late],
            1,
            DEADLINE,
        )
        .await?;
    assert_eq!(result(&stack, &late).await?["outcome"], "timed_out");
    // The second of two identical replies is dropped; the first answered.
    stack
        .wait_for_log_lines(
            "StockRequesterFunctionName",
            &["duplicate reply dropped", &duplicate],
            1,
            DEADLINE,
        )
        .await?;
    assert_eq!(result(&stack, &duplicate).await?["outcome"], "answered");
    // A reply nobody asked for.
    let stray = Envelope::new(
        RESPONDER,
        CHECK_REPLIED,
        json!({"sku": "mug", "on_hand": 1, "available": true}),
    );
    stack
        .send_raw("StockRepliesQueueUrl", &stray.to_json())
        .await?;
    stack
        .wait_for_log_lines(
            "StockRequesterFunctionName",
            &["unknown reply dropped", &stray.correlation_id],
            1,
            DEADLINE,
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_request_the_responder_cannot_answer_reaches_its_dlq() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let request = |id: &str| {
        Envelope::new(
            "eventkit.stock-requester",
            CHECK_REQUESTED,
            json!({"sku": "mug", "quantity": 1}),
        )
        .with_id(id.to_owned())
    };
    // A reply address off the allow-list: the responder must not write there.
    let mut forged = request(&unique("forged"));
    forged.extensions.insert(
        "replyto".into(),
        json!("https://sqs.us-east-1.amazonaws.com/000000000000/not-a-reply-queue"),
    );
    // No reply address at all.
    let nowhere = request(&unique("nowhere"));
    stack
        .send_raw("StockRequestsQueueUrl", &forged.to_json())
        .await?;
    stack
        .send_raw("StockRequestsQueueUrl", &nowhere.to_json())
        .await?;
    stack
        .wait_in_queue("StockRequestsDlqUrl", &forged.id, DEADLINE)
        .await?;
    stack
        .wait_in_queue("StockRequestsDlqUrl", &nowhere.id, DEADLINE)
        .await?;
    stack
        .wait_for_log_lines(
            "StockResponderFunctionName",
            &["is not allowed (REPLY_QUEUES)", &forged.id],
            1,
            DEADLINE,
        )
        .await?;
    Ok(())
}

async fn check_by_task_token(
    stack: &Stack,
    sku: &str,
    timeout_seconds: u64,
) -> anyhow::Result<Value> {
    let input = json!({"sku": sku, "quantity": 1, "timeout_seconds": timeout_seconds, "correlation_id": unique("corr")});
    stack
        .execute_ok("StockCheckStateMachineArn", Some(&unique("check")), &input)
        .await
}

#[tokio::test]
async fn a_task_token_is_answered_failed_or_timed_out() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let (answered, failed, timed_out) = tokio::try_join!(
        check_by_task_token(&stack, "ebook", 20),
        check_by_task_token(&stack, "no-such-sku", 20),
        check_by_task_token(&stack, "silent-token", 2),
    )?;
    assert_eq!(answered["outcome"], "answered", "{answered}");
    assert_eq!(
        answered["reply"],
        json!({"sku": "ebook", "on_hand": 1000, "available": true})
    );
    assert_eq!(
        (failed["outcome"].as_str(), failed["error"].as_str()),
        (Some("failed"), Some("UnknownSku")),
        "{failed}"
    );
    assert_eq!(timed_out["outcome"], "timed_out", "{timed_out}");
    Ok(())
}
