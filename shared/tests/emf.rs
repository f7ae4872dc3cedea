//! The metrics a router function emits, read back as CloudWatch would read them: every line
//! checked against the EMF specification, every count against what the test sent.
//!
//! One test in its own binary: the `metrics` recorder is process-wide.

use std::collections::BTreeMap;
use std::sync::Arc;

use eventkit::claim_check::{ClaimCheck, MemoryPayloadStore, Offload};
use eventkit::emf::{self, spec};
use eventkit::idempotency::MemoryIdempotencyStore;
use eventkit::{Envelope, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Placed {
    #[allow(dead_code)]
    order: u32,
}

#[derive(Deserialize)]
struct Paid {
    fail: bool,
}

/// The handlers' error: a named error type, as Lambda reports it.
#[derive(Debug, thiserror::Error, eventkit::ErrorType)]
#[error("payment refused by the test")]
struct Refused;

fn envelope(event_type: &str, data: Value, seconds_old: i64) -> Envelope {
    let mut e = Envelope::new("eventkit.test", event_type, data);
    e.time = Some(chrono::Utc::now() - chrono::Duration::seconds(seconds_old));
    e
}

fn sqs_record(id: &str, body: &str, receive_count: u32) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("rh-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:orders",
        "awsRegion": "us-east-1"
    })
}

/// Sum of one metric's values, per dimension set (names and values), over all documents.
type Sums = BTreeMap<(String, Vec<(String, String)>), Vec<f64>>;

fn read(documents: &[u8]) -> Sums {
    let text = std::str::from_utf8(documents).expect("EMF output is UTF-8");
    assert!(!text.is_empty(), "nothing was emitted");
    let mut sums = Sums::new();
    for line in text.lines() {
        let data = spec::check_line(line).unwrap_or_else(|e| panic!("{e}\nline: {line}"));
        assert!(!data.is_empty(), "a document with no metric: {line}");
        for datum in data {
            assert_eq!(datum.namespace, "ShopIntegration");
            let unit = datum.unit.clone().unwrap_or_default();
            let expected_unit = match datum.name.as_str() {
                emf::EVENT_AGE => "Milliseconds",
                emf::CLAIM_CHECK_BYTES_REDEEMED | emf::CLAIM_CHECK_BYTES_OFFLOADED => "Bytes",
                _ => "Count",
            };
            assert_eq!(unit, expected_unit, "unit of {}", datum.name);
            sums.entry((datum.name, datum.dimensions))
                .or_default()
                .extend(datum.values);
        }
    }
    sums
}

fn dims(event_type: Option<&str>) -> Vec<(String, String)> {
    let mut d = vec![
        ("Function".to_owned(), "shop-orders".to_owned()),
        ("Pattern".to_owned(), "point-to-point".to_owned()),
    ];
    if let Some(t) = event_type {
        d.push(("EventType".to_owned(), t.to_owned()));
    }
    d
}

fn total(sums: &Sums, name: &str, event_type: Option<&str>) -> f64 {
    sums.get(&(name.to_owned(), dims(event_type)))
        .map(|v| v.iter().sum())
        .unwrap_or(0.0)
}

fn values<'a>(sums: &'a Sums, name: &str, event_type: Option<&str>) -> &'a [f64] {
    sums.get(&(name.to_owned(), dims(event_type)))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[tokio::test(flavor = "current_thread")]
