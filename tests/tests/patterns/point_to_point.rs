//! The deployed first pipeline, through the AWS SDK only: envelopes on the bus, a rule
//! routing by envelope fields to a queue, LocalStack's event source mapping invoking the
//! real Rust `p2p-consumer` binary, effects applied once in DynamoDB; a poison record in
//! the DLQ while its batch-mates succeed; a redrive after the fix completes it.

use std::time::Duration;

use eventkit::Envelope;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::unique;
use serde_json::json;

#[tokio::test]
async fn bus_to_queue_to_rust_lambda_applies_each_effect_once() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let account = unique("acc");
    let unopened = unique("closed");
    stack.open_account(&account).await?;

    // 20 distinct entries, 4 of them delivered twice (20% duplicates), one poison entry
    // for an account that is not open, and one event no rule routes.
    let entries: Vec<Envelope> = (1..=20).map(|i| Stack::entry(&account, i)).collect();
    let poison = Stack::entry(&unopened, 1000);
    let unrouted = Envelope::new(
        "eventkit.demo",
        "ledger.entry.voided",
        json!({"account": account, "amount": 1}),
    );
    let mut published: Vec<Envelope> = entries.clone();
    published.extend(entries.iter().take(4).cloned());
    published.push(poison.clone());
    published.push(unrouted);
    stack.publisher.publish(&published).await?;

    let expected_balance: i64 = (1..=20).sum();
    stack
        .wait_for_account(&account, (expected_balance, 20), Duration::from_secs(90))
        .await?;

    // The poison entry fails alone, is retried maxReceiveCount times, then sits in the DLQ.
    stack
        .wait_for_in_dlq(&poison.id, Duration::from_secs(120))
        .await?;
    // Duplicates never moved the balance twice, and the poison entry never half-applied.
    assert_eq!(stack.account(&account).await?, Some((expected_balance, 20)));
    assert_eq!(stack.account(&unopened).await?, None);

    // Fix the fault (open the account), redrive the DLQ: the entry completes.
    stack.open_account(&unopened).await?;
    stack.redrive_dlq().await?;
    stack
        .wait_for_account(&unopened, (1000, 1), Duration::from_secs(90))
        .await?;
    assert_eq!(stack.account(&account).await?, Some((expected_balance, 20)));
    Ok(())
}
