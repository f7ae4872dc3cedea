//! `make demo`: every catalogue pattern through the deployed topology on LocalStack,
//! narrated, and drawn in `build/demo/index.html`. `PATTERN=<id>` runs one pattern's step.
//!
//! First the point-to-point ledger: entries published to the bus (one twice, one for an
//! account that is not open), each posted once by `p2p-consumer`; the poison entry ends in
//! the DLQ until the account is opened and the DLQ redriven. Then one order through the
//! front door, followed across the outbox, the bus, the sender router, three fan-out
//! targets and a cancellation; a 3 MiB document through the claim check; one customer
//! change consumed as a notification and as state transfer; then the coordination
//! patterns ([`coordination`]).

mod coordination;
mod page;

use std::path::Path;
use std::time::{Duration, Instant};

use eventkit_e2e::stack::Stack;
use eventkit_e2e::{http, unique, wait_for};
use page::Page;
use serde_json::{json, Value};

/// The catalogue's pattern ids, in the demo's order; the sections that show them.
const PATTERNS: &[&str] = &[
    "point-to-point",
    "front-door",
    "transactional-outbox",
    "bus-fanout",
    "sender-router",
    "claim-check",
    "notification-vs-state-transfer",
    "orchestrated-saga",
    "choreographed-saga",
    "request-reply",
    "scatter-gather",
    "event-sourcing",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let only = std::env::var("PATTERN").ok().filter(|p| !p.is_empty());
    if let Some(p) = &only {
        anyhow::ensure!(
            PATTERNS.contains(&p.as_str()),
            "PATTERN={p} is not a catalogue pattern; one of: {}",
            PATTERNS.join(", ")
        );
    }
    let runs = |ids: &[&str]| only.as_deref().is_none_or(|p| ids.contains(&p));
    let stack = Stack::load().await?;
    let mut page = Page::default();
    if runs(&["point-to-point"]) {
        ledger(&stack, &mut page).await?;
    }
    if runs(&[
        "front-door",
        "transactional-outbox",
        "bus-fanout",
        "sender-router",
    ]) {
        orders(&stack, &mut page).await?;
    }
    if runs(&["claim-check"]) {
        claim_check(&stack, &mut page).await?;
    }
    if runs(&["notification-vs-state-transfer"]) {
        customers(&stack, &mut page).await?;
    }
    if runs(&["orchestrated-saga"]) {
        coordination::orchestrated_saga(&stack, &mut page).await?;
    }
    if runs(&["choreographed-saga"]) {
        coordination::choreographed_saga(&stack, &mut page).await?;
    }
    if runs(&["request-reply"]) {
        coordination::request_reply(&stack, &mut page).await?;
    }
    if runs(&["scatter-gather"]) {
        coordination::scatter_gather(&stack, &mut page).await?;
    }
    if runs(&["event-sourcing"]) {
        coordination::event_sourcing(&stack, &mut page).await?;
    }
    let steps = page.finish();
    let total = started.elapsed().as_secs_f64();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    if only.is_none() {
        // Every pattern of the catalogue (infra/patterns/<id>.yaml) has its step.
        let mut catalogue: Vec<String> = std::fs::read_dir(root.join("infra/patterns"))?
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".yaml")
                    .map(str::to_owned)
            })
            .collect();
        catalogue.sort();
        let shown: std::collections::BTreeSet<&str> =
            steps.iter().map(|s| s.pattern.as_str()).collect();
        let missing: Vec<_> = catalogue
            .iter()
            .filter(|p| !shown.contains(p.as_str()))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "catalogue patterns the demo does not show: {missing:?}"
        );
    }
    let dir = root.join("build/demo");
    page::write(
        &dir,
        &steps,
        total,
        &root.join("build/mermaid/node_modules/mermaid/dist/mermaid.min.js"),
    )?;
    let unmet: Vec<_> = steps
        .iter()
        .filter(|s| s.outcome.as_ref().is_some_and(|(_, held)| !held))
        .map(|s| s.pattern.as_str())
        .collect();
    println!(
        "\nDone in {total:.0} s: {} steps; the page: {}",
        steps.len(),
        dir.join("index.html").display()
    );
    anyhow::ensure!(
        unmet.is_empty(),
        "steps whose outcome did not hold: {unmet:?}"
    );
    Ok(())
}

