//! What the metrics cost per record: an SQS batch of 10 envelopes through the router to a
//! no-op typed handler, with metrics off (no recorder: the `metrics` facade does nothing)
//! and on (the EMF recorder, and the per-invocation flush `Router::run` does, rendered to a
//! buffer instead of stdout), then with OpenTelemetry spans too (`on+traces`). Report each
//! against `off` per record.
//!
//! The cases run in this order: the recorder and the tracer, once installed, stay for the
//! process.

use criterion::{criterion_main, Criterion, Throughput};
use eventkit::{emf, Envelope, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Placed {
    #[allow(dead_code)]
    order: u32,
}

const RECORDS: usize = 10;

fn batch() -> Value {
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let e = Envelope::new("eventkit.orders", "order.placed", json!({"order": i}));
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": "rh",
                "body": e.to_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let router = Router::new().on("order.placed", |_, _: Envelope<Placed>| async {
        Ok::<_, &'static str>(())
    });
    let event = batch();
    let mut group = c.benchmark_group("router_metrics");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("off", |b| {
        b.iter(|| runtime.block_on(router.handle(std::hint::black_box(event.clone()), None)))
    });
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "bench-orders");
    std::env::set_var("EVENTKIT_PATTERN", "point-to-point");
    assert!(emf::init().is_some(), "the EMF recorder installs");
    group.bench_function("on", |b| {
        b.iter(|| {
            let answer = runtime.block_on(router.handle(std::hint::black_box(event.clone()), None));
            (answer, emf::take())
        })
    });
    // Every record's consumer span recorded and exported as its OTLP/JSON line (to a sink:
    // the serialisation is measured, not the terminal), as with OTEL_TRACES_EXPORTER=console;
    // run with OTEL_TRACES_EXPORTER=none for spans and propagation without export.
    if std::env::var("OTEL_TRACES_EXPORTER").as_deref() == Ok("none") {
        eventkit::otel::init();
    } else {
        eventkit::otel::init_with_writer(std::io::sink());
    }
    group.bench_function("on+traces", |b| {
        b.iter(|| {
            let answer = runtime.block_on(router.handle(std::hint::black_box(event.clone()), None));
            (answer, emf::take())
        })
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
