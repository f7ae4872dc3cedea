//! The coordination patterns, each a narrated step on the deployed stack: the orchestrated
//! saga compensating, the same checkout choreographed, a request answered and one timed
//! out, two gathers with a silent supplier, the event-sourced wallet.

use std::time::{Duration, Instant};

use eventkit::Envelope;
use eventkit_cli::fetch;
use eventkit_contracts::quotes::{QuoteAggregated, BUYER, QUOTE_AGGREGATED, QUOTE_REQUESTED};
use eventkit_contracts::stock::{CHECK_RESULT, START_CHECK};
use eventkit_e2e::saga::{self, checkout};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};
use serde_json::{json, Value};

use crate::page::Page;

const DEADLINE: Duration = Duration::from_secs(120);

/// The states an execution entered, in order, and how it ended.
async fn execution_path(stack: &Stack, arn: &str) -> anyhow::Result<(Vec<String>, String)> {
    let mut path = Vec::new();
    let mut token = None;
    loop {
        let page = stack
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .set_next_token(token)
            .send()
            .await?;
        path.extend(
            page.events()
                .iter()
                .filter_map(|e| e.state_entered_event_details())
                .map(|d| d.name().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let status = stack
        .sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await?
        .status()
        .as_str()
        .to_owned();
    Ok((path, status))
}

/// Orchestrated saga: shipping fails, the state machine refunds and releases.
pub async fn orchestrated_saga(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "orchestrated-saga",
        "Orchestrated saga: a checkout on Step Functions fails at shipping and compensates",
    );
    let c = checkout(&[("ship", "reject")]);
    let input = json!({"checkout": c, "correlation_id": unique("corr-demo")});
    let started = stack
        .sfn
        .start_execution()
        .state_machine_arn(stack.output("CheckoutSagaStateMachineArn")?)
        .name(&c.order_id)
        .input(input.to_string())
        .send()
        .await?;
    let arn = started.execution_arn().to_owned();
    let (path, status) = wait_for("the checkout execution to end", DEADLINE, || async {
        let (path, status) = execution_path(stack, &arn).await?;
        Ok((status != "RUNNING").then_some((path, status)))
    })
    .await?;
    page.line(format!("order {}: execution {status}", c.order_id));
    page.line(format!("states entered: {}", path.join(" -> ")));
    let mut diagram = String::from("stateDiagram-v2\n    direction LR\n");
    let mut previous = "[*]".to_owned();
    for state in &path {
        let id: String = state.chars().filter(char::is_ascii_alphanumeric).collect();
        diagram.push_str(&format!("    {previous} --> {id}\n"));
        previous = id;
    }
    diagram.push_str(&format!("    {previous} --> [*]\n"));
    page.diagram(diagram);
    page.look(format!(
        "aws stepfunctions get-execution-history --execution-arn {arn}"
    ));
    page.outcome(
        "compensated",
        path.iter().any(|s| s.contains("Refund")) && path.iter().any(|s| s.contains("Release")),
    );
    Ok(())
}

/// Choreographed saga: the same checkout over the bus, its trace tree.
pub async fn choreographed_saga(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "choreographed-saga",
        "Choreographed saga: the same checkout over the bus, each service reacting to the last",
    );
    let last = eventkit_contracts::checkout::INVENTORY_RELEASED;
    let (_, conversation) = saga::choreograph(stack, &[("ship", "reject")], last, DEADLINE).await?;
    let correlation = conversation.correlation_id.clone();
    page.line(format!("flow: {}", conversation.flow().join(" -> ")));
    for line in conversation.render_text().lines() {
        page.line(line.to_owned());
    }
    page.diagram(conversation.render_mermaid());
    page.look(format!(
        "cargo run -q -p eventkit-cli -- trace {correlation} --format mermaid"
    ));
    page.outcome("compensated", conversation.flow().iter().any(|t| t == last));
    Ok(())
}

/// Correlated request/reply: one request answered, one to a silent responder timing out.
pub async fn request_reply(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "request-reply",
        "Request/reply over queues: one request answered, one to a silent responder timing out",
    );
    let ask = |sku: String, timeout_ms: u64| async move {
        let start = Envelope::new(
            "eventkit.shop",
            START_CHECK,
            json!({"sku": sku, "quantity": 2, "timeout_ms": timeout_ms}),
        );
        let answer = stack
            .invoke("StockRequesterFunctionName", &serde_json::to_value(&start)?)
            .await?;
        anyhow::Ok(answer["request_id"].as_str().unwrap_or_default().to_owned())
    };
    let sent = Instant::now();
    let (answered, silent) =
        tokio::try_join!(ask("mug".into(), 20_000), ask(unique("silent"), 3_000))?;
    let mut outcomes = Vec::new();
    for (id, expected) in [(&answered, "answered"), (&silent, "timed_out")] {
        let result = wait_for(&format!("request {id} to end"), DEADLINE, || async {
            let query = Envelope::new("eventkit.shop", CHECK_RESULT, json!({"request_id": id}));
            let r = stack
                .invoke("StockRequesterFunctionName", &serde_json::to_value(&query)?)
                .await?;
            Ok((r["outcome"] == expected).then_some(r))
        })
        .await?;
        page.line(format!(
            "request {id}: {} {} after {:.1?}",
            result["outcome"],
            result
                .get("reply")
                .map(Value::to_string)
                .unwrap_or_default(),
            sent.elapsed()
        ));
        outcomes.push(result["outcome"].as_str().unwrap_or_default().to_owned());
    }
    page.diagram(
        "sequenceDiagram\n    participant C as caller\n    participant R as stock-requester\n    participant Q as StockRequestsQueue\n    participant S as stock-responder\n    C->>R: stock.check.start (mug)\n    R->>Q: stock.check.requested (replyto)\n    Q->>S: deliver\n    S-->>R: stock.check.replied (StockRepliesQueue)\n    C->>R: stock.check.start (silent sku)\n    R->>Q: stock.check.requested\n    Note over R: no reply by the deadline: timed_out\n"
            ,
    );
    page.look("the PendingRequests table; make invoke FN=stock-requester".to_owned());
    page.outcome(
        "answered and timed out",
        outcomes == ["answered", "timed_out"],
    );
    Ok(())
}