/// The point-to-point ledger: duplicates absorbed, a poison entry to the DLQ and back.
async fn ledger(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    let function = stack.output("P2PConsumerFunctionName")?;
    let account = unique("alice");
    let closed = unique("bob");
    page.step(
        "point-to-point",
        &format!("Point-to-point: open account {account}; leave {closed} unopened"),
    );
    for key in [
        "BusName",
        "LedgerQueueUrl",
        "LedgerDlqUrl",
        "LedgerTableName",
    ] {
        page.line(format!("{key:<16} {}", stack.output(key)?));
    }
    page.diagram(
        "flowchart LR\n    P[producer] -->|ledger.entry.posted| BUS((bus))\n    BUS -->|rule| Q[LedgerQueue]\n    Q --> F[p2p-consumer]\n    F -->|once per id| T[(LedgerTable)]\n    Q -.->|3 receives| DLQ[LedgerDLQ]\n    DLQ -.->|redrive runbook| Q\n"
            ,
    );
    stack.open_account(&account).await?;

    page.step(
        "point-to-point",
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
        page.line(format!(
            "id={} amount={} account={}{note}",
            &e.id[..8],
            e.data
                .as_ref()
                .map(|d| d["amount"].clone())
                .unwrap_or_default(),
            e.data
                .as_ref()
                .map(|d| d["account"].clone())
                .unwrap_or_default()
        ));
    }
    let publish_time = Instant::now();
    stack.publisher.publish(&published).await?;

    page.step("point-to-point", &format!("The rule routes them to the ledger queue; LocalStack invokes {function} (the Rust binary)"));
    stack
        .wait_for_account(&account, (300, 2), Duration::from_secs(90))
        .await?;
    let (balance, entries) = stack.account(&account).await?.unwrap_or_default();
    page.line(format!("{account}: balance {balance}, {entries} entries posted  (500 - 200; the duplicate was not applied twice)"));
    page.outcome("the duplicate applied once", (balance, entries) == (300, 2));
    page.line(format!(
        "bus -> rule -> queue -> Lambda -> DynamoDB took {:.1?} from publish",
        publish_time.elapsed()
    ));

    page.step(
        "point-to-point",
        "The poison entry fails alone, is retried, and lands in the DLQ",
    );
    let waited = Instant::now();
    stack
        .wait_for_in_dlq(&poison.id, Duration::from_secs(120))
        .await?;
    page.line(format!(
        "id={} is in {} after {:.0?} (maxReceiveCount redeliveries)",
        &poison.id[..8],
        stack.output("LedgerDlqUrl")?,
        waited.elapsed()
    ));

    page.step("point-to-point", &format!("Fix the fault (open {closed}) and redrive the DLQ (the stack's Step Functions runbook)"),
    );
    stack.open_account(&closed).await?;
    stack.redrive_dlq().await?;
    stack
        .wait_for_account(&closed, (1000, 1), Duration::from_secs(90))
        .await?;
    let redriven = stack.account(&closed).await?.unwrap_or_default();
    page.line(format!(
        "{closed}: balance {}, {} entry posted; DLQ drained",
        redriven.0, redriven.1
    ));
    page.look("cargo run -q -p eventkit-cli -- dlq list".to_owned());
    page.outcome(
        "the poison entry applied after the redrive",
        redriven == (1000, 1),
    );

    page.step(
        "point-to-point",
        "What the consumer logged (CloudWatch Logs, JSON, no payloads; the local stack's \
         LogEnvelopes=true adds each envelope whole, left out here)",
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&eventkit_e2e::localstack_config().await);
    let out = logs
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{function}"))
        .filter_pattern("entry")
        .send()
        .await?;
    for event in out.events().iter().filter_map(|e| e.message()) {
        let whole_envelope = event.contains("\"message\":\"envelope ");
        if (event.contains(&account) || event.contains(&closed)) && !whole_envelope {
            page.line(event.trim());
        }
    }
    Ok(())
}

const DEADLINE: Duration = Duration::from_secs(90);

