//! Lambda entry point: wiring only.

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::required;
use front_door::dynamodb::DynamoOrders;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let idempotency = DynamoIdempotencyStore::new(dynamodb.clone(), required("IDEMPOTENCY_TABLE")?);
    let orders = DynamoOrders::new(
        dynamodb,
        required("ORDERS_TABLE")?,
        required("OUTBOX_TABLE")?,
    );
    // Span, metrics, idempotency and the init-time connection to the table: the kit's.
    front_door::api(orders, idempotency).run().await
}
