//! Lambda entry point: wiring only. Configuration and clients are built once per
//! execution environment; the handler lives in the library.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use eventkit::aws::{dynamodb::DynamoIdempotencyStore, load_config, s3};
use eventkit::claim_check::{ClaimCheck, Offload, Transport};
use eventkit::idempotency::{Idempotency, IdempotencyConfig};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use p2p_consumer::{dynamodb::DynamoLedger, Consumer};

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .map_err(|_| format!("environment variable {name} is not set; the template sets it").into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let claim_check = std::env::var("CLAIM_CHECK_BUCKET").ok().map(|bucket| {
        let store = Arc::new(eventkit::aws::s3::S3PayloadStore::new(s3::client(&config)));
        ClaimCheck::new(
            store,
            bucket,
            Offload::Above(Transport::Sqs.default_threshold()),
        )
    });
    let consumer = Consumer {
        ledger: DynamoLedger::new(dynamodb.clone(), env("LEDGER_TABLE")?),
        idempotency: Idempotency::new(
            DynamoIdempotencyStore::new(dynamodb, env("IDEMPOTENCY_TABLE")?),
            IdempotencyConfig::for_handler("handle"),
        ),
        claim_check,
    };
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let remaining = remaining(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(consumer.handle_batch(event.payload, remaining).await)
    }))
    .await
}

/// Time left before the invocation's deadline (epoch milliseconds).
fn remaining(deadline_ms: u64) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    deadline_ms.checked_sub(now).map(Duration::from_millis)
}