/// One order through the front door, followed behind the bus.
async fn orders(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    let base = stack.api_base()?;
    let customer = unique("carol");
    page.step(
        "front-door",
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
    page.line(format!("{status} {accepted}"));
    page.outcome("accepted (202)", status == 202 && !id.is_empty());
    page.line(
        "the order and its order.placed envelope were written in one transaction (the outbox)",
    );

    page.step(
        "transactional-outbox",
        "The outbox relay publishes it; the bus fans it out",
    );
    let view = stack
        .wait_for_item("OrderViewsTableName", &id, "placed", DEADLINE, |i| {
            i["status"] == "PLACED"
        })
        .await?;
    page.line(format!(
        "order view (queue target):        {} sequence {} after {:.1?}",
        view["status"],
        view["sequence"],
        sent.elapsed()
    ));
    page.outcome("relayed to the bus", view["status"] == "PLACED");
    let totals = stack
        .wait_for_item(
            "CustomerTotalsTableName",
            &customer,
            "counted",
            DEADLINE,
            |i| i["orders"] == json!(1),
        )
        .await?;
    page.step(
        "bus-fanout",
        "Message router on the bus: one order.placed, three kinds of target",
    );
    page.line(format!(
        "customer totals (function target): {} order(s), {} spent",
        totals["orders"], totals["spent"]
    ));
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
    page.line(format!(
        "fulfilment workflow (state machine target, input transformed): {input}"
    ));
    page.outcome(
        "every target reached",
        totals["orders"] == json!(1) && input["order_id"] == json!(id),
    );
    page.step(
        "sender-router",
        "Sender router: the function picks the receiver queue from a routing table",
    );
    let routed = stack
        .collect_from(
            "WarehouseQueueUrl",
            |e| e.subject.as_deref() == Some(id.as_str()),
            |got| !got.is_empty(),
            DEADLINE,
        )
        .await?;
    page.line(format!(
        "sender router: {} to the warehouse queue (physical order), caused by {}",
        routed[0].event_type,
        routed[0].causation_id.as_deref().unwrap_or("")
    ));
    page.look(format!("the {} queue", stack.output("WarehouseQueueUrl")?));
    page.outcome(
        "routed to the warehouse, caused by the order",
        routed[0].event_type == "fulfilment.requested" && routed[0].causation_id.is_some(),
    );

    page.step("bus-fanout", "POST /orders/{id}/cancel: the view applies it after the order, whatever the delivery order");
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
    page.line(format!(
        "{status}; order view: {} sequence {}, correlation id {}",
        view["status"], view["sequence"], view["correlation_id"]
    ));
    // The whole conversation, from the audit log and the functions' spans.
    let correlation = view["correlation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let conversation = eventkit_cli::fetch::conversation(
        &stack.logs,
        &stack.name()?,
        &stack.output("AuditLogGroupName")?,
        &correlation,
    )
    .await?;
    page.diagram(conversation.render_mermaid());
    page.look(format!(
        "cargo run -q -p eventkit-cli -- trace {correlation}"
    ));
    page.outcome("cancelled after placed", view["status"] == "CANCELLED");
    Ok(())
}

/// A document too large for any transport, by bus and by queue.
async fn claim_check(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "claim-check",
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
    page.line(format!(
        "produced {} ({} bytes, sha256 {}...)",
        document,
        answer["size"],
        &answer["sha256"].as_str().unwrap_or("")[..12]
    ));
    let mut sizes = Vec::new();
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
        page.line(format!(
            "received by {via}: {} bytes, checksum verified after redeeming it from S3",
            item["size"]
        ));
        sizes.push(item["size"].clone());
    }
    page.diagram(
        "flowchart LR\n    P[claim-check-producer] -->|content| S3[(S3 bucket)]\n    P -->|envelope with dataref| BUS((bus))\n    P -->|Extended Client pointer| Q[DocumentsQueue]\n    BUS --> C[claim-check-consumer]\n    Q --> C\n    C -->|redeem| S3\n"
            ,
    );
    page.look(format!("s3://{}", stack.output("ClaimCheckBucketName")?));
    page.outcome(
        "redeemed whole by bus and by queue",
        sizes.iter().all(|s| *s == json!(3 * 1024 * 1024)),
    );
    Ok(())
}

/// One customer change, as a thin notification and as fat state transfer.
async fn customers(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "notification-vs-state-transfer",
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
    page.line(format!(
        "state transfer replica: version {} (no call to the source)",
        replica["version"]
    ));
    page.line(format!(
        "notification replica:   version {} ({} callbacks to the source)",
        notified["version"], calls["attempts"]
    ));
    page.diagram(
        "sequenceDiagram\n    participant S as customer-service\n    participant B as bus\n    participant N as notified replica\n    participant R as state-transfer replica\n    S->>B: customer.changed (id only)\n    S->>B: customer.profile.updated (whole profile)\n    B->>N: customer.changed\n    N->>S: customer.profile.get (callback)\n    S-->>N: the profile\n    B->>R: customer.profile.updated (no callback)\n"
            ,
    );
    page.look("the CustomerReplica and CustomerNotified tables".to_owned());
    page.outcome(
        "both replicas at version 2",
        replica["version"] == json!(2) && notified["version"] == json!(2),
    );
    Ok(())
}
