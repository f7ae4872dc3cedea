//! Sender router (point-to-point, routed by the sender): each `order.placed` becomes a
//! `fulfilment.requested` command on exactly one receiver's queue, chosen by the order's
//! content from one routing table. The receivers never see each other's work and need no
//! filter of their own; the price is that the sender knows every receiver.
//!
//! The table (`ROUTES`, JSON) is read once at start-up and checked then:
//! `[{"name": "warehouse", "kind": "physical", "queue": "https://sqs..."}, ...]`; the first
//! route whose criteria match wins. An order no route matches is a typed error
//! ([`RoutingError::NoRoute`]): its record fails, returns to the queue and reaches the DLQ,
//! never dropped. Sending is idempotent on the order event's id, and the command's id is
//! derived from it, so a redelivered order cannot fulfil twice.

use std::sync::Arc;

use eventkit::envelope::stable_id;
use eventkit::idempotency::IdempotencyStore;
use eventkit::publish::{QueueSender, SendError};
use eventkit::ErrorType;
use eventkit::{Event, Router};
use eventkit_contracts::fulfilment::{FulfilmentRequested, FULFILMENT_REQUESTED, SOURCE};
use eventkit_contracts::orders::{OrderKind, OrderPlaced, ORDER_PLACED};
use serde::{Deserialize, Serialize};

/// One row of the routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The receiver's name (logged, and carried in the command).
    pub name: String,
    /// Orders of this kind match.
    pub kind: OrderKind,
    /// Orders with a total at least this large match (minor units); any total if absent.
    #[serde(default)]
    pub min_total: Option<i64>,
    /// The receiver's queue URL.
    pub queue: String,
}

impl Route {
    fn matches(&self, order: &OrderPlaced) -> bool {
        self.kind == order.kind && self.min_total.is_none_or(|min| order.total >= min)
    }
}

/// Why an order was not routed.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum RoutingError {
    /// The routing table is unusable (found at start-up).
    #[error("ROUTES is not a valid routing table ({0}); expected [{{\"name\", \"kind\", \"queue\", \"min_total\"?}}, ...]")]
    #[error_type("BadRoutingTable")]
    BadTable(String),
    /// No route matches: the order goes to the DLQ until a route exists.
    #[error("no route matches order `{order_id}` (kind `{kind}`, total {total}); add a route for it to ROUTES, then redrive the DLQ")]
    NoRoute {
        /// The order.
        order_id: String,
        /// Its kind.
        kind: String,
        /// Its total.
        total: i64,
    },
    /// The receiver's queue did not take the command; retryable.
    #[error("sending to receiver `{route}` failed: {source}")]
    #[error_type("TransientError")]
    Send {
        /// The route chosen.
        route: String,
        /// Why.
        #[source]
        source: SendError,
    },
}

/// Parses and checks a routing table.
pub fn parse_routes(text: &str) -> Result<Vec<Route>, RoutingError> {
    let routes: Vec<Route> =
        serde_json::from_str(text).map_err(|e| RoutingError::BadTable(e.to_string()))?;
    if routes.is_empty() {
        return Err(RoutingError::BadTable("it has no route".into()));
    }
    if let Some(r) = routes.iter().find(|r| r.queue.trim().is_empty()) {
        return Err(RoutingError::BadTable(format!(
            "route `{}` has no queue",
            r.name
        )));
    }
    Ok(routes)
}

/// The sender router's state: the table and the queues.
pub struct SenderRouter<Q> {
    /// The routing table, in match order.
    pub routes: Vec<Route>,
    /// Sends to the chosen queue.
    pub queues: Q,
}

/// The route for an order: the first that matches.
pub fn choose<'a>(routes: &'a [Route], order: &OrderPlaced) -> Result<&'a Route, RoutingError> {
    routes
        .iter()
        .find(|r| r.matches(order))
        .ok_or_else(|| RoutingError::NoRoute {
            order_id: order.order_id.clone(),
            kind: order.kind.as_str().to_owned(),
            total: order.total,
        })
}

