//! Scatter-gather over the bus under each completion policy (all, first N, deadline), a
//! supplier that never answers, a duplicate part and a part after completion; and the Step
//! Functions form.

use std::time::Duration;

use eventkit::Envelope;
use eventkit_cli::fetch;
use eventkit_contracts::quotes::*;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};
use serde_json::{json, Map, Value};

const DEADLINE: Duration = Duration::from_secs(60);

fn request(suppliers: &[&str], completion: Value, deadline_ms: u64) -> Envelope {
    Envelope::new(
        BUYER,
        QUOTE_REQUESTED,
        json!({"sku": "mug", "quantity": 2, "suppliers": suppliers, "completion": completion, "deadline_ms": deadline_ms}),
    )
}

async fn completed(stack: &Stack, r: &Envelope) -> anyhow::Result<Map<String, Value>> {
    stack
        .wait_for_item(
            "GathersTableName",
            &r.correlation_id,
            "complete",
            DEADLINE,
            |g| g["status"] == "COMPLETE",
        )
        .await
}

fn suppliers_in(g: &Map<String, Value>) -> Vec<String> {
    g["parts"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn each_completion_policy_ends_with_one_composite_result_naming_the_missing(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    // Deadlines leave the live suppliers room for a cold start on a loaded 2-core machine
    // (one took over 6 s there); only the gathers waiting on c pay for them.
    let all = request(&["a", "b"], json!({"kind": "all"}), 30_000);
    let first = request(&["a", "b", "c"], json!({"kind": "first", "n": 1}), 30_000);
    let deadline = request(&["a", "b", "c"], json!({"kind": "deadline"}), 15_000);
    let all_with_dead = request(&["a", "c"], json!({"kind": "all"}), 15_000);
    stack
        .publisher
        .publish(&[
            all.clone(),
            first.clone(),
            deadline.clone(),
            all_with_dead.clone(),
        ])
        .await?;

    // A duplicate part while the last gather is still open is dropped.
    stack
        .wait_for_item(
            "GathersTableName",
            &all_with_dead.correlation_id,
            "a's offer",
            DEADLINE,
            |g| g["parts"].get("a").is_some(),
        )
        .await?;
    let mut again = Envelope::new(
        "eventkit.supplier.a",
        QUOTE_OFFERED,
        json!({"supplier": "a", "price": 1, "lead_days": 1}),
    );
    again.correlation_id = all_with_dead.correlation_id.clone();
    stack.publisher.publish(&[again]).await?;

    let g = completed(&stack, &all).await?;
    assert_eq!(
        (g["completed_by"].as_str(), suppliers_in(&g)),
        (Some("policy"), vec!["a".to_owned(), "b".to_owned()])
    );
    // Whichever of a and b answers first completes it; c never answers.
    let g = completed(&stack, &first).await?;
    let winner = suppliers_in(&g);
    assert_eq!(
        (g["completed_by"].as_str(), winner.len()),
        (Some("policy"), 1),
        "{g:?}"
    );
    let first_missing = match winner[0].as_str() {
        "a" => vec!["b", "c"],
        "b" => vec!["a", "c"],
        other => panic!("c never answers, yet {other} won"),
    };
    let g = completed(&stack, &deadline).await?;
    assert_eq!(
        (g["completed_by"].as_str(), suppliers_in(&g)),
        (Some("deadline"), vec!["a".to_owned(), "b".to_owned()])
    );
    let g = completed(&stack, &all_with_dead).await?;
    assert_eq!(
        (g["completed_by"].as_str(), suppliers_in(&g)),
        (Some("deadline"), vec!["a".to_owned()]),
        "c never answers"
    );
    assert_eq!(
        g["parts"]["a"]["price"],
        json!(200),
        "the duplicate did not replace the part"
    );
    stack
        .wait_for_log_lines(
            "AggregatorFunctionName",
            &["duplicate part dropped", &all_with_dead.correlation_id],
            1,
            DEADLINE,
        )
        .await?;
    // The slower of a and b answers after the first-1 gather filled (closed, or about to
    // be closed by the faster one's invocation or by its own): dropped, and said so.
    stack
        .wait_for_log_lines(
            "AggregatorFunctionName",
            &["late part dropped", &first.correlation_id],
            1,
            DEADLINE,
        )
        .await?;

    // One composite result per request, naming who is missing.
    let audit = stack.output("AuditLogGroupName")?;
    for (r, missing) in [
        (&all, vec![]),
        (&first, first_missing),
        (&deadline, vec!["c"]),
        (&all_with_dead, vec!["c"]),
    ] {
        let results = wait_for("the composite result", DEADLINE, || async {
            let events = fetch::audit_events(&stack.logs, &audit, &r.correlation_id).await?;
            // Publication is at least once with a stable id (a retried close publishes
            // the same envelope again): one result is one id, whatever the copies.
            let results: std::collections::BTreeMap<String, QuoteAggregated> = events
                .iter()
                .filter(|o| o.envelope.event_type == QUOTE_AGGREGATED)
                .filter_map(|o| Some((o.envelope.id.clone(), o.envelope.data_as().ok()?)))
                .collect();
            Ok((!results.is_empty()).then_some(results))
        })
        .await?;
        assert_eq!(results.len(), 1, "one composite result: {results:?}");
        let result = results.values().next().unwrap();
        assert_eq!(result.missing, missing);
    }
    Ok(())
}

#[tokio::test]
async fn the_workflow_form_names_the_supplier_that_did_not_answer() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let input = json!({"sku": "mug", "quantity": 3, "correlation_id": unique("corr")});
    let output = stack
        .execute_ok(
            "QuoteGatherStateMachineArn",
            Some(&unique("gather")),
            &input,
        )
        .await?;
    assert_eq!(
        output["offers"],
        json!([
            {"supplier": "a", "price": 300, "lead_days": 3},
            {"supplier": "b", "price": 270, "lead_days": 7},
            {"supplier": "c", "missing": true}
        ])
    );
    Ok(())
}
