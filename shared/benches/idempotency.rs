//! Idempotency round trips for a batch of 10 SQS records, with a store that takes 2 ms per
//! call (a DynamoDB round trip in-region is ~2-5 ms). Concurrent records overlap their
//! round trips; the `sequential` case is the 2N-round-trip design the kit avoids.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use criterion::{criterion_main, Criterion};
use eventkit::batch::{process_envelopes, BatchOptions};
use eventkit::envelope::Envelope;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, MemoryIdempotencyStore};
use serde_json::json;

const BATCH: usize = 10;
const ROUND_TRIP: Duration = Duration::from_millis(2);

fn batch() -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = (0..BATCH)
        .map(|i| {
            let mut r = SqsMessage::default();
            r.message_id = Some(format!("m-{i}"));
            r.body = Some(Envelope::new("bench", "bench.event", json!({"i": i})).to_json());
            r
        })
        .collect();
    event
}

fn run(concurrency: usize) -> (Duration, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let store = Arc::new(MemoryIdempotencyStore::with_latency(ROUND_TRIP));
    let idem = Idempotency::new(
        store.clone(),
        IdempotencyConfig::for_handler("bench").local_cache(0),
    );
    let start = std::time::Instant::now();
    let response = rt.block_on(process_envelopes(
        batch(),
        BatchOptions {
            concurrency,
            ..Default::default()
        },
        None,
        |e| {
            let idem = &idem;
            async move {
                idem.run_envelope(&e, None, || async { Ok::<_, String>(()) })
                    .await
                    .map(|_| ())
            }
        },
    ));
    assert!(response.batch_item_failures.is_empty());
    (start.elapsed(), store.calls())
}

fn bench(c: &mut Criterion) {
    let (elapsed, calls) = run(BATCH);
    println!("concurrent batch of {BATCH}: {calls} store calls in {elapsed:?} ({} sequential round-trip times)", (elapsed.as_secs_f64() / ROUND_TRIP.as_secs_f64()).round());
    let (elapsed, calls) = run(1);
    println!("sequential batch of {BATCH}: {calls} store calls in {elapsed:?} ({} sequential round-trip times)", (elapsed.as_secs_f64() / ROUND_TRIP.as_secs_f64()).round());
    let mut group = c.benchmark_group("idempotent_batch_of_10");
    group.sample_size(20);
    group.bench_function("concurrent", |b| b.iter(|| run(BATCH)));
    group.bench_function("sequential", |b| b.iter(|| run(1)));
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
