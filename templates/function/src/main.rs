//! Lambda entry point: wiring only (settings, clients, the router).

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::config::required;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let idempotency = DynamoIdempotencyStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        required("IDEMPOTENCY_TABLE")?,
    );
    {{ project_name | replace: "-", "_" }}::router(idempotency).run().await
}
