//! Sender router: each order reaches the one queue its content picks, once; an order no
//! route matches ends in the router's DLQ, never dropped.

use std::time::Duration;

use eventkit_contracts::fulfilment::FULFILMENT_REQUESTED;
use eventkit_contracts::orders::OrderKind;
use eventkit_e2e::stack::Stack;

use crate::{order_id, order_placed};

#[tokio::test]
async fn each_order_reaches_the_queue_its_content_picks_and_unroutable_ones_the_dlq(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let physical = order_placed(OrderKind::Physical, "cust-sr", 2500);
    let digital = order_placed(OrderKind::Digital, "cust-sr", 900);
    let subscription = order_placed(OrderKind::Subscription, "cust-sr", 1500);
    let ours = [
        order_id(&physical),
        order_id(&digital),
        order_id(&subscription),
    ];
    stack
        .publisher
        .publish(&[physical.clone(), digital.clone(), subscription.clone()])
        .await?;

    // The unroutable order fails NoRoute three times and lands in the DLQ.
    stack
        .wait_in_queue(
            "OrdersToRouteDlqUrl",
            &subscription.id,
            Duration::from_secs(90),
        )
        .await?;

    // By then both routed orders have arrived; collect whatever of ours is in either queue.
    let mine = |e: &eventkit::Envelope| e.subject.as_ref().is_some_and(|s| ours.contains(s));
    let warehouse = stack
        .collect_from(
            "WarehouseQueueUrl",
            mine,
            |got| !got.is_empty(),
            Duration::from_secs(60),
        )
        .await?;
    let downloads = stack
        .collect_from(
            "DownloadsQueueUrl",
            mine,
            |got| !got.is_empty(),
            Duration::from_secs(60),
        )
        .await?;
    let subjects = |got: &[eventkit::Envelope]| got.iter().map(order_id).collect::<Vec<_>>();
    assert_eq!(
        subjects(&warehouse),
        [order_id(&physical)],
        "the warehouse gets the physical order only, once"
    );
    assert_eq!(
        subjects(&downloads),
        [order_id(&digital)],
        "downloads gets the digital order only, once"
    );
    // What the router sends is what its contract promises (it never crosses the bus, so
    // the audit-log check in tests/contracts.rs cannot see it).
    let schemas = eventkit_contracts::validate::Validator::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas"),
    )?;
    for (command, cause) in [(&warehouse[0], &physical), (&downloads[0], &digital)] {
        schemas.check(&serde_json::to_value(command)?)?;
        assert_eq!(command.event_type, FULFILMENT_REQUESTED);
        assert_eq!(command.correlation_id, cause.correlation_id);
        assert_eq!(command.causation_id.as_deref(), Some(cause.id.as_str()));
    }
    Ok(())
}
