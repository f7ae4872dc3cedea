//! Choreographed saga: the same checkout by events on the bus. Each case follows one
//! correlation id through every event (read back from the audit log as `eventkit trace`
//! does) and checks the end state of every service. A compensation that keeps failing
//! leaves its event in the participant's DLQ, and the trace names the consumer.

use std::time::Duration;

use eventkit_cli::fetch;
use eventkit_cli::trace::Conversation;
use eventkit_contracts::checkout::*;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};

use eventkit_e2e::saga::choreograph;

use crate::orchestrated_saga::state;

const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn one_correlation_id_through_every_event_and_each_service_ends_right() -> anyhow::Result<()>
{
    let stack = Stack::load().await?;
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], [&'a str; 3]);
    let cases: [Case; 4] = [
        (
            &[],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_CHARGED,
                SHIPPING_ARRANGED,
            ],
            ["RESERVED", "CHARGED", "ARRANGED"],
        ),
        (
            &[("reserve", "reject")],
            &[CHECKOUT_REQUESTED, INVENTORY_REJECTED],
            ["NONE", "NONE", "NONE"],
        ),
        (
            &[("charge", "reject")],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_DECLINED,
                INVENTORY_RELEASED,
            ],
            ["RELEASED", "NONE", "NONE"],
        ),
        (
            &[("ship", "reject")],
            &[
                CHECKOUT_REQUESTED,
                INVENTORY_RESERVED,
                PAYMENT_CHARGED,
                SHIPPING_FAILED,
                PAYMENT_REFUNDED,
                INVENTORY_RELEASED,
            ],
            ["RELEASED", "REFUNDED", "NONE"],
        ),
    ];
    let runs = futures::future::try_join_all(
        cases
            .iter()
            .map(|(faults, flow, _)| choreograph(&stack, faults, flow[flow.len() - 1], DEADLINE)),
    )
    .await?;
    for ((c, conversation), (faults, flow, ends)) in runs.iter().zip(&cases) {
        assert_eq!(
            conversation.flow(),
            *flow,
            "faults {faults:?}:\n{}",
            conversation.render_text()
        );
        assert!(
            conversation.failures.is_empty(),
            "{}",
            conversation.render_text()
        );
        for (table, want) in [
            "InventoryTableName",
            "PaymentsTableName",
            "ShipmentsTableName",
        ]
        .iter()
        .zip(ends)
        {
            let (status, counts) = state(&stack, table, &c.order_id).await?;
            assert_eq!(status, *want, "{table} for faults {faults:?}");
            assert!(
                counts.values().all(|n| *n == 1),
                "each transition once: {counts:?}"
            );
        }
    }
    println!("{}", runs[3].1.render_text());
    Ok(())
}

#[tokio::test]
async fn a_compensation_that_keeps_failing_waits_in_the_dlq_and_the_trace_names_the_consumer(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let (c, _) = choreograph(
        &stack,
        &[("ship", "reject"), ("refund", "always")],
        SHIPPING_FAILED,
        DEADLINE,
    )
    .await?;
    stack
        .wait_for_body_in(
            "PaymentEventsDlqUrl",
            "the unrefunded shipping.failed",
            DEADLINE,
            |b| b.contains(&c.order_id),
        )
        .await?;
    let stack_name = std::env::var("STACK").unwrap_or_else(|_| "eventkit".into());
    let audit = stack.output("AuditLogGroupName")?;
    let start = fetch::audit_events(&stack.logs, &audit, &unique("none")).await?;
    assert!(start.is_empty());
    // The failure's log line (its exported span names the error too, but carries no `span`).
    let correlation = wait_for("the conversation's events", DEADLINE, || async {
        let lines = stack
            .log_lines(
                "PaymentFunctionName",
                &[&c.order_id, "refund failed transiently"],
            )
            .await?;
        Ok(lines.iter().find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l).ok()?["span"]["correlation_id"]
                .as_str()
                .map(str::to_owned)
        }))
    })
    .await?;
    // The message is in the DLQ, so every receive failed; their log lines reach CloudWatch
    // Logs a little later, so wait for the count rather than read it once.
    let payment_failures = |c: &Conversation| {
        c.failures
            .iter()
            .find(|f| f.function.ends_with("-payment"))
            .map_or(0, |f| f.count)
    };
    let conversation = wait_for(
        "the payment's failed receives in the logs",
        DEADLINE,
        || async {
            let conversation =
                fetch::conversation(&stack.logs, &stack_name, &audit, &correlation).await?;
            Ok((payment_failures(&conversation) >= 4).then_some(conversation))
        },
    )
    .await?;
    let text = conversation.render_text();
    assert_eq!(
        conversation.flow(),
        [
            CHECKOUT_REQUESTED,
            INVENTORY_RESERVED,
            PAYMENT_CHARGED,
            SHIPPING_FAILED
        ],
        "{text}"
    );
    let failure = conversation
        .failures
        .iter()
        .find(|f| f.function.ends_with("-payment"))
        .ok_or_else(|| anyhow::anyhow!("no payment failure in\n{text}"))?;
    assert!(
        failure.error.contains("refund failed transiently"),
        "{text}"
    );
    assert!(
        failure.count >= 4,
        "every receive before the DLQ failed: {text}"
    );
    assert_eq!(
        state(&stack, "InventoryTableName", &c.order_id).await?.0,
        "RESERVED",
        "nothing released without the refund"
    );
    Ok(())
}