/// Scatter-gather: first of three and a deadline gather, supplier c never answering.
pub async fn scatter_gather(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    page.step(
        "scatter-gather",
        "Scatter-gather: the first of three offers, and all offers by a deadline, supplier c silent",
    );
    let request = |completion: Value, deadline_ms: u64| {
        Envelope::new(
            BUYER,
            QUOTE_REQUESTED,
            json!({"sku": "mug", "quantity": 2, "suppliers": ["a", "b", "c"], "completion": completion, "deadline_ms": deadline_ms}),
        )
    };
    let first = request(json!({"kind": "first", "n": 1}), 30_000);
    let deadline = request(json!({"kind": "deadline"}), 8_000);
    stack
        .publisher
        .publish(&[first.clone(), deadline.clone()])
        .await?;
    let audit = stack.output("AuditLogGroupName")?;
    let mut named_missing = true;
    for (name, r) in [("first 1", &first), ("deadline", &deadline)] {
        let result = wait_for("the composite result", DEADLINE, || async {
            let events = fetch::audit_events(&stack.logs, &audit, &r.correlation_id).await?;
            Ok(events
                .iter()
                .find(|o| o.envelope.event_type == QUOTE_AGGREGATED)
                .and_then(|o| o.envelope.data_as::<QuoteAggregated>().ok()))
        })
        .await?;
        let offered: Vec<String> = result.offers.iter().map(|q| q.supplier.clone()).collect();
        page.line(format!(
            "{name}: offers from {offered:?}, missing {:?}",
            result.missing
        ));
        named_missing &= result.missing.contains(&"c".to_owned());
    }
    page.diagram(
        "flowchart LR\n    B[buyer] -->|quote.requested| BUS((bus))\n    BUS --> A[supplier a]\n    BUS --> SB[supplier b]\n    BUS --> SC[supplier c: silent]\n    BUS --> AG[aggregator]\n    A -->|quote.offered| AG\n    SB -->|quote.offered| AG\n    AG -->|quote.aggregated, missing: c| BUS\n"
            ,
    );
    page.look("the Gathers table; eventkit trace <correlation-id>".to_owned());
    page.outcome("silent supplier named missing", named_missing);
    Ok(())
}

