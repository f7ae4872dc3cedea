//! Order read models, each kept by one deployment of this function (`VIEW`):
//!
//! * `orders` — one item per order (status, customer, kind, total), applied strictly in
//!   the order's `sequence`: `order.cancelled` (2) waits for `order.placed` (1) however the
//!   bus and the queue reorder them; a duplicate or a replay changes nothing.
//! * `customer-totals` — per customer: orders placed and amount spent. Each `order.placed`
//!   counts once (idempotent on the envelope id), so a bus replay can rebuild it into an
//!   empty table and a live copy absorbs the same replay unchanged.
//!
//! The same handlers serve an SQS queue (a rule's queue target) and a direct invocation by
//! EventBridge (a rule's Lambda target): the router tells them apart.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::idempotency::ordering::{
    envelope_version, InSequence, OrderingError, SequencedStore,
};
use eventkit::idempotency::{IdempotencyStore, StoreError};
use eventkit::ErrorType;
use eventkit::{Envelope, Event, Router};
use eventkit_contracts::orders::{OrderCancelled, OrderPlaced, ORDER_CANCELLED, ORDER_PLACED};
use serde_json::{json, Map, Value};

/// Which read model a deployment keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Order status by order id, in sequence.
    Orders,
    /// Totals per customer.
    CustomerTotals,
}

