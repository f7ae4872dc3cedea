//! The synchronous front door: an HTTP API that accepts orders and starts everything else.
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
//! The same code serves API Gateway (REST or HTTP API) and Lambda function URLs.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, IdempotencyStore};
use eventkit::{otel, Envelope};
use eventkit_contracts::orders::{
    Line, OrderCancelled, OrderKind, OrderPlaced, ORDER_CANCELLED, ORDER_PLACED, SOURCE,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod dynamodb;

/// Header a client sets to make a request safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header a caller sets to join an existing conversation.
pub const CORRELATION_ID: &str = "x-correlation-id";

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

/// An HTTP answer, serialisable so idempotent retries replay it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Answer {
    fn new(status: StatusCode, body: Value) -> Self {
        Answer {
            status: status.as_u16(),
            body,
        }
    }

    fn problem(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Answer::new(
            status,
            json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail.into()}),
        )
    }

    fn into_response(self) -> Response<Body> {
        let content_type = if self.status >= 400 {
            "application/problem+json"
        } else {
            "application/json"
        };
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", content_type);
        if self.status == 202 {
            if let Some(id) = self.body.get("order_id").and_then(Value::as_str) {
                builder = builder.header("location", format!("/orders/{id}"));
            }
        }
        builder
            .body(Body::from(self.body.to_string()))
            .unwrap_or_else(|_| Response::new(Body::from("internal error")))
    }
}

/// The front door's dependencies.
pub struct FrontDoor<S, I> {
    /// Orders and outbox.
    pub orders: S,
    /// Client retries answered from here (`Idempotency-Key`).
    pub idempotency: Idempotency<I>,
}

impl<S: OrderStore, I: IdempotencyStore> FrontDoor<S, I> {
    /// A front door over `orders`, answering retried requests (same `Idempotency-Key`)
    /// from `store` for an hour; the key with another body is refused.
    pub fn new(orders: S, store: I) -> Self {
        FrontDoor {
            orders,
            idempotency: Idempotency::new(
                store,
                IdempotencyConfig::for_handler("orders")
                    .key_pointer("/key")
                    .validate_payload("/body"),
            ),
        }
    }
}

/// Handles one HTTP request.
pub async fn handle<S: OrderStore, I: IdempotencyStore>(
    door: Arc<FrontDoor<S, I>>,
    request: Request,
) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // API Gateway may prefix a stage or base path; route on what follows `/orders`.
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let from = segments.iter().position(|s| *s == "orders");
    let route = from.map(|i| &segments[i..]).unwrap_or(&[]);
    let correlation = header(&request, CORRELATION_ID);
    let body = match request.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    let template = match route {
        ["orders"] => "/orders",
        ["orders", _] => "/orders/{id}",
        ["orders", _, "cancel"] => "/orders/{id}/cancel",
        _ => "unmatched",
    };
    // The caller's W3C trace, else the invocation's X-Ray trace, else a new one; the
    // events this request writes carry it on.
    let xray = request
        .lambda_context_ref()
        .and_then(|c| c.xray_trace_id.clone());
    let parent = otel::continued(
        header(&request, "traceparent").as_deref(),
        header(&request, "tracestate").as_deref(),
        || otel::xray_context(xray.as_deref()),
    );
    let cx = otel::start(
        format!("{method} {template}"),
        SpanKind::Server,
        vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", template),
            KeyValue::new("url.path", path.clone()),
        ],
        &parent,
    );
    let answer =
        async { route_request(&door, &request, &method, &path, route, correlation, &body).await }
            .with_context(cx.clone())
            .await;
    otel::set_attribute(
        &cx,
        KeyValue::new("http.response.status_code", i64::from(answer.status)),
    );
    let failed = (answer.status >= 500).then(|| answer.body["detail"].to_string());
    otel::finish(&cx, failed.as_ref().map(|d| d as &dyn std::fmt::Display));
    if answer.status >= 500 {
        tracing::error!(status = answer.status, detail = %answer.body["detail"], "request failed");
    }
    answer.into_response()
}

