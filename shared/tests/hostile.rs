//! Hostile input, generated and hand-written. The kit's parsers never panic; every refusal
//! is a typed error naming what is wrong; a hostile record in an SQS batch fails alone
//! (back to its queue, then to its DLQ) and the good record beside it is applied.
//!
//! The hand-written corpus is `tests/hostile/`: its `EXPECT` file says, for each input,
//! what the function's log must name.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use eventkit::claim_check::{
    ClaimCheck, MemoryPayloadStore, Offload, PayloadStore, S3Ref, SIZE_ATTRIBUTE,
};
use eventkit::{unwrap, Envelope, EnvelopeError, Router};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
struct Placed {
    order: String,
    total: i64,
}

#[derive(Default)]
struct Applied(AtomicUsize);

const BUCKET: &str = "claims";
const PREFIX: &str = "claims/";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// The claim-check store every case starts from: one object that is not UTF-8.
async fn store() -> Arc<MemoryPayloadStore> {
    let store = Arc::new(MemoryPayloadStore::default());
    let bytes = std::fs::read(corpus().join("invalid-utf8.bin")).unwrap();
    let location = S3Ref {
        bucket: BUCKET.into(),
        key: format!("{PREFIX}invalid-utf8"),
    };
    store.put(&location, bytes).await.unwrap();
    store
}

fn router(store: Arc<MemoryPayloadStore>) -> Router<Applied> {
    Router::with_state(Applied::default())
        .claim_check(
            ClaimCheck::new(store, BUCKET, Offload::Above(256 * 1024)).with_key_prefix(PREFIX),
        )
        .on(
            "order.placed",
            |applied: Arc<Applied>, e: Envelope<Placed>| async move {
                let placed = e.data.ok_or("order.placed without data")?;
                applied.0.fetch_add(1, Ordering::SeqCst);
                Ok::<_, lambda_runtime::Error>(
                    json!({"order": placed.order.len(), "total": placed.total}),
                )
            },
        )
}

fn good_body() -> String {
    Envelope::new("shop", "order.placed", json!({"order": "o-1", "total": 5})).to_json()
}

fn record(id: &str, body: &str, pointer: bool) -> Value {
    let mut attributes = Map::new();
    if pointer {
        attributes.insert(
            SIZE_ATTRIBUTE.to_owned(),
            json!({"stringValue": "300000", "dataType": "Number",
                   "stringListValues": [], "binaryListValues": []}),
        );
    }
    json!({"messageId": id, "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
           "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": attributes})
}