impl std::str::FromStr for View {
    type Err = ViewError;
    fn from_str(s: &str) -> Result<View, ViewError> {
        match s {
            "orders" => Ok(View::Orders),
            "customer-totals" => Ok(View::CustomerTotals),
            other => Err(ViewError::UnknownView(other.to_owned())),
        }
    }
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum ViewError {
    /// `VIEW` names no read model.
    #[error("VIEW=`{0}` is not a read model; use `orders` or `customer-totals`")]
    #[error_type("BadConfiguration")]
    UnknownView(String),
    /// The event cannot be ordered.
    #[error(transparent)]
    #[error_type("Unorderable")]
    Ordering(#[from] OrderingError),
    /// It came before its predecessor: retried until the gap fills.
    #[error("order `{order_id}`: event {sequence} arrived before {expected}; it is retried until the gap fills")]
    OutOfOrder {
        /// The order.
        order_id: String,
        /// The event's sequence.
        sequence: i64,
        /// The sequence expected next.
        expected: i64,
    },
    /// The table failed; retryable.
    #[error(transparent)]
    #[error_type("TransientError")]
    Store(#[from] StoreError),
}

/// Per-customer totals.
#[async_trait]
pub trait Totals: Send + Sync {
    /// Adds one order of `amount` to `customer`.
    async fn add_order(
        &self,
        customer: &str,
        order_id: &str,
        amount: i64,
    ) -> Result<(), StoreError>;
}

/// The function's state: the read model's table.
pub struct Views<Q, T> {
    /// Order status, in sequence.
    pub orders: Q,
    /// Customer totals.
    pub totals: T,
}

async fn apply<Q: SequencedStore, T>(
    views: &Views<Q, T>,
    order_id: &str,
    event: &Envelope<()>,
    changes: Map<String, Value>,
) -> Result<InSequence, ViewError> {
    let sequence = envelope_version(event)?;
    let outcome = views
        .orders
        .apply_in_sequence(order_id, sequence, &event.id, &changes)
        .await?;
    match outcome {
        InSequence::Gap { current } => Err(ViewError::OutOfOrder {
            order_id: order_id.to_owned(),
            sequence,
            expected: current + 1,
        }),
        other => {
            tracing::info!(order_id, sequence, outcome = %other, "order view");
            Ok(other)
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `order.placed` into the order view.
pub async fn order_placed<Q: SequencedStore, T>(
    views: Arc<Views<Q, T>>,
    event: Event<OrderPlaced>,
) -> Result<String, ViewError> {
    let order = &event.data;
    let changes = object(
        json!({"status": "PLACED", "customer": order.customer, "kind": order.kind,
        "total": order.total, "correlation_id": event.correlation_id}),
    );
    Ok(apply(&views, &order.order_id, &event, changes)
        .await?
        .to_string())
}

/// `order.cancelled` into the order view.
pub async fn order_cancelled<Q: SequencedStore, T>(
    views: Arc<Views<Q, T>>,
    event: Event<OrderCancelled>,
) -> Result<String, ViewError> {
    let cancelled = &event.data;
    let changes = object(json!({"status": "CANCELLED", "cancel_reason": cancelled.reason}));
    Ok(apply(&views, &cancelled.order_id, &event, changes)
        .await?
        .to_string())
}

/// `order.placed` into the customer totals (once per envelope id: the router's idempotency).
pub async fn count_order<Q, T: Totals>(
    views: Arc<Views<Q, T>>,
    event: Event<OrderPlaced>,
) -> Result<(), ViewError> {
    let order = &event.data;
    views
        .totals
        .add_order(&order.customer, &order.order_id, order.total)
        .await?;
    tracing::info!(customer = %order.customer, order_id = %order.order_id, "counted");
    Ok(())
}

/// The function for one view.
pub fn router<Q: SequencedStore + 'static, T: Totals + 'static>(
    view: View,
    views: Views<Q, T>,
    idempotency: impl IdempotencyStore + 'static,
) -> Router<Views<Q, T>> {
    let router = Router::with_state(views).idempotency_store(idempotency);
    match view {
        // In-sequence application is idempotent by itself: no idempotency record needed.
        // This view reads schema version 1 of both events; a version it does not know
        // fails to the DLQ (UnknownSchemaVersion) rather than being misread.
        View::Orders => router
            .on_version(ORDER_PLACED, "1", order_placed::<Q, T>)
            .on_version(ORDER_CANCELLED, "1", order_cancelled::<Q, T>),
        View::CustomerTotals => router
            .on(ORDER_PLACED, count_order::<Q, T>)
            .idempotent()
            // Cancellations do not change what was spent here; acknowledge them.
            .on(
                ORDER_CANCELLED,
                |_: Arc<Views<Q, T>>, _: Event<Value>| async { Ok::<(), ViewError>(()) },
            ),
    }
}

/// In-memory [`Totals`] (unit tests).
#[derive(Debug, Default)]
pub struct MemoryTotals(pub std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>);

#[async_trait]
impl Totals for MemoryTotals {
    async fn add_order(
        &self,
        customer: &str,
        _order_id: &str,
        amount: i64,
    ) -> Result<(), StoreError> {
        let mut totals = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = totals.entry(customer.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += amount;
        Ok(())
    }
}

pub mod dynamodb;

#[cfg(test)]
mod tests {
    use super::*;
    use eventkit::idempotency::ordering::MemorySequencedStore;
    use eventkit::idempotency::MemoryIdempotencyStore;
    use eventkit_contracts::orders::SOURCE;

    type F = Router<Views<MemorySequencedStore, MemoryTotals>>;

    fn function(view: View) -> F {
        let views = Views {
            orders: MemorySequencedStore::default(),
            totals: MemoryTotals::default(),
        };
        router(view, views, MemoryIdempotencyStore::default())
    }

    fn placed(order: &str, customer: &str, total: i64) -> Envelope {
        let mut e = Envelope::new(
            SOURCE,
            ORDER_PLACED,
            json!({"order_id": order, "customer": customer,
            "kind": "physical", "lines": [{"sku": "x", "quantity": 1, "unit_price": total}], "total": total}),
        );
        e.extensions.insert("sequence".into(), json!("1"));
        e
    }

    fn cancelled(order: &str) -> Envelope {
        let mut e = Envelope::new(
            SOURCE,
            ORDER_CANCELLED,
            json!({"order_id": order, "reason": "r"}),
        );
        e.extensions.insert("sequence".into(), json!("2"));
        e
    }

    #[tokio::test]
    async fn a_cancellation_before_its_order_waits_and_duplicates_change_nothing() {
        let f = function(View::Orders);
        let err = f.dispatch(cancelled("o-1"), None).await.unwrap_err();
        assert_eq!(err.error_type(), "OutOfOrder");
        assert!(err.to_string().contains("arrived before 1"), "{err}");
        let p = placed("o-1", "c-1", 500);
        f.dispatch(p.clone(), None).await.unwrap();
        f.dispatch(cancelled("o-1"), None).await.unwrap();
        // Redelivered and replayed: absorbed.
        f.dispatch(p, None).await.unwrap();
        let (sequence, item) = f.state().orders.get("o-1").unwrap();
        assert_eq!(sequence, 2);
        assert_eq!(item["status"], "CANCELLED");
        assert_eq!(item["customer"], "c-1");
    }

    #[tokio::test]
    async fn totals_count_each_order_once() {
        let f = function(View::CustomerTotals);
        let a = placed("o-1", "c-1", 500);
        let b = placed("o-2", "c-1", 700);
        for e in [&a, &b, &a, &b, &a] {
            f.dispatch(e.clone(), None).await.unwrap();
        }
        f.dispatch(cancelled("o-1"), None).await.unwrap();
        assert_eq!(f.state().totals.0.lock().unwrap()["c-1"], (2, 1200));
    }

    #[tokio::test]
    async fn an_event_without_sequence_or_time_is_refused_with_the_reason() {
        let f = function(View::Orders);
        let mut e = placed("o-3", "c", 1);
        e.extensions.remove("sequence");
        e.time = None;
        let err = f.dispatch(e, None).await.unwrap_err();
        assert!(err.to_string().contains("`sequence`"), "{err}");
    }

    #[tokio::test]
    async fn a_schema_version_the_view_does_not_know_is_refused() {
        let f = function(View::Orders);
        let err = f
            .dispatch(placed("o-9", "c", 1).with_schema_version("2"), None)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "UnknownSchemaVersion");
    }

    #[test]
    fn an_unknown_view_is_named() {
        let err = "everything".parse::<View>().unwrap_err();
        assert!(err.to_string().contains("`orders` or `customer-totals`"));
    }

    #[tokio::test]
    async fn samples_apply_from_a_queue_and_from_a_direct_eventbridge_invoke() {
        let f = function(View::Orders);
        let batch: Value = serde_json::from_str(include_str!(
            "../../../events/order-views/sqs-order-events.json"
        ))
        .unwrap();
        let response = f.handle(batch, None).await.unwrap();
        assert_eq!(response["batchItemFailures"], json!([]));
        assert_eq!(
            f.state().orders.get("o-3001").unwrap().1["status"],
            "CANCELLED"
        );
        let totals = function(View::CustomerTotals);
        let direct: Value = serde_json::from_str(include_str!(
            "../../../events/order-views/eventbridge-order-placed.json"
        ))
        .unwrap();
        totals.handle(direct.clone(), None).await.unwrap();
        totals.handle(direct, None).await.unwrap();
        assert_eq!(totals.state().totals.0.lock().unwrap()["cust-3"], (1, 4200));
    }
}
