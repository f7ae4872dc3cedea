//! Lambda entry point: wiring only.

use customer_service::dynamodb::DynamoProfiles;
use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::required;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let profiles = DynamoProfiles::new(
        dynamodb.clone(),
        required("PROFILES_TABLE")?,
        required("OUTBOX_TABLE")?,
    );
    let idempotency = DynamoIdempotencyStore::new(dynamodb, required("IDEMPOTENCY_TABLE")?);
    customer_service::router(profiles, idempotency).run().await
}