async fn a_router_function_emits_valid_emf_with_the_counts_it_saw() {
    std::env::set_var("POWERTOOLS_METRICS_NAMESPACE", "ShopIntegration");
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "shop-orders");
    std::env::set_var("EVENTKIT_PATTERN", "point-to-point");
    assert!(emf::init().is_some(), "the EMF recorder installs");

    let payloads = Arc::new(MemoryPayloadStore::default());
    let claim_check = ClaimCheck::new(payloads.clone(), "claims", Offload::Above(usize::MAX));
    let router = Router::new()
        .idempotency_store(MemoryIdempotencyStore::default())
        .claim_check(claim_check.clone())
        .on("order.placed", |_, _: Envelope<Placed>| async {
            Ok::<_, Refused>(())
        })
        .idempotent()
        .on("order.paid", |_, p: Envelope<Paid>| async move {
            if p.data.is_some_and(|d| d.fail) {
                Err(Refused)
            } else {
                Ok(())
            }
        });

    // Batch 1: 3 placed (one 5 s old), 2 paid (one refused), 1 unknown type, 1 unreadable,
    // 1 placed whose payload is claim-checked; one record is a redelivery.
    let first = envelope("order.placed", json!({"order": 1}), 5);
    let mut checked = envelope("order.placed", json!({"order": 4}), 0);
    let payload = serde_json::to_vec(&json!({"order": 4})).unwrap();
    let big = ClaimCheck::new(payloads.clone(), "claims", Offload::Always);
    checked = big.check_in(checked, 0).await.unwrap();
    assert!(checked.dataref.is_some(), "the payload went to the store");
    let bodies = [
        first.to_json(),
        envelope("order.placed", json!({"order": 2}), 0).to_json(),
        envelope("order.placed", json!({"order": 3}), 0).to_json(),
        envelope("order.paid", json!({"fail": false}), 0).to_json(),
        envelope("order.paid", json!({"fail": true}), 0).to_json(),
        envelope("order.lost", json!({}), 0).to_json(),
        "{not an envelope".to_owned(),
        checked.to_json(),
    ];
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| sqs_record(&format!("m-{i}"), b, if i == 1 { 3 } else { 1 }))
        .collect();
    let response = router
        .handle(json!({ "Records": records }), None)
        .await
        .unwrap();
    assert_eq!(
        response["batchItemFailures"].as_array().unwrap().len(),
        3,
        "refused payment, unknown type, unreadable: {response}"
    );
    // Batch 2: the first envelope again (a duplicate the idempotency absorbs).
    router
        .handle(
            json!({ "Records": [sqs_record("m-8", &first.to_json(), 2)] }),
            None,
        )
        .await
        .unwrap();
    // A direct invoke that succeeds and one that fails: one record each.
    router
        .handle(
            serde_json::to_value(envelope("order.paid", json!({"fail": false}), 0)).unwrap(),
            None,
        )
        .await
        .unwrap();
    router
        .handle(
            serde_json::to_value(envelope("order.paid", json!({"fail": true}), 0)).unwrap(),
            None,
        )
        .await
        .unwrap_err();

    let documents = emf::take();
    if std::env::var_os("EMF_SHOW").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&documents));
    }
    let sums = read(&documents);
    // Overall: 3 placed + 1 claim-checked + 1 paid + 1 duplicate + 1 invoke.
    assert_eq!(total(&sums, emf::RECORDS_PROCESSED, None), 7.0);
    // Refused payment, unknown type, unreadable body, refused invoke.
    assert_eq!(total(&sums, emf::RECORDS_FAILED, None), 4.0);
    assert_eq!(
        total(&sums, emf::RECORDS_PROCESSED, Some("order.placed")),
        5.0
    );
    assert_eq!(
        total(&sums, emf::RECORDS_PROCESSED, Some("order.paid")),
        2.0
    );
    assert_eq!(total(&sums, emf::RECORDS_FAILED, Some("order.paid")), 2.0);
    assert_eq!(
        total(&sums, emf::DUPLICATES_ABSORBED, Some("order.placed")),
        1.0
    );
    assert_eq!(total(&sums, emf::DUPLICATES_ABSORBED, None), 1.0);
    assert_eq!(total(&sums, emf::UNKNOWN_TYPE, None), 1.0);
    assert!(
        !sums
            .keys()
            .any(|(_, d)| d.iter().any(|(_, v)| v == "order.lost")),
        "a type nobody handles never becomes a dimension value"
    );
    assert_eq!(total(&sums, emf::RECORDS_RETRIED, None), 2.0, "m-1 and m-8");
    let mut batches = values(&sums, emf::BATCH_SIZE, None).to_vec();
    batches.sort_by(f64::total_cmp);
    assert_eq!(batches, [1.0, 8.0]);
    assert_eq!(total(&sums, emf::CLAIM_CHECKS_OFFLOADED, None), 1.0);
    assert_eq!(total(&sums, emf::CLAIM_CHECKS_REDEEMED, None), 1.0);
    assert_eq!(
        total(&sums, emf::CLAIM_CHECK_BYTES_REDEEMED, None),
        payload.len() as f64
    );
    // Ages: one per envelope that reached a handler (6 + 1 + 2), the first ≥ 5 s twice.
    let ages = values(&sums, emf::EVENT_AGE, None);
    assert_eq!(ages.len(), 9, "{ages:?}");
    assert_eq!(ages.iter().filter(|a| **a >= 5000.0).count(), 2, "{ages:?}");
    assert_eq!(values(&sums, emf::EVENT_AGE, Some("order.placed")).len(), 5);

    // Nothing counted since: nothing emitted; counts do not carry over.
    assert!(emf::take().is_empty());

    // The outbox relay: two stored envelopes relayed, then an unreadable item stops it.
    let stream_record = |seq: u32, body: &str| {
        json!({"eventID": seq.to_string(), "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": {"SequenceNumber": seq.to_string(), "SizeBytes": 1,
            "Keys": {"pk": {"S": seq.to_string()}}, "NewImage": {"pk": {"S": seq.to_string()}, "envelope": {"S": body}}}})
    };
    // Updates and TTL removals of outbox items are skipped as the reader declares.
    let skipped = |name: &str, seq: u32| {
        let mut r = stream_record(seq, "");
        r["eventName"] = json!(name);
        r
    };
    let stream: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(json!({"Records": [
            stream_record(1, &envelope("order.placed", json!({"order": 7}), 2).to_json()),
            stream_record(2, &envelope("order.paid", json!({"fail": false}), 0).to_json()),
            skipped("MODIFY", 4),
            skipped("REMOVE", 5),
            stream_record(3, "{not an envelope"),
        ]}))
        .unwrap();
    let publisher = Arc::new(eventkit::publish::MemoryPublisher::default());
    let response = eventkit::outbox::Relay::new(publisher.clone())
        .handle(stream)
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(publisher.published().len(), 2);
    let sums = read(&emf::take());
    assert_eq!(total(&sums, emf::RECORDS_PROCESSED, None), 2.0);
    assert_eq!(total(&sums, emf::RECORDS_FAILED, None), 1.0);
    assert_eq!(values(&sums, emf::BATCH_SIZE, None), [5.0]);
    assert_eq!(total(&sums, emf::RECORDS_SKIPPED, None), 2.0);
    for label in ["MODIFY", "REMOVE"] {
        let mut d = dims(None);
        d.push((emf::SKIP.to_owned(), label.to_owned()));
        let n: f64 = sums[&(emf::RECORDS_SKIPPED.to_owned(), d)].iter().sum();
        assert_eq!(n, 1.0, "{label}");
    }
    let ages = values(&sums, emf::EVENT_AGE, None);
    assert_eq!(ages.len(), 2, "{ages:?}");
    assert!(ages.iter().any(|a| *a >= 2000.0), "{ages:?}");
}