/// Routes one order; returns the route's name.
pub async fn route_order<Q: QueueSender>(
    state: Arc<SenderRouter<Q>>,
    event: Event<OrderPlaced>,
) -> Result<String, RoutingError> {
    let (order, event) = event.into_parts();
    let route = choose(&state.routes, &order)?;
    let command = event
        .caused(
            SOURCE,
            FULFILMENT_REQUESTED,
            FulfilmentRequested {
                order_id: order.order_id.clone(),
                kind: order.kind,
                lines: order.lines,
                route: route.name.clone(),
            },
        )
        .with_id(stable_id(&[&event.id, FULFILMENT_REQUESTED]))
        .with_subject(&order.order_id)
        .with_partition_key(&order.order_id);
    let command = command
        .to_untyped()
        .map_err(|e| RoutingError::BadTable(e.to_string()))?;
    state
        .queues
        .send_to(&route.queue, &command)
        .await
        .map_err(|source| RoutingError::Send {
            route: route.name.clone(),
            source,
        })?;
    tracing::info!(order_id = %order.order_id, route = %route.name, "routed");
    Ok(route.name.clone())
}

/// The function: `order.placed` to [`route_order`], once per event id.
pub fn router<Q: QueueSender + 'static>(
    state: SenderRouter<Q>,
    idempotency: impl IdempotencyStore + 'static,
) -> Router<SenderRouter<Q>> {
    Router::with_state(state)
        .idempotency_store(idempotency)
        .on(ORDER_PLACED, route_order::<Q>)
        .idempotent()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsEvent;
    use eventkit::idempotency::MemoryIdempotencyStore;
    use eventkit::publish::MemoryQueues;
    use eventkit::Envelope;
    use eventkit_contracts::orders::{Line, SOURCE as ORDERS};
    use serde_json::json;

    const TABLE: &str = r#"[
        {"name": "bulk", "kind": "physical", "min_total": 100000, "queue": "q-bulk"},
        {"name": "warehouse", "kind": "physical", "queue": "q-warehouse"},
        {"name": "downloads", "kind": "digital", "queue": "q-downloads"}
    ]"#;

    fn order(kind: OrderKind, total: i64) -> Envelope {
        Envelope::new(
            ORDERS,
            ORDER_PLACED,
            json!({"order_id": format!("o-{total}"), "customer": "c", "kind": kind,
                   "lines": [Line { sku: "x".into(), quantity: 1, unit_price: total }], "total": total}),
        )
    }

    fn function() -> Router<SenderRouter<Arc<MemoryQueues>>> {
        let state = SenderRouter {
            routes: parse_routes(TABLE).unwrap(),
            queues: Arc::new(MemoryQueues::default()),
        };
        router(state, MemoryIdempotencyStore::default())
    }

    #[tokio::test]
    async fn each_order_goes_to_the_first_matching_route_once() {
        let f = function();
        for (kind, total, queue) in [
            (OrderKind::Physical, 500, "q-warehouse"),
            (OrderKind::Physical, 250_000, "q-bulk"),
            (OrderKind::Digital, 900, "q-downloads"),
        ] {
            let e = order(kind, total);
            f.dispatch(e.clone(), None).await.unwrap();
            f.dispatch(e.clone(), None).await.unwrap();
            let sent = f.state().queues.sent();
            let (to, command) = sent.last().unwrap();
            assert_eq!(to, queue);
            assert_eq!(command.event_type, FULFILMENT_REQUESTED);
            assert_eq!(command.correlation_id, e.correlation_id);
            assert_eq!(command.causation_id.as_deref(), Some(e.id.as_str()));
        }
        assert_eq!(
            f.state().queues.sent().len(),
            3,
            "a redelivered order is not sent twice"
        );
    }

    #[tokio::test]
    async fn an_order_no_route_matches_is_a_typed_error_and_nothing_is_sent() {
        let f = function();
        let err = f
            .dispatch(order(OrderKind::Subscription, 100), None)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "NoRoute");
        assert!(err.to_string().contains("kind `subscription`"), "{err}");
        assert!(f.state().queues.sent().is_empty());
    }

    #[test]
    fn a_bad_table_is_refused_at_start_up() {
        for bad in [
            "",
            "[]",
            r#"[{"name": "x", "kind": "physical"}]"#,
            r#"[{"name": "x", "kind": "physical", "queue": ""}]"#,
        ] {
            assert!(
                matches!(parse_routes(bad), Err(RoutingError::BadTable(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn the_sample_batch_routes_and_fails_the_unroutable_order() {
        let f = function();
        let event: SqsEvent = serde_json::from_str(include_str!(
            "../../../events/sender-router/sqs-orders-one-unroutable.json"
        ))
        .unwrap();
        let response = f.handle_sqs(event, None).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["msg-subscription"]);
        let queues: Vec<String> = f
            .state()
            .queues
            .sent()
            .into_iter()
            .map(|(q, _)| q)
            .collect();
        assert_eq!(queues, ["q-warehouse", "q-downloads"]);
    }
}
