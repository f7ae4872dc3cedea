//! `make bench` (second half): an idempotent SQS batch against LocalStack's DynamoDB, side
//! by side with Powertools for AWS Lambda (Python) doing the same on the same table
//! (`tests/compat/powertools_batch_bench.py`). Wall time per batch of 10: new records
//! (2 DynamoDB calls each), then the same records again (1 call each, no local cache).
//! `make bench` runs it straight to LocalStack and through `tools/bench/with-latency.sh`
//! at 5 and 10 ms, where DynamoDB's round trips, not LocalStack's CPU, set the time.

use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use eventkit::aws::dynamodb::DynamoIdempotencyStore;
use eventkit::batch::{process_envelopes, BatchOptions};
use eventkit::idempotency::{Idempotency, IdempotencyConfig};
use eventkit::Envelope;
use eventkit_e2e::{create_table, require_localstack, run_python_peer};
use serde_json::json;

const ROUNDS: usize = 20;
const BATCH: usize = 10;

fn batch() -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = (0..BATCH)
        .map(|i| {
            let mut r = SqsMessage::default();
            r.message_id = Some(format!("m-{i}"));
            r.body = Some(Envelope::new("bench", "bench.event", json!({"i": i})).to_json());
            r.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:bench".into());
            r
        })
        .collect();
    event
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb, "id").await?;
    let idem = Idempotency::new(
        DynamoIdempotencyStore::new(dynamodb, &table),
        IdempotencyConfig::for_handler("bench").local_cache(0),
    );

    let mut results = Vec::new();
    for (label, concurrency) in [
        ("eventkit, concurrent records", BATCH),
        ("eventkit, one record at a time", 1),
    ] {
        let (mut fresh, mut duplicate) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let event = batch();
            for sink in [&mut fresh, &mut duplicate] {
                let start = Instant::now();
                let response = process_envelopes(
                    event.clone(),
                    BatchOptions {
                        concurrency,
                        ..Default::default()
                    },
                    None,
                    |e| {
                        let idem = &idem;
                        async move {
                            idem.run_envelope(&e, None, || async {
                                Ok::<_, String>(json!({"ok": true}))
                            })
                            .await
                            .map(|_| ())
                        }
                    },
                )
                .await;
                sink.push(start.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(
                    response.batch_item_failures.is_empty(),
                    "batch failed: {response:?}"
                );
            }
        }
        results.push((label.to_owned(), median(fresh), median(duplicate)));
    }

    let peer = run_python_peer(
        "powertools_batch_bench.py",
        &[&table, &ROUNDS.to_string(), &BATCH.to_string()],
    )?;
    let series = |k: &str| {
        peer[k]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_f64()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    results.push((
        "Powertools (Python) BatchProcessor".to_owned(),
        median(series("fresh_ms")),
        median(series("duplicate_ms")),
    ));

    // `tools/bench/with-latency.sh` sets it when a latency proxy sits in front of LocalStack
    let added = std::env::var("BENCH_ADDED_LATENCY_MS")
        .map(|ms| format!(", {ms} ms added to each request (+ up to a fifth of it as jitter)"))
        .unwrap_or_default();
    println!(
        "Idempotent SQS batch of {BATCH} on LocalStack DynamoDB{added}, median of {ROUNDS} batches"
    );
    println!("{:<38} {:>12} {:>14}", "", "new records", "duplicates");
    let (peer_fresh, peer_dup) = (results[2].1, results[2].2);
    for (label, fresh, dup) in &results {
        println!(
            "{label:<38} {fresh:>9.1} ms {dup:>11.1} ms   ratio to Powertools: {:.2} / {:.2}",
            fresh / peer_fresh,
            dup / peer_dup
        );
    }
    Ok(())
}
