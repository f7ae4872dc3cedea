//! Lambda entry point: wiring only.

use std::sync::Arc;

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::required;
use front_door::{dynamodb::DynamoOrders, FrontDoor};
use lambda_http::{run, service_fn, Error, Request, RequestExt};

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventkit::observability::init_tracing();
    eventkit::emf::init();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let door = Arc::new(FrontDoor::new(
        DynamoOrders::new(
            dynamodb.clone(),
            required("ORDERS_TABLE")?,
            required("OUTBOX_TABLE")?,
        ),
        DynamoIdempotencyStore::new(dynamodb, required("IDEMPOTENCY_TABLE")?),
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
