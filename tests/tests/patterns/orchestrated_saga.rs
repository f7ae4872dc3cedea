//! Orchestrated saga on Step Functions: the happy path, and a fault injected at each step,
//! each showing exactly the right compensations ran, once; a transient fault retried away;
//! a compensation that keeps failing ends in a visible failed state and a message on the
//! compensation-failed queue.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use eventkit_contracts::checkout::Checkout;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::unique;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(120);

pub use eventkit_e2e::saga::checkout;

/// Starts an execution named after the order and waits for it to end: (status, output or
/// error, the item of each participant's table).
async fn run(stack: &Stack, checkout: &Checkout) -> anyhow::Result<(ExecutionStatus, Value)> {
    let input = json!({"checkout": checkout, "correlation_id": unique("corr-saga")});
    stack
        .execute(
            "CheckoutSagaStateMachineArn",
            Some(&checkout.order_id),
            &input,
        )
        .await
}

/// (status, counts by status reached) of an order in a participant's table.
pub async fn state(
    stack: &Stack,
    table: &str,
    order: &str,
) -> anyhow::Result<(String, BTreeMap<String, i64>)> {
    let item = stack.item(table, order).await?.unwrap_or_default();
    let status = item
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("NONE")
        .to_owned();
    let counts = item
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("count_")?.to_owned(), v.as_i64()?)))
        .collect();
    Ok((status, counts))
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn every_outcome_leaves_each_service_exactly_where_it_should_be() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a str,
        Option<&'a str>,
        [(&'a str, &'a [(&'a str, i64)]); 3],
    );
    let cases: [Case; 5] = [
        (
            &[],
            "completed",
            None,
            [
                ("RESERVED", &[("RESERVED", 1)]),
                ("CHARGED", &[("CHARGED", 1)]),
                ("ARRANGED", &[("ARRANGED", 1)]),
            ],
        ),
        (
            &[("reserve", "reject")],
            "rejected",
            Some("reserve"),
            [("NONE", &[]), ("NONE", &[]), ("NONE", &[])],
        ),
        (
            &[("charge", "reject")],
            "compensated",
            Some("charge"),
            [
                ("RELEASED", &[("RESERVED", 1), ("RELEASED", 1)]),
                ("NONE", &[]),
                ("NONE", &[]),
            ],
        ),
        (
            &[("ship", "reject")],
            "compensated",
            Some("ship"),
            [
                ("RELEASED", &[("RESERVED", 1), ("RELEASED", 1)]),
                ("REFUNDED", &[("CHARGED", 1), ("REFUNDED", 1)]),
                ("NONE", &[]),
            ],
        ),
        // Two transient failures of the charge are retried away.
        (
            &[("charge", "transient:2")],
            "completed",
            None,
            [
                ("RESERVED", &[("RESERVED", 1)]),
                ("CHARGED", &[("CHARGED", 1)]),
                ("ARRANGED", &[("ARRANGED", 1)]),
            ],
        ),
    ];
    let runs = futures::future::try_join_all(cases.iter().map(|(faults, ..)| {
        let stack = &stack;
        async move {
            let c = checkout(faults);
            let result = run(stack, &c).await?;
            Ok::<_, anyhow::Error>((c, result))
        }
    }))
    .await?;
    for ((c, (status, output)), (faults, outcome, failed_step, ends)) in runs.iter().zip(&cases) {
        assert_eq!(
            status,
            &ExecutionStatus::Succeeded,
            "faults {faults:?}: {output}"
        );
        assert_eq!(
            output["outcome"],
            json!(outcome),
            "faults {faults:?}: {output}"
        );
        assert_eq!(output["order_id"], json!(c.order_id));
        if let Some(step) = failed_step {
            assert_eq!(output["failed_step"], json!(step), "{output}");
        }
        for (table, (want_status, want_counts)) in [
            "InventoryTableName",
            "PaymentsTableName",
            "ShipmentsTableName",
        ]
        .iter()
        .zip(ends)
        {
            let (status, got) = state(&stack, table, &c.order_id).await?;
            assert_eq!(
                (status.as_str(), got),
                (*want_status, counts(want_counts)),
                "{table} for faults {faults:?}"
            );
        }
    }
    let (flaky, _) = &runs[4];
    let attempts = stack
        .item("PaymentsTableName", &flaky.order_id)
        .await?
        .unwrap_or_default()["attempts_charge"]
        .clone();
    assert_eq!(
        attempts,
        json!(3),
        "two failed attempts, then the one that charged"
    );
    Ok(())
}

#[tokio::test]
async fn a_compensation_that_keeps_failing_fails_visibly_and_is_reported() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let c = checkout(&[("ship", "reject"), ("refund", "always")]);
    let (status, error) = run(&stack, &c).await?;
    assert_eq!(status, ExecutionStatus::Failed, "{error}");
    assert_eq!(error["error"], json!("CompensationFailed"));
    stack
        .wait_for_body_in(
            "CompensationFailedQueueUrl",
            "the failed compensation",
            DEADLINE,
            |body| {
                serde_json::from_str::<Value>(body).is_ok_and(|m| {
                    m["order_id"] == json!(c.order_id) && m["failed_step"] == json!("ship")
                })
            },
        )
        .await?;
    // The charge stands (its refund failed) and nothing was released behind its back.
    assert_eq!(
        state(&stack, "PaymentsTableName", &c.order_id).await?.0,
        "CHARGED"
    );
    assert_eq!(
        state(&stack, "InventoryTableName", &c.order_id).await?.0,
        "RESERVED"
    );
    let attempts = stack
        .item("PaymentsTableName", &c.order_id)
        .await?
        .unwrap_or_default();
    assert!(attempts.get("count_REFUNDED").is_none());
    Ok(())
}
