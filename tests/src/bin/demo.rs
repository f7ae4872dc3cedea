//! `make demo`: events through the deployed topology on LocalStack, narrated.
//!
//! First the point-to-point ledger: entries published to the bus (one twice, one for an
//! account that is not open), each posted once by `p2p-consumer`; the poison entry ends in
//! the DLQ until the account is opened and the DLQ redriven. Then one order through the
//! front door, followed across the outbox, the bus, the sender router, three fan-out
//! targets and a cancellation; a 3 MiB document through the claim check; and one
//! customer change consumed as a notification and as state transfer.

use std::time::{Duration, Instant};

use eventkit_e2e::stack::Stack;
use eventkit_e2e::{http, unique, wait_for};
use serde_json::{json, Value};

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
    orders(&stack).await?;
    claim_check(&stack).await?;
    customers(&stack).await?;
    println!("\nDone in {:.0?}.", started.elapsed());
    Ok(())
}

const DEADLINE: Duration = Duration::from_secs(90);

/// One order through the front door, followed behind the bus.
async fn orders(stack: &Stack) -> anyhow::Result<()> {
    let base = stack.api_base()?;
    let customer = unique("carol");
    step(
        7,
        "POST /orders to the front door (API Gateway -> front-door)",
    );
    let order = json!({"customer": customer, "kind": "physical", "lines": [{"sku": "mug", "quantity": 2, "unit_price": 1250}]});
    let sent = Instant::now();
    let (status, accepted) = http(
        "POST",
        &format!("{base}/orders"),
        Some(&order),
        &[("Idempotency-Key", &unique("k"))],
    )
    .await?;
    let id = accepted["order_id"].as_str().unwrap_or_default().to_owned();
    println!("  {status} {accepted}");
    println!(
        "  the order and its order.placed envelope were written in one transaction (the outbox)"
    );

    step(8, "The outbox relay publishes it; the bus fans it out");
    let view = stack
        .wait_for_item("OrderViewsTableName", &id, "placed", DEADLINE, |i| {
            i["status"] == "PLACED"
        })
        .await?;
    println!(
        "  order view (queue target):        {} sequence {} after {:.1?}",
        view["status"],
        view["sequence"],
        sent.elapsed()
    );
    let totals = stack
        .wait_for_item(
            "CustomerTotalsTableName",
            &customer,
            "counted",
            DEADLINE,
            |i| i["orders"] == json!(1),
        )
        .await?;
    println!(
        "  customer totals (function target): {} order(s), {} spent",
        totals["orders"], totals["spent"]
    );
    let arn = stack.output("OrderFulfilmentStateMachineArn")?;
    let input = wait_for("the fulfilment workflow", DEADLINE, || async {
        for e in stack
            .sfn
            .list_executions()
            .state_machine_arn(&arn)
            .send()
            .await?
            .executions()
        {
            let d = stack
                .sfn
                .describe_execution()
                .execution_arn(e.execution_arn())
                .send()
                .await?;
            let input: Value = serde_json::from_str(d.input().unwrap_or("null"))?;
            if input["order_id"] == json!(id) {
                return Ok(Some(input));
            }
        }
        Ok(None)
    })
    .await?;
    println!("  fulfilment workflow (state machine target, input transformed): {input}");
    let routed = stack
        .collect_from(
            "WarehouseQueueUrl",
            |e| e.subject.as_deref() == Some(id.as_str()),
            |got| !got.is_empty(),
            DEADLINE,
        )
        .await?;
    println!(
        "  sender router: {} to the warehouse queue (physical order), caused by {}",
        routed[0].event_type,
        routed[0].causation_id.as_deref().unwrap_or("")
    );

    step(9, "POST /orders/{id}/cancel: the view applies it after the order, whatever the delivery order");
    let (status, _) = http(
        "POST",
        &format!("{base}/orders/{id}/cancel"),
        Some(&json!({"reason": "changed mind"})),
        &[],
    )
    .await?;
    let view = stack
        .wait_for_item("OrderViewsTableName", &id, "cancelled", DEADLINE, |i| {
            i["status"] == "CANCELLED"
        })
        .await?;
    println!(
        "  {status}; order view: {} sequence {}, correlation id {}",
        view["status"], view["sequence"], view["correlation_id"]
    );
    Ok(())
}

/// A document too large for any transport, by bus and by queue.
async fn claim_check(stack: &Stack) -> anyhow::Result<()> {
    step(
        10,
        "Claim check: a 3 MiB document, by bus (dataref) and by queue (SQS Extended Client format)",
    );
    let document = unique("doc");
    let command = eventkit::Envelope::new(
        "eventkit.demo",
        "document.produce",
        json!({"document_id": document, "size": 3 * 1024 * 1024}),
    );
    let answer = stack
        .invoke(
            "ClaimCheckProducerFunctionName",
            &serde_json::to_value(&command)?,
        )
        .await?;
    println!(
        "  produced {} ({} bytes, sha256 {}...)",
        document,
        answer["size"],
        &answer["sha256"].as_str().unwrap_or("")[..12]
    );
    for via in ["bus", "queue"] {
        let item = stack
            .wait_for_item(
                "DocumentsTableName",
                &format!("{document}#{via}"),
                "received",
                DEADLINE,
                |_| true,
            )
            .await?;
        println!(
            "  received by {via}: {} bytes, checksum verified after redeeming it from S3",
            item["size"]
        );
    }
    Ok(())
}

/// One customer change, as a thin notification and as fat state transfer.
async fn customers(stack: &Stack) -> anyhow::Result<()> {
    step(
        11,
        "A customer changes twice: a thin notification and a fat state-transfer event each time",
    );
    let customer = unique("dave");
    for (n, tier) in [(1, "silver"), (2, "gold")] {
        let command = eventkit::Envelope::new(
            "eventkit.demo",
            "customer.profile.update",
            json!({"customer_id": customer, "name": format!("Dave {n}"), "email": "dave@example.com", "tier": tier}),
        );
        stack
            .invoke(
                "CustomerServiceFunctionName",
                &serde_json::to_value(&command)?,
            )
            .await?;
    }
    let replica = stack
        .wait_for_item("CustomerReplicaTableName", &customer, "v2", DEADLINE, |i| {
            i["version"] == json!(2)
        })
        .await?;
    let notified = stack
        .wait_for_item(
            "CustomerNotifiedTableName",
            &customer,
            "v2",
            DEADLINE,
            |i| i["version"] == json!(2),
        )
        .await?;
    let calls = stack
        .item(
            "CustomerNotifiedTableName",
            &format!("callbacks#{customer}"),
        )
        .await?
        .unwrap_or_default();
    println!(
        "  state transfer replica: version {} (no call to the source)",
        replica["version"]
    );
    println!(
        "  notification replica:   version {} ({} callbacks to the source)",
        notified["version"], calls["attempts"]
    );
    Ok(())
}