async fn route_request<S: OrderStore, I: IdempotencyStore>(
    door: &FrontDoor<S, I>,
    request: &Request,
    method: &Method,
    path: &str,
    route: &[&str],
    correlation: Option<String>,
    body: &[u8],
) -> Answer {
    match (method, route) {
        (&Method::POST, ["orders"]) => {
            match header(request, IDEMPOTENCY_KEY) {
                Some(key) => idempotent(door, &key, body, || place(door, body, correlation.clone())).await,
                None => place(door, body, correlation).await,
            }
        }
        (&Method::POST, ["orders", id, "cancel"]) => cancel(door, id, body).await,
        (&Method::GET, ["orders", id]) => get(door, id).await,
        (_, ["orders"] | ["orders", _] | ["orders", _, "cancel"]) => Answer::problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!("{method} is not allowed on {path}; use POST /orders, POST /orders/{{id}}/cancel or GET /orders/{{id}}"),
        ),
        _ => Answer::problem(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("no route for {method} {path}; use POST /orders, POST /orders/{{id}}/cancel or GET /orders/{{id}}"),
        ),
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn idempotent<S: OrderStore, I: IdempotencyStore, F, Fut>(
    door: &FrontDoor<S, I>,
    key: &str,
    body: &[u8],
    run: F,
) -> Answer
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    // The key and a hash of the body: the same key with another body is refused.
    let event = json!({"key": key, "body": String::from_utf8_lossy(body)});
    let result = door
        .idempotency
        .run(&event, None, || async {
            let answer = run().await;
            // Only success is remembered: a failed attempt may be retried with the same key.
            if answer.status >= 400 {
                Err(answer)
            } else {
                Ok(answer)
            }
        })
        .await;
    match result {
        Ok(outcome) => outcome.into_inner(),
        Err(IdempotencyError::Handler(answer)) => answer,
        Err(IdempotencyError::PayloadMismatch { .. }) => Answer::problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency key reused",
            format!("Idempotency-Key `{key}` was used with a different body; use a new key for a new order"),
        ),
        Err(IdempotencyError::AlreadyInProgress { .. }) => Answer::problem(
            StatusCode::CONFLICT,
            "Request in progress",
            format!("a request with Idempotency-Key `{key}` is still being processed; retry in a moment"),
        ),
        Err(e) => Answer::problem(StatusCode::SERVICE_UNAVAILABLE, "Try again", e.to_string()),
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
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

fn unavailable(e: StoreError) -> Answer {
    Answer::problem(StatusCode::SERVICE_UNAVAILABLE, "Try again", e.to_string())
}

async fn place<S: OrderStore, I: IdempotencyStore>(
    door: &FrontDoor<S, I>,
    body: &[u8],
    correlation: Option<String>,
) -> Answer {
    let request: PlaceOrder = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Answer::problem(
                StatusCode::BAD_REQUEST,
                "Invalid order",
                format!("the body is not an order ({{\"customer\", \"kind\": \"physical\"|\"digital\", \"lines\": [{{\"sku\", \"quantity\", \"unit_price\"}}]}}): {e}"),
            )
        }
    };
    let total = match validate(&request) {
        Ok(total) => total,
        Err(detail) => return Answer::problem(StatusCode::BAD_REQUEST, "Invalid order", detail),
    };
    let order_id = format!("o-{}", uuid::Uuid::new_v4().simple());
    let payload = OrderPlaced {
        order_id: order_id.clone(),
        customer: request.customer,
        kind: request.kind,
        lines: request.lines,
        total,
    };
    let mut event = Envelope::new_typed(SOURCE, ORDER_PLACED, payload.clone())
        .with_subject(&order_id)
        .with_partition_key(&order_id);
    if let Some(c) = correlation {
        event.correlation_id = c;
    }
    event.extensions.insert("sequence".into(), json!("1"));
    let order = Order {
        order_id: order_id.clone(),
        customer: payload.customer,
        kind: payload.kind,
        lines: payload.lines,
        total,
        status: Status::Placed,
        version: 1,
        correlation_id: event.correlation_id.clone(),
    };
    let event = match event.to_untyped() {
        Ok(e) => e,
        Err(e) => {
            return Answer::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                e.to_string(),
            )
        }
    };
    if let Err(e) = door.orders.place(&order, &event).await {
        return unavailable(e);
    }
    tracing::info!(order_id = %order_id, correlation_id = %event.correlation_id, event_id = %event.id, "order accepted");
    Answer::new(
        StatusCode::ACCEPTED,
        json!({"order_id": order_id, "correlation_id": event.correlation_id, "event_id": event.id, "status": "accepted"}),
    )
}