/// The event-sourced wallet: commands, its summary, the balance as it was, a rebuild.
pub async fn event_sourcing(stack: &Stack, page: &mut Page) -> anyhow::Result<()> {
    use eventkit::aws::dynamodb::{item_to_json, DynamoSequencedStore};
    page.step(
        "event-sourcing",
        "Event-sourced wallet: commands, a read model, the balance as it was, a rebuild",
    );
    let w = unique("w-demo");
    let commands = [
        json!({"command": "open", "customer": unique("frank"), "currency": "EUR"}),
        json!({"command": "credit", "amount": 1500, "reference": "pay-1"}),
        json!({"command": "debit", "amount": 400, "reference": "pay-2"}),
        json!({"command": "credit", "amount": 250, "reference": null}),
    ];
    let mut summary = serde_json::Map::new();
    for (sequence, data) in (1..).zip(commands) {
        let mut command = Envelope::new("eventkit.shop", wallet::commands::COMMAND, data.clone());
        command.subject = Some(w.clone());
        stack
            .send_raw("WalletCommandsQueueUrl", &command.to_json())
            .await?;
        // Each applied before the next is sent: the queue is a standard one, and a debit
        // that overtook its credit would be refused.
        summary = stack
            .wait_for_item(
                "WalletSummaryTableName",
                &w,
                &format!("sequence {sequence}"),
                DEADLINE,
                |i| i.get("sequence") == Some(&json!(sequence)),
            )
            .await?;
        page.line(format!(
            "command {data} -> summary balance {}",
            summary["balance"]
        ));
    }
    page.line(format!(
        "summary (read model): balance {} {} at sequence {}",
        summary["balance"], summary["currency"], summary["sequence"]
    ));
    let events_table = stack.output("WalletEventsTableName")?;
    let stored = wallet::dynamodb::stored_events(&stack.dynamodb, &events_table, Some(&w)).await?;
    let then = wallet::views::as_of(stored.clone(), 2)?;
    page.line(format!(
        "{} events stored; the wallet as of sequence 2: balance {}",
        stored.len(),
        then.balance
    ));
    let rebuilt = unique("wallet-summary-demo");
    wallet::dynamodb::create_summary_table(&stack.dynamodb, &rebuilt).await?;
    wallet::views::rebuild_summary(
        &DynamoSequencedStore::new(stack.dynamodb.clone(), &rebuilt),
        stored,
    )
    .await?;
    let again = stack
        .dynamodb
        .get_item()
        .table_name(&rebuilt)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(w.clone()))
        .consistent_read(true)
        .send()
        .await?
        .item()
        .map(item_to_json);
    stack
        .dynamodb
        .delete_table()
        .table_name(&rebuilt)
        .send()
        .await?;
    let equal = again.as_ref() == Some(&summary);
    page.line(format!(
        "rebuilt from the event store into a new table: {}",
        if equal {
            "equal to the live summary"
        } else {
            "DIFFERENT from the live summary"
        }
    ));
    page.diagram(
        "flowchart LR\n    C[commands queue] --> W[wallet-commands: aggregate]\n    W -->|append| ES[(event store)]\n    ES -->|stream| R[wallet-relay]\n    R -->|wallet.* events| BUS((bus))\n    BUS --> S[summary view]\n    BUS --> T[statement view]\n    ES -.->|rebuild| S2[(new summary table)]\n"
            ,
    );
    page.look(format!("the WalletEvents table (AggregateTypeAndId wallet:{w}); make rebuild-wallet-summary INTO=<table>"));
    page.outcome(
        "as-of and rebuild",
        then.balance == 1500 && summary["balance"] == json!(1350) && equal,
    );
    Ok(())
}
