//! The checkout the saga tests and the demo run: one mug, with faults injected where asked,
//! and its choreographed conversation followed on the bus.

use std::collections::BTreeMap;
use std::time::Duration;

use eventkit::Envelope;
use eventkit_cli::fetch;
use eventkit_cli::trace::Conversation;
use eventkit_contracts::checkout::{Checkout, CHECKOUT_REQUESTED};
use eventkit_contracts::orders::Line;

use crate::stack::Stack;
use crate::{unique, wait_for};

/// A checkout of one mug (1250), failing where `faults` say (`("ship", "reject")`).
pub fn checkout(faults: &[(&str, &str)]) -> Checkout {
    Checkout {
        order_id: unique("o-saga"),
        customer: "cust-saga".into(),
        lines: vec![Line {
            sku: "mug".into(),
            quantity: 1,
            unit_price: 1250,
        }],
        total: 1250,
        faults: faults
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Publishes `checkout.requested` and waits (up to `deadline`) until the conversation,
/// read as `eventkit trace` reads it, holds `last`.
pub async fn choreograph(
    stack: &Stack,
    faults: &[(&str, &str)],
    last: &str,
    deadline: Duration,
) -> anyhow::Result<(Checkout, Conversation)> {
    let c = checkout(faults);
    let start = Envelope::new(
        "eventkit.shop",
        CHECKOUT_REQUESTED,
        serde_json::to_value(&c)?,
    )
    .with_subject(&c.order_id)
    .with_partition_key(&c.order_id);
    let correlation = start.correlation_id.clone();
    stack.publisher.publish(&[start]).await?;
    let audit = stack.output("AuditLogGroupName")?;
    let stack_name = std::env::var("STACK").unwrap_or_else(|_| "eventkit".into());
    let conversation = wait_for(
        &format!("{last} in conversation {correlation}"),
        deadline,
        || async {
            let conversation =
                fetch::conversation(&stack.logs, &stack_name, &audit, &correlation).await?;
            Ok(conversation
                .flow()
                .iter()
                .any(|t| t == last)
                .then_some(conversation))
        },
    )
    .await?;
    Ok((c, conversation))
}
