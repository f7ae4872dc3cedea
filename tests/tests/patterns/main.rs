//! The deployed patterns, through the AWS SDK (and HTTP for the front door) only, one
//! module per pattern. One test binary, so every pattern's test runs concurrently against
//! the one stack `make deploy-local` deployed (`make patterns-test` does both).
//!
//! Each test works on its own entities (unique ids) and never assumes a queue or table
//! holds only its own data: other tests share the stack.

mod bus_fanout;
mod choreographed_saga;
mod claim_check;
mod dlq_alarm;
mod event_sourcing;
mod front_door;
mod ledger_faults;
mod notification_vs_state_transfer;
mod orchestrated_saga;
mod point_to_point;
mod request_reply;
mod scatter_gather;
mod sender_router;
mod transactional_outbox;

use eventkit::Envelope;
use eventkit_contracts::orders::{Line, OrderKind, ORDER_PLACED, SOURCE};
use serde_json::json;

/// An `order.placed` envelope as the front door makes it (sequence 1), for a unique order.
pub fn order_placed(kind: OrderKind, customer: &str, total: i64) -> Envelope {
    let order_id = eventkit_e2e::unique("o");
    let lines = vec![Line {
        sku: "sku-1".into(),
        quantity: 1,
        unit_price: total,
    }];
    let mut e = Envelope::new(
        SOURCE,
        ORDER_PLACED,
        json!({"order_id": order_id, "customer": customer, "kind": kind, "lines": lines, "total": total}),
    )
    .with_subject(&order_id)
    .with_partition_key(&order_id);
    e.extensions.insert("sequence".into(), json!("1"));
    e
}

/// The order id of an order envelope.
pub fn order_id(e: &Envelope) -> String {
    e.subject.clone().unwrap_or_default()
}
