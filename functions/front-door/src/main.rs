//! Lambda entry point: wiring only.

use std::sync::Arc;

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::{optional, required};
use eventkit::idempotency;
use front_door::{dynamodb::DynamoOrders, FrontDoor};
use lambda_http::{run, service_fn, Error, Request, RequestExt};

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventkit::observability::init_tracing();
    eventkit::emf::init();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let idempotency = DynamoIdempotencyStore::new(dynamodb.clone(), required("IDEMPOTENCY_TABLE")?);
    // The connection and TLS set-up in init, on a full core, not in the first request.
    let connections = idempotency::prewarm_connections(optional(idempotency::PREWARM).as_deref())?;
    idempotency::prewarm(&idempotency, connections).await;
    let door = Arc::new(FrontDoor::new(
        DynamoOrders::new(
            dynamodb,
            required("ORDERS_TABLE")?,
            required("OUTBOX_TABLE")?,
        ),
        idempotency,
    ));
    run(service_fn(move |request: Request| {
        let door = door.clone();
        async move {
            let request_id = request
                .lambda_context_ref()
                .map(|c| c.request_id.clone())
                .unwrap_or_default();
            let response = front_door::handle(door, request).await;
            // Not a router: a request is its record (a 5xx is a failed one).
            let failed = response.status().is_server_error();
            eventkit::emf::records(u64::from(!failed), u64::from(failed));
            eventkit::emf::flush_invocation(&request_id);
            Ok::<_, Error>(response)
        }
    }))
    .await
}
