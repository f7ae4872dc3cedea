//! The synchronous front door: an HTTP API that accepts orders and starts everything else,
//! on the kit's HTTP entry ([`eventkit::http`]).
//!
//! * `POST /orders` — validates the order, writes it and its `order.placed` envelope in one
//!   transaction (the transactional outbox), answers `202 Accepted` with the order id and
//!   the correlation id every later event of this order carries. An `Idempotency-Key`
//!   header makes a client's retry get the first answer instead of a second order.
//! * `POST /orders/{id}/cancel` — the same for `order.cancelled`; `409` when the order is
//!   no longer cancellable or another change won the race.
//! * `GET /orders/{id}` — the order as the front door stored it.
//!
//! Errors are `application/problem+json` (RFC 9457) with a `detail` naming the field.
//! The same code serves API Gateway (REST or HTTP API) and Lambda function URLs; the span,
//! metrics and idempotency of each request are the kit's ([`api`]).

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::http::{Api, HttpRequest, Problem, Reply};
use eventkit::idempotency::{IdempotencyConfig, IdempotencyStore};
use eventkit::Envelope;
use eventkit_contracts::orders::{
    Line, OrderCancelled, OrderKind, OrderPlaced, ORDER_CANCELLED, ORDER_PLACED, SOURCE,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub mod dynamodb;

/// Header a client sets to make a request safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header a caller sets to join an existing conversation.
pub use eventkit::http::CORRELATION_ID;

/// Order status as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Accepted, not yet cancelled.
    Placed,
    /// Cancelled.
    Cancelled,
}

/// An order as the front door stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order.
    pub order_id: String,
    /// Who placed it.
    pub customer: String,
    /// Fulfilment kind.
    pub kind: OrderKind,
    /// What was ordered.
    pub lines: Vec<Line>,
    /// Sum of the lines.
    pub total: i64,
    /// Where it stands.
    pub status: Status,
    /// Incremented by each change; the `sequence` of the event that made it.
    pub version: i64,
    /// The conversation its events belong to.
    pub correlation_id: String,
}

/// Why the order store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition failed: the order changed since it was read, or already exists.
    #[error("order `{0}` changed concurrently or is not in the expected state")]
    Conflict(String),
    /// The table failed; retryable.
    #[error("order store failed: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Orders and their outbox, written together.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Writes a new order and its event in one transaction.
    async fn place(&self, order: &Order, event: &Envelope) -> Result<(), StoreError>;
    /// Writes `order` (the changed state) if the stored version is `previous_version`, and
    /// its event, in one transaction.
    async fn change(
        &self,
        order: &Order,
        previous_version: i64,
        event: &Envelope,
    ) -> Result<(), StoreError>;
    /// Reads an order.
    async fn get(&self, order_id: &str) -> Result<Option<Order>, StoreError>;
}

/// The body of `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Who orders.
    pub customer: String,
    /// Fulfilment kind.
    pub kind: OrderKind,
    /// What is ordered.
    pub lines: Vec<Line>,
}

