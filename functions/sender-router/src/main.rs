//! Lambda entry point: wiring only.

use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config, sqs::SqsQueues};
use eventkit::config::required;
use sender_router::{parse_routes, SenderRouter};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let state = SenderRouter {
        routes: parse_routes(&required("ROUTES")?)?,
        queues: SqsQueues::new(aws_sdk_sqs::Client::new(&config)),
    };
    let idempotency = DynamoIdempotencyStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        required("IDEMPOTENCY_TABLE")?,
    );
    sender_router::router(state, idempotency).run().await
}
