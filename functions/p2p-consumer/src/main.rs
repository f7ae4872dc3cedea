//! Lambda entry point: wiring only. Configuration and clients are built once per
//! execution environment; the handler lives in the library.

use eventkit::aws::{claim_check_from_env, dynamodb::DynamoIdempotencyStore, load_config};
use eventkit::claim_check::Transport;
use eventkit::config::required;
use p2p_consumer::dynamodb::DynamoLedger;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let idempotency_table = required("IDEMPOTENCY_TABLE")?;
    let ledger = DynamoLedger::new(
        dynamodb.clone(),
        required("LEDGER_TABLE")?,
        &idempotency_table,
    );
    let idempotency = DynamoIdempotencyStore::new(dynamodb, idempotency_table);
    let mut router = p2p_consumer::router(ledger, idempotency);
    if let Some(claim_check) = claim_check_from_env(&config, Transport::Sqs) {
        router = router.claim_check(claim_check);
    }
    router.run().await
}
