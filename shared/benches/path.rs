//! Per-event CPU of the whole path a queue consumer runs, against a floor: an SQS batch of
//! 10 records, each body an EventBridge event (a bus rule's SQS target) whose `detail` is
//! an envelope, from the invocation's bytes to the serialised partial batch response.
//!
//! - `kit`: the bytes read as `Router::run` has the runtime hand them over (a
//!   `Box<RawValue>`), then `Router::handle_json`: the SQS batch parsed, each record
//!   unwrapped, the envelope validated, dispatched by type to a no-op typed handler; the
//!   response serialised. Metrics and spans off (their cost is the `metrics` bench).
//! - `floor`: a hand-written `serde_json` handler on the same bytes: borrowed structs for
//!   the batch, the EventBridge event and the envelope's `type` and `data`, the same no-op
//!   handler, the same response. It checks nothing else, so it is the least any handler
//!   could do with these bytes.
//!
//! Report `kit` / `floor` per batch; the other cases split the kit's time.

use aws_lambda_events::event::sqs::SqsEvent;
use criterion::{criterion_main, Criterion, Throughput};
use eventkit::{Envelope, Router};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

const RECORDS: usize = 10;

#[derive(Deserialize)]
struct Placed {
    order: u32,
}

fn batch() -> Vec<u8> {
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let e = Envelope::new("eventkit.orders", "order.placed", json!({"order": i}));
            let eb = json!({
                "version": "0", "id": format!("eb-{i}"), "detail-type": "order.placed",
                "source": "eventkit.orders", "account": "000000000000",
                "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [],
                "detail": e
            });
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": "rh",
                "body": eb.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000"},
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).expect("serialises")
}

mod floor {
    use serde::{Deserialize, Serialize};
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<Record<'a>>,
    }

    #[derive(Deserialize)]
    struct Record<'a> {
        #[serde(rename = "messageId", borrow)]
        message_id: Cow<'a, str>,
        #[serde(borrow)]
        body: Cow<'a, str>,
    }

    #[derive(Deserialize)]
    struct Bus<'a> {
        #[serde(borrow)]
        detail: Detail<'a>,
    }

    #[derive(Deserialize)]
    struct Detail<'a> {
        #[serde(rename = "type", borrow)]
        event_type: Cow<'a, str>,
        data: super::Placed,
    }

    #[derive(Serialize)]
    struct Failure<'a> {
        #[serde(rename = "itemIdentifier")]
        item_identifier: &'a str,
    }

    #[derive(Serialize)]
    struct Response<'a> {
        #[serde(rename = "batchItemFailures")]
        batch_item_failures: Vec<Failure<'a>>,
    }

    /// The batch response's bytes; a record that does not parse or is not an
    /// `order.placed` is a failure, as in the kit.
    pub fn handle(bytes: &[u8], handler: impl Fn(super::Placed)) -> Vec<u8> {
        let batch: Batch = serde_json::from_slice(bytes).expect("an SQS batch");
        let mut failures = Vec::new();
        for record in &batch.records {
            match serde_json::from_str::<Bus>(&record.body) {
                Ok(bus) if bus.detail.event_type == "order.placed" => handler(bus.detail.data),
                _ => failures.push(Failure {
                    item_identifier: &record.message_id,
                }),
            }
        }
        serde_json::to_vec(&Response {
            batch_item_failures: failures,
        })
        .expect("serialises")
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let router = Router::new().on("order.placed", |_, e: Envelope<Placed>| async move {
        std::hint::black_box(e.data.map(|d| d.order));
        Ok::<_, &'static str>(())
    });
    let bytes = batch();
    let kit = |bytes: &[u8]| {
        let event: Box<RawValue> = serde_json::from_slice(bytes).expect("JSON");
        let answer = runtime
            .block_on(router.handle_json(event.get(), None))
            .expect("a batch response");
        serde_json::to_vec(&answer).expect("serialises")
    };
    // Both answer the same: no failures.
    assert_eq!(kit(&bytes), br#"{"batchItemFailures":[]}"#.to_vec());
    assert_eq!(
        floor::handle(&bytes, |p| {
            std::hint::black_box(p.order);
        }),
        br#"{"batchItemFailures":[]}"#.to_vec()
    );

    let mut group = c.benchmark_group("sqs_eventbridge_envelope_path");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("floor", |b| {
        b.iter(|| {
            floor::handle(std::hint::black_box(&bytes), |p| {
                std::hint::black_box(p.order);
            })
        })
    });
    group.bench_function("kit", |b| b.iter(|| kit(std::hint::black_box(&bytes))));
    // Where the kit's time goes: the payload as the runtime hands it over (a scan of the
    // whole text), the ten bodies read into envelopes, and the router on an already parsed
    // `SqsEvent` (the public entry for one; its clone included).
    group.bench_function("kit: the payload read as a RawValue only", |b| {
        b.iter(|| {
            serde_json::from_slice::<Box<RawValue>>(std::hint::black_box(&bytes)).expect("JSON")
        })
    });
    let parsed: SqsEvent = serde_json::from_slice(&bytes).expect("JSON");
    let bodies: Vec<String> = parsed
        .records
        .iter()
        .map(|r| r.body.clone().unwrap_or_default())
        .collect();
    group.bench_function("kit: the 10 bodies read into envelopes only", |b| {
        b.iter(|| {
            for body in std::hint::black_box(&bodies) {
                std::hint::black_box(eventkit::unwrap::from_sqs_body(body).expect("an envelope"));
            }
        })
    });
    group.bench_function("kit: router on a parsed SqsEvent (clone included)", |b| {
        b.iter(|| runtime.block_on(router.handle_sqs(std::hint::black_box(&parsed).clone(), None)))
    });
    group.bench_function("clone of the parsed SqsEvent", |b| {
        b.iter(|| std::hint::black_box(&parsed).clone())
    });
    // The way `Router::handle` takes an event: parsed into a `Value` first.
    group.bench_function("kit through a Value (Router::handle)", |b| {
        b.iter(|| {
            let event: Value = serde_json::from_slice(std::hint::black_box(&bytes)).expect("JSON");
            runtime
                .block_on(router.handle(event, None))
                .expect("a batch response")
        })
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