/// The body of `POST /orders/{id}/cancel` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The front door's routes over `orders`; retried `POST /orders` (same `Idempotency-Key`)
/// are answered from `store` for an hour, and the key with another body is refused. The
/// records keep the `<function>.orders` prefix they had before the kit's HTTP entry.
pub fn api<S: OrderStore + 'static>(orders: S, store: impl IdempotencyStore + 'static) -> Api<S> {
    Api::with_state(orders)
        .idempotency_store(store)
        .post("/orders", place)
        .expects(r#"an order ({"customer", "kind": "physical"|"digital", "lines": [{"sku", "quantity", "unit_price"}]})"#)
        .idempotent_by_header_with(IDEMPOTENCY_KEY, IdempotencyConfig::for_handler("orders"))
        .post("/orders/{id}/cancel", cancel)
        .expects(r#"a cancellation ({"reason"}), or no body"#)
        .get("/orders/{id}", get)
}

/// Checks an order's content; the error names the field.
pub fn validate(order: &PlaceOrder) -> Result<i64, String> {
    if order.customer.trim().is_empty() {
        return Err("`customer` must not be empty".into());
    }
    if order.lines.is_empty() {
        return Err("`lines` must hold at least one line".into());
    }
    let mut total: i64 = 0;
    for (i, line) in order.lines.iter().enumerate() {
        if line.sku.trim().is_empty() {
            return Err(format!("`lines[{i}].sku` must not be empty"));
        }
        if line.quantity == 0 {
            return Err(format!("`lines[{i}].quantity` must be at least 1"));
        }
        if line.unit_price < 0 {
            return Err(format!("`lines[{i}].unit_price` must not be negative"));
        }
        total = line
            .unit_price
            .checked_mul(i64::from(line.quantity))
            .and_then(|l| total.checked_add(l))
            .ok_or_else(|| format!("`lines[{i}]` makes the total overflow"))?;
    }
    Ok(total)
}

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string())
}

fn no_such_order(order_id: &str) -> Problem {
    Problem::not_found(
        "No such order",
        format!("order `{order_id}` does not exist"),
    )
}

async fn place<S: OrderStore>(
    orders: Arc<S>,
    request: HttpRequest<PlaceOrder>,
) -> Result<Reply, Problem> {
    let correlation = request.correlation_id().map(str::to_owned);
    let order = request.body;
    let total = validate(&order).map_err(|d| Problem::bad_request("Invalid order", d))?;
    let order_id = format!("o-{}", uuid::Uuid::new_v4().simple());
    let payload = OrderPlaced {
        order_id: order_id.clone(),
        customer: order.customer,
        kind: order.kind,
        lines: order.lines,
        total,
    };
    let mut event = Envelope::new_typed(SOURCE, ORDER_PLACED, payload.clone())
        .with_subject(&order_id)
        .with_partition_key(&order_id);
    if let Some(c) = correlation {
        event.correlation_id = c;
    }
    event.extensions.insert("sequence".into(), json!("1"));
    let stored = Order {
        order_id: order_id.clone(),
        customer: payload.customer,
        kind: payload.kind,
        lines: payload.lines,
        total,
        status: Status::Placed,
        version: 1,
        correlation_id: event.correlation_id.clone(),
    };
    let event = event
        .to_untyped()
        .map_err(|e| Problem::internal(e.to_string()))?;
    orders.place(&stored, &event).await.map_err(unavailable)?;
    tracing::info!(order_id = %order_id, correlation_id = %event.correlation_id, event_id = %event.id, "order accepted");
    Ok(Reply::accepted(json!({
        "order_id": order_id, "correlation_id": event.correlation_id, "event_id": event.id, "status": "accepted"
    }))
    .header("location", format!("/orders/{order_id}")))
}

