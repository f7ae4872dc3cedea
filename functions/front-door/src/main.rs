//! Lambda entry point: wiring only.

use std::sync::Arc;

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::required;
use front_door::{dynamodb::DynamoOrders, FrontDoor};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventkit::observability::init_tracing();
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
        async move { Ok::<_, Error>(front_door::handle(door, request).await) }
    }))
    .await
}