thread_local! {
    /// This thread's log while a test captures it.
    static LOG: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Writes to the current thread's capture, if one is on. One global subscriber: per-thread
/// subscribers race on tracing's callsite cache when tests run in parallel, and lose lines.
struct ThreadLog;

impl Write for ThreadLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.with(|l| {
            if let Some(log) = l.borrow_mut().as_mut() {
                log.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadLog)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
}

fn captured() -> String {
    let bytes = LOG.with(|l| l.borrow_mut().take()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What one batch of `[hostile, good]` came to: the ids reported failed, the records
/// applied, and the log.
struct Outcome {
    failed: Vec<String>,
    applied: usize,
    log: String,
}

async fn batch_of(hostile: &str, pointer: bool) -> Outcome {
    capture_logs();
    let r = router(store().await);
    let event = json!({"Records": [record("hostile", hostile, pointer), record("good", &good_body(), false)]});
    let response = r
        .handle(event, None)
        .await
        .expect("an SQS batch always answers");
    let failed = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    let applied = r.state().0.load(Ordering::SeqCst);
    let log = captured();
    Outcome {
        failed,
        applied,
        log,
    }
}

#[tokio::test]
async fn every_corpus_input_fails_alone_with_an_error_naming_what_is_wrong() {
    let manifest = std::fs::read_to_string(corpus().join("EXPECT")).unwrap();
    let cases: Vec<(&str, &str)> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split_once('\t')
                .expect("EXPECT lines are `file<TAB>substring`")
        })
        .collect();
    // The corpus and its manifest agree: a new file without an expectation fails here.
    let mut files: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = cases.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "tests/hostile/*.json and EXPECT list the same files"
    );

    let mut wrong = Vec::new();
    for (file, expected) in cases {
        let body = std::fs::read_to_string(corpus().join(file)).unwrap();
        let outcome = batch_of(&body, file.starts_with("pointer-")).await;
        if outcome.failed != ["hostile"] || outcome.applied != 1 || !outcome.log.contains(expected)
        {
            wrong.push(format!(
                "{file}: failed {:?}, applied {}, log lacks {expected:?}:\n{}",
                outcome.failed, outcome.applied, outcome.log
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[tokio::test]
async fn nesting_past_the_parser_limit_is_refused_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    assert!(matches!(
        Envelope::<Value>::from_json(&deep),
        Err(EnvelopeError::Malformed(_))
    ));
    let mut data = json!(1);
    for _ in 0..200 {
        data = json!([data]);
    }
    // Built as a value, so only the text parser's depth limit applies.
    let body = format!(
        r#"{{"specversion":"1.0","id":"e-1","source":"shop","type":"order.placed","data":{}}}"#,
        data
    );
    let outcome = batch_of(&body, false).await;
    assert_eq!(outcome.failed, ["hostile"]);
    assert_eq!(outcome.applied, 1);
    assert!(outcome.log.contains("recursion limit"), "{}", outcome.log);
    let outcome = batch_of(&deep, false).await;
    assert_eq!(
        (outcome.failed, outcome.applied),
        (vec!["hostile".to_owned()], 1)
    );
}

#[tokio::test]
async fn huge_attributes_and_a_6_mb_claim_checked_payload_are_read_whole() {
    let big_id = "i".repeat(1 << 20);
    let e = Envelope::new("shop", "order.placed", json!({"order": "o", "total": 1}))
        .with_id(big_id.clone());
    assert_eq!(
        Envelope::<Value>::from_json(&e.to_json()).unwrap().id,
        big_id
    );

    // The object behind a pointer is as large as a Lambda response may be.
    let store = store().await;
    let order = "o".repeat(6 << 20);
    let payload =
        Envelope::new("shop", "order.placed", json!({"order": order, "total": 7})).to_json();
    let location = S3Ref {
        bucket: BUCKET.into(),
        key: format!("{PREFIX}six-mb"),
    };
    store.put(&location, payload.into_bytes()).await.unwrap();
    let r = router(store);
    let event = json!({"Records": [record("big", &location.to_sqs_pointer(), true)]});
    let response = r.handle(event, None).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    assert_eq!(r.state().0.load(Ordering::SeqCst), 1);
}

/// JSON values of every kind, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        // Strings that look like what the parsers look for.
        "(s3://|1\\.0|order\\.placed|software\\.amazon\\.payloadoffloading\\.PayloadS3Pointer|[a-z/]{0,8})"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                "(specversion|id|source|type|time|data|dataref|correlationid|detail|detail-type|s3BucketName|s3Key|[a-z]{1,6})",
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn any_text_into_any_parser_returns_instead_of_panicking() {
    let text = prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        // Valid JSON cut short, or with a byte of noise.
        (json_value(), any::<usize>(), any::<char>()).prop_map(|(v, at, c)| {
            let mut s = v.to_string();
            let at = s
                .char_indices()
                .map(|(i, _)| i)
                .nth(at % (s.chars().count() + 1))
                .unwrap_or(s.len());
            if at % 2 == 0 {
                s.truncate(at);
            } else {
                s.insert(at, c);
            }
            s
        }),
    ];
    runner()
        .run(&text, |s| {
            let _ = Envelope::<Value>::from_json(&s);
            let _ = unwrap::from_sqs_body(&s);
            let _ = S3Ref::from_sqs_pointer(&s);
            let _ = S3Ref::parse(&s);
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_json_event_is_applied_or_reported_never_lost() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runner()
        .run(&json_value(), |v| {
            rt.block_on(async {
                let r = router(store().await);
                // As a whole event: an answer or a typed error, no panic.
                let _ = r.handle(v.clone(), None).await;
                // As a record's body: either applied or reported failed.
                let event = json!({"Records": [record("x", &v.to_string(), false)]});
                let response = r
                    .handle(event, None)
                    .await
                    .expect("an SQS batch always answers");
                let failed = response["batchItemFailures"].as_array().unwrap().len();
                prop_assert_eq!(failed + r.state().0.load(Ordering::SeqCst), 1, "{}", v);
                Ok(())
            })
        })
        .unwrap();
}

/// One attribute of a valid envelope replaced by something it may not be.
fn spoiled() -> impl Strategy<Value = (&'static str, Option<Value>)> {
    let wrong_type = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!([])),
        Just(json!({"$ne": null})),
    ];
    let blank = "[ \t]{0,3}".prop_map(Value::from);
    let required = prop::sample::select(vec!["specversion", "id", "source", "type"]);
    let non_blank = prop::sample::select(vec!["correlationid", "schemaversion"]);
    let optional = prop::sample::select(vec![
        "subject",
        "datacontenttype",
        "dataschema",
        "causationid",
        "partitionkey",
        "data_base64",
        "dataref",
        "time",
    ]);
    prop_oneof![
        // Missing, null, blank or of the wrong type where one is required.
        (required.clone(), Just(None)),
        (required.clone(), Just(Some(Value::Null))),
        (
            required,
            prop_oneof![blank.clone(), wrong_type.clone()].prop_map(Some)
        ),
        (
            non_blank,
            prop_oneof![blank, wrong_type.clone()].prop_map(Some)
        ),
        (optional, wrong_type.prop_map(Some)),
        (
            Just("specversion"),
            "[0-9.]{1,5}"
                .prop_filter("not 1.0", |s| s != "1.0")
                .prop_map(|s| Some(Value::from(s)))
        ),
        (
            Just("time"),
            "[a-z ]{1,20}".prop_map(|s| Some(Value::from(s)))
        ),
        (
            Just("dataref"),
            "[a-z:/]{0,20}".prop_map(|s| Some(Value::from(s)))
        ),
    ]
}

#[test]
fn a_missing_or_wrongly_typed_attribute_is_a_typed_error_naming_it() {
    runner()
        .run(&spoiled(), |(field, value)| {
            let mut envelope = json!({"specversion": "1.0", "id": "e-1", "source": "shop",
                "type": "order.placed", "correlationid": "c-1", "data": {"order": "o-1", "total": 5}});
            if field == "data_base64" || field == "dataref" {
                envelope.as_object_mut().unwrap().remove("data");
            }
            match value {
                Some(v) => envelope[field] = v,
                None => {
                    envelope.as_object_mut().unwrap().remove(field);
                }
            }
            for result in [
                Envelope::<Value>::from_value(envelope.clone()),
                Envelope::<Value>::from_json(&envelope.to_string()),
            ] {
                let named = match &result {
                    Err(EnvelopeError::MissingField(f)) => *f == field,
                    Err(EnvelopeError::InvalidField { field: f, .. }) => f == field,
                    _ => false,
                };
                prop_assert!(named, "{field}: {result:?} for {envelope}");
                let message = result.unwrap_err().to_string();
                prop_assert!(message.contains(&format!("`{field}`")), "{message}");
            }
            Ok(())
        })
        .unwrap();
}

/// A payload never reaches the log, whatever fails: a value of the wrong type (serde's
/// message quotes it), a body that is a bare string, a body claimed to be a pointer that is
/// the payload itself, a type nobody handles, a handler that refuses it.
#[tokio::test]
async fn no_payload_reaches_the_log() {
    const SECRET: &str = "4111111111111111-PAYLOAD";
    let envelope =
        |event_type: &str, data: Value| Envelope::new("shop", event_type, data).to_json();
    let cases = [
        (
            envelope("order.placed", json!({"order": "o-1", "total": SECRET})),
            false,
        ),
        (envelope("order.placed", json!({"order": SECRET})), false),
        (envelope("order.placed", json!([SECRET])), false),
        (envelope("card.stored", json!({"pan": SECRET})), false),
        (json!(SECRET).to_string(), false),
        (json!({"pan": SECRET}).to_string(), false),
        (
            envelope("order.placed", json!({"order": SECRET, "total": 1})),
            true,
        ),
        (format!("[\"{SECRET}\", {{}}]"), true),
        (format!("{{\"pan\": \"{SECRET}\""), false),
    ];
    for (body, pointer) in cases {
        let outcome = batch_of(&body, pointer).await;
        assert_eq!(outcome.failed, ["hostile"], "{body}");
        assert!(
            !outcome.log.contains(SECRET) && !outcome.log.contains("4111111111111111"),
            "the log shows the payload of {body}:\n{}",
            outcome.log
        );
    }
}
