//! `make demo`: events through the deployed topology on LocalStack, narrated.
//!
//! Publishes ledger entries (one of them twice, one for an account that is not open) to the
//! bus, and shows where each went and what the Rust consumer did: the rule routes them to
//! the ledger queue, LocalStack's event source mapping invokes `p2p-consumer`, which posts
//! each entry once; the poison entry ends in the DLQ until the account is opened and the
//! DLQ redriven.

use std::time::{Duration, Instant};

use eventkit_e2e::stack::Stack;
use eventkit_e2e::unique;

fn step(n: u32, text: &str) {
    println!("\n\x1b[1m{n}. {text}\x1b[0m");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let stack = Stack::load().await?;
    let function = stack.output("P2PConsumerFunctionName")?;
    println!("Topology (stack outputs):");
    for key in [
        "BusName",
        "LedgerQueueUrl",
        "LedgerDlqUrl",
        "IdempotencyTableName",
        "LedgerTableName",
        "P2PConsumerFunctionName",
    ] {
        println!("  {key:<24} {}", stack.output(key)?);
    }

    let account = unique("alice");
    let closed = unique("bob");
    step(
        1,
        &format!("Open account {account}; leave {closed} unopened"),
    );
    stack.open_account(&account).await?;

    step(
        2,
        "Publish 4 envelopes to the bus (source eventkit.demo, type ledger.entry.posted)",
    );
    let first = Stack::entry(&account, 500);
    let second = first
        .caused(
            "eventkit.demo",
            "ledger.entry.posted",
            serde_json::json!({"account": account, "amount": -200}),
        )
        .with_subject(&account);
    let poison = Stack::entry(&closed, 1000);
    let published = [first.clone(), second.clone(), first.clone(), poison.clone()];
    for (e, note) in published.iter().zip([
        "",
        "  (caused by the first: same correlation id)",
        "  (the first again: a duplicate delivery)",
        "  (account not open: poison)",
    ]) {
        println!(
            "  id={} amount={} account={}{note}",
            &e.id[..8],
            e.data
                .as_ref()
                .map(|d| d["amount"].clone())
                .unwrap_or_default(),
            e.data
                .as_ref()
                .map(|d| d["account"].clone())
                .unwrap_or_default()
        );
    }
    let publish_time = Instant::now();
    stack.publisher.publish(&published).await?;

    step(3, &format!("The rule routes them to the ledger queue; LocalStack invokes {function} (the Rust binary)"));
    stack
        .wait_for_account(&account, (300, 2), Duration::from_secs(90))
        .await?;
    let (balance, entries) = stack.account(&account).await?.unwrap_or_default();
    println!("  {account}: balance {balance}, {entries} entries posted  (500 - 200; the duplicate was not applied twice)");
    println!(
        "  bus -> rule -> queue -> Lambda -> DynamoDB took {:.1?} from publish",
        publish_time.elapsed()
    );

    step(
        4,
        "The poison entry fails alone, is retried, and lands in the DLQ",
    );
    let waited = Instant::now();
    stack
        .wait_for_in_dlq(&poison.id, Duration::from_secs(120))
        .await?;
    println!(
        "  id={} is in {} after {:.0?} (maxReceiveCount redeliveries)",
        &poison.id[..8],
        stack.output("LedgerDlqUrl")?,
        waited.elapsed()
    );

    step(
        5,
        &format!("Fix the fault (open {closed}) and redrive the DLQ (the stack's Step Functions runbook)"),
    );
    stack.open_account(&closed).await?;
    stack.redrive_dlq().await?;
    stack
        .wait_for_account(&closed, (1000, 1), Duration::from_secs(90))
        .await?;
    println!("  {closed}: balance 1000, 1 entry posted; DLQ drained");

    step(
        6,
        "What the consumer logged (CloudWatch Logs, JSON, no payloads)",
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&eventkit_e2e::localstack_config().await);
    let out = logs
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{function}"))
        .filter_pattern("entry")
        .send()
        .await?;
    for event in out.events().iter().filter_map(|e| e.message()) {
        if event.contains(&account) || event.contains(&closed) {
            println!("  {}", event.trim());
        }
    }
    println!("\nDone in {:.0?}.", started.elapsed());
    Ok(())
}