async fn cancel<S: OrderStore, I: IdempotencyStore>(
    door: &FrontDoor<S, I>,
    order_id: &str,
    body: &[u8],
) -> Answer {
    let request: CancelOrder = if body.is_empty() {
        CancelOrder::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Answer::problem(
                    StatusCode::BAD_REQUEST,
                    "Invalid cancellation",
                    format!("the body is not a cancellation ({{\"reason\"}}): {e}"),
                )
            }
        }
    };
    let order = match door.orders.get(order_id).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return Answer::problem(
                StatusCode::NOT_FOUND,
                "No such order",
                format!("order `{order_id}` does not exist"),
            )
        }
        Err(e) => return unavailable(e),
    };
    if order.status != Status::Placed {
        return Answer::problem(
            StatusCode::CONFLICT,
            "Not cancellable",
            format!(
                "order `{order_id}` is {:?}, only a placed order can be cancelled",
                order.status
            ),
        );
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
            .reason
            .unwrap_or_else(|| "customer request".to_owned()),
    };
    let mut event = Envelope::new_typed(SOURCE, ORDER_CANCELLED, payload)
        .with_subject(order_id)
        .with_partition_key(order_id);
    event.correlation_id = changed.correlation_id.clone();
    event
        .extensions
        .insert("sequence".into(), json!(changed.version.to_string()));
    let event = match event.to_untyped() {
        Ok(e) => e,
        Err(e) => {
            return Answer::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                e.to_string(),
            )
        }
    };
    match door.orders.change(&changed, previous, &event).await {
        Ok(()) => Answer::new(
            StatusCode::ACCEPTED,
            json!({"order_id": order_id, "correlation_id": event.correlation_id, "event_id": event.id, "status": "cancelling"}),
        ),
        Err(StoreError::Conflict(_)) => Answer::problem(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "order `{order_id}` changed while it was being cancelled; read it again and retry"
            ),
        ),
        Err(e) => unavailable(e),
    }
}

async fn get<S: OrderStore, I: IdempotencyStore>(door: &FrontDoor<S, I>, order_id: &str) -> Answer {
    match door.orders.get(order_id).await {
        Ok(Some(order)) => Answer::new(
            StatusCode::OK,
            serde_json::to_value(order).unwrap_or(Value::Null),
        ),
        Ok(None) => Answer::problem(
            StatusCode::NOT_FOUND,
            "No such order",
            format!("order `{order_id}` does not exist"),
        ),
        Err(e) => unavailable(e),
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

    type Door = Arc<FrontDoor<MemoryOrders, MemoryIdempotencyStore>>;

    fn door() -> Door {
        Arc::new(FrontDoor::new(
            MemoryOrders::default(),
            MemoryIdempotencyStore::default(),
        ))
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
        let response = handle(door.clone(), request(method, path, body, headers)).await;
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
        let outbox = d.orders.outbox.lock().unwrap().clone();
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
        assert!(d.orders.outbox.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_retried_request_with_the_same_key_gets_the_first_answer() {
        let d = door();
        let key = [(IDEMPOTENCY_KEY, "k-1")];
        let first = call(&d, "POST", "/orders", ORDER, &key).await;
        let again = call(&d, "POST", "/orders", ORDER, &key).await;
        assert_eq!(first, again);
        assert_eq!(
            d.orders.outbox.lock().unwrap().len(),
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
        let outbox = d.orders.outbox.lock().unwrap().clone();
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
            let response = handle(d.clone(), request).await;
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