async fn cancel<S: OrderStore>(
    orders: Arc<S>,
    request: HttpRequest<Option<CancelOrder>>,
) -> Result<Reply, Problem> {
    let order_id = &request.param("id").to_owned();
    let order = orders
        .get(order_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_such_order(order_id))?;
    if order.status != Status::Placed {
        return Err(Problem::conflict(
            "Not cancellable",
            format!(
                "order `{order_id}` is {:?}, only a placed order can be cancelled",
                order.status
            ),
        ));
    }
    let previous = order.version;
    let changed = Order {
        status: Status::Cancelled,
        version: previous + 1,
        ..order
    };
    let payload = OrderCancelled {
        order_id: order_id.to_owned(),
        reason: request
            .body
            .and_then(|c| c.reason)
            .unwrap_or_else(|| "customer request".to_owned()),
    };
    let mut event = Envelope::new_typed(SOURCE, ORDER_CANCELLED, payload)
        .with_subject(order_id)
        .with_partition_key(order_id);
    event.correlation_id = changed.correlation_id.clone();
    event
        .extensions
        .insert("sequence".into(), json!(changed.version.to_string()));
    let event = event
        .to_untyped()
        .map_err(|e| Problem::internal(e.to_string()))?;
    match orders.change(&changed, previous, &event).await {
        Ok(()) => Ok(Reply::accepted(json!({
            "order_id": order_id, "correlation_id": event.correlation_id, "event_id": event.id, "status": "cancelling"
        }))
        .header("location", format!("/orders/{order_id}"))),
        Err(StoreError::Conflict(_)) => Err(Problem::conflict(
            "Conflict",
            format!("order `{order_id}` changed while it was being cancelled; read it again and retry"),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

async fn get<S: OrderStore>(orders: Arc<S>, request: HttpRequest<()>) -> Result<Reply, Problem> {
    let order_id = request.param("id");
    match orders.get(order_id).await.map_err(unavailable)? {
        Some(order) => Ok(Reply::ok(
            serde_json::to_value(order).map_err(|e| Problem::internal(e.to_string()))?,
        )),
        None => Err(no_such_order(order_id)),
    }
}

/// An in-memory [`OrderStore`] for tests: orders and the outbox they wrote.
#[derive(Debug, Default)]
pub struct MemoryOrders {
    /// Orders by id.
    pub orders: std::sync::Mutex<std::collections::HashMap<String, Order>>,
    /// Envelopes written to the outbox, in order.
    pub outbox: std::sync::Mutex<Vec<Envelope>>,
}

#[async_trait]
impl OrderStore for MemoryOrders {
    async fn place(&self, order: &Order, event: &Envelope) -> Result<(), StoreError> {
        let mut orders = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        if orders.contains_key(&order.order_id) {
            return Err(StoreError::Conflict(order.order_id.clone()));
        }
        orders.insert(order.order_id.clone(), order.clone());
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn change(
        &self,
        order: &Order,
        previous_version: i64,
        event: &Envelope,
    ) -> Result<(), StoreError> {
        let mut orders = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        match orders.get(&order.order_id) {
            Some(current) if current.version == previous_version => {}
            _ => return Err(StoreError::Conflict(order.order_id.clone())),
        }
        orders.insert(order.order_id.clone(), order.clone());
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn get(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        Ok(self
            .orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(order_id)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventkit::idempotency::MemoryIdempotencyStore;
    use lambda_http::{Body, Request};
    use serde_json::Value;

    type Door = Api<MemoryOrders>;

    fn door() -> Door {
        let door = api(MemoryOrders::default(), MemoryIdempotencyStore::default());
        door.validate().unwrap();
        door
    }

    fn request(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::from(body)).unwrap()
    }

    async fn call(
        door: &Door,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = door.handle(request(method, path, body, headers)).await;
        let status = response.status().as_u16();
        let body: Value = match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    const ORDER: &str = r#"{"customer": "cust-1", "kind": "physical", "lines": [{"sku": "mug", "quantity": 2, "unit_price": 1250}]}"#;

    #[tokio::test]
    async fn an_order_is_accepted_with_its_event_in_the_outbox() {
        let d = door();
        let (status, body) =
            call(&d, "POST", "/orders", ORDER, &[(CORRELATION_ID, "corr-9")]).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["correlation_id"], "corr-9");
        let outbox = d.state().outbox.lock().unwrap().clone();
        assert_eq!(outbox.len(), 1);
        let event = &outbox[0];
        assert_eq!(event.event_type, ORDER_PLACED);
        assert_eq!(event.correlation_id, "corr-9");
        assert_eq!(event.extensions["sequence"], "1");
        let placed: OrderPlaced = event.data_as().unwrap();
        assert_eq!(placed.total, 2500);
        assert_eq!(Some(placed.order_id.as_str()), body["order_id"].as_str());
    }

    #[tokio::test]
    async fn bad_orders_get_a_400_naming_the_field_and_write_nothing() {
        let d = door();
        for (body, needle) in [
            ("{not json", "not an order"),
            (
                r#"{"customer": "c", "kind": "physical", "lines": []}"#,
                "`lines`",
            ),
            (
                r#"{"customer": "c", "kind": "physical", "lines": [{"sku": "x", "quantity": 0, "unit_price": 1}]}"#,
                "lines[0].quantity",
            ),
            (
                r#"{"customer": "", "kind": "digital", "lines": [{"sku": "x", "quantity": 1, "unit_price": 1}]}"#,
                "`customer`",
            ),
            (
                r#"{"customer": "c", "kind": "teleport", "lines": []}"#,
                "unknown variant `teleport`",
            ),
            (
                r#"{"customer": "c", "kind": "digital", "lines": [], "coupon": "x"}"#,
                "unknown field `coupon`",
            ),
        ] {
            let (status, problem) = call(&d, "POST", "/orders", body, &[]).await;
            assert_eq!(status, 400, "{body}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains(needle), "{detail} should name {needle}");
        }
        assert!(d.state().outbox.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_retried_request_with_the_same_key_gets_the_first_answer() {
        let d = door();
        let key = [(IDEMPOTENCY_KEY, "k-1")];
        let first = call(&d, "POST", "/orders", ORDER, &key).await;
        let again = call(&d, "POST", "/orders", ORDER, &key).await;
        assert_eq!(first, again);
        assert_eq!(
            d.state().outbox.lock().unwrap().len(),
            1,
            "one order, one event"
        );
        let other_body = ORDER.replace("cust-1", "cust-2");
        let (status, problem) = call(&d, "POST", "/orders", &other_body, &key).await;
        assert_eq!(status, 422, "{problem}");
    }

    #[tokio::test]
    async fn cancel_follows_the_order_and_refuses_twice() {
        let d = door();
        let (_, placed) = call(&d, "POST", "/prod/orders", ORDER, &[]).await;
        let id = placed["order_id"].as_str().unwrap().to_owned();
        let (status, body) = call(
            &d,
            "POST",
            &format!("/prod/orders/{id}/cancel"),
            r#"{"reason": "changed mind"}"#,
            &[],
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["correlation_id"], placed["correlation_id"]);
        let outbox = d.state().outbox.lock().unwrap().clone();
        assert_eq!(outbox[1].event_type, ORDER_CANCELLED);
        assert_eq!(outbox[1].extensions["sequence"], "2");
        assert_eq!(outbox[1].correlation_id, outbox[0].correlation_id);
        let (status, _) = call(&d, "POST", &format!("/orders/{id}/cancel"), "", &[]).await;
        assert_eq!(status, 409);
        let (status, order) = call(&d, "GET", &format!("/orders/{id}"), "", &[]).await;
        assert_eq!((status, order["status"].as_str()), (200, Some("CANCELLED")));
        let (status, _) = call(&d, "POST", "/orders/o-missing/cancel", "", &[]).await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn the_api_gateway_samples_are_accepted_or_refused() {
        let d = door();
        for (text, status) in [
            (
                include_str!("../../../events/front-door/apigw-post-order.json"),
                202,
            ),
            (
                include_str!("../../../events/front-door/failure-apigw-post-invalid-order.json"),
                400,
            ),
        ] {
            let request = lambda_http::request::from_str(text).unwrap();
            let response = d.handle(request).await;
            assert_eq!(response.status().as_u16(), status);
        }
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_named() {
        let d = door();
        let (status, p) = call(&d, "GET", "/customers", "", &[]).await;
        assert_eq!(status, 404);
        assert!(p["detail"].as_str().unwrap().contains("POST /orders"));
        let (status, _) = call(&d, "DELETE", "/orders/o-1", "", &[]).await;
        assert_eq!(status, 405);
    }
}
