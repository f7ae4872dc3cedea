//! Envelope parse + validate per event, side by side with the official CloudEvents Rust SDK
//! (`cloudevents-sdk`) parsing the same text into its `Event`, and a bare
//! `serde_json::Value` parse (the floor any JSON envelope pays). Report the ratios.

use criterion::{criterion_main, Criterion, Throughput};
use eventkit::envelope::Envelope;
use serde_json::{json, Value};

fn sample() -> String {
    let mut e = Envelope::new(
        "eventkit.orders",
        "order.placed",
        json!({"order": 42, "customer": "c-7", "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}], "total": 12.5}),
    )
    .with_subject("order-42")
    .with_partition_key("c-7");
    e.extensions.insert("tenant".into(), json!("acme"));
    e.to_json()
}

fn bench(c: &mut Criterion) {
    let text = sample();
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_validate", |b| {
        b.iter(|| Envelope::<Value>::from_json(std::hint::black_box(&text)).unwrap())
    });
    group.bench_function("cloudevents_sdk_peer", |b| {
        b.iter(|| serde_json::from_str::<cloudevents::Event>(std::hint::black_box(&text)).unwrap())
    });
    group.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| serde_json::from_str::<Value>(std::hint::black_box(&text)).unwrap())
    });
    let envelope = Envelope::<Value>::from_json(&text).unwrap();
    group.bench_function("serialize", |b| {
        b.iter(|| std::hint::black_box(&envelope).to_json())
    });
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
