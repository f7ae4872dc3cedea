//! The router's unit tests: dispatch, sources, idempotency, streams, payload typing.

use super::*;
use crate::idempotency::MemoryIdempotencyStore;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Deserialize)]
struct Placed {
    order: String,
    total: i64,
}

#[derive(Debug, Deserialize)]
struct PlacedV2 {
    order: String,
    amount: Amount,
}

#[derive(Debug, Deserialize)]
struct Amount {
    minor: i64,
}

#[derive(Debug, thiserror::Error, crate::ErrorType)]
#[error("order {0} declined")]
#[error_type("PaymentDeclined")]
struct Declined(String);

#[derive(Default)]
struct Counter {
    runs: AtomicUsize,
}

async fn placed(state: Arc<Counter>, e: Event<Placed>) -> Result<Value, Declined> {
    state.runs.fetch_add(1, Ordering::SeqCst);
    let (p, envelope) = e.into_parts();
    if p.total < 0 {
        return Err(Declined(p.order));
    }
    Ok(json!({"v": 1, "order": p.order, "correlation": envelope.correlation_id}))
}

async fn placed_v2(_: Arc<Counter>, e: Event<PlacedV2>) -> Result<Value, Declined> {
    let p = e.data;
    Ok(json!({"v": 2, "order": p.order, "total": p.amount.minor}))
}

fn router() -> Router<Counter> {
    Router::with_state(Counter::default())
        .on("order.placed", placed)
        .on_version("order.placed", "2", placed_v2)
}

fn envelope(event_type: &str, data: Value) -> Envelope {
    Envelope::new("shop", event_type, data)
}

fn sqs(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "attributes": {}, "messageAttributes": {}}))
        .collect();
    json!({ "Records": records })
}

fn failed(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn dispatches_by_type_and_schema_version_with_the_payload_typed() {
    let r = router();
    let v1 = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let out = r.dispatch(v1.clone(), None).await.unwrap();
    assert_eq!(
        out,
        json!({"v": 1, "order": "o-1", "correlation": v1.correlation_id})
    );
    let v2 = envelope(
        "order.placed",
        json!({"order": "o-2", "amount": {"minor": 7}}),
    )
    .with_schema_version("2");
    assert_eq!(
        r.dispatch(v2, None).await.unwrap(),
        json!({"v": 2, "order": "o-2", "total": 7})
    );
    // A version without its own handler goes to the versionless one.
    let v3 = envelope("order.placed", json!({"order": "o-3", "total": 1})).with_schema_version("3");
    assert_eq!(r.dispatch(v3, None).await.unwrap()["v"], 1);
}

#[tokio::test]
async fn a_version_no_handler_takes_is_refused_with_the_versions_handled() {
    let r = Router::with_state(Counter::default()).on_version("order.placed", "2", placed_v2);
    let e = envelope("order.placed", json!({})).with_schema_version("1");
    let err = r.dispatch(e, None).await.unwrap_err();
    assert!(matches!(err, RouteError::UnknownVersion { .. }), "{err}");
    assert!(
        err.to_string().contains("schemaversion `1`") && err.to_string().contains("handled: 2"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_types_fail_by_default_and_can_be_skipped() {
    let e = envelope("order.voided", json!({}));
    let err = router().dispatch(e.clone(), None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`order.voided`") && text.contains("check the rule"),
        "{text}"
    );
    assert!(
        text.contains("`order.placed`"),
        "names what it handles: {text}"
    );
    assert_eq!(Diagnostic::from(err).error_type, "UnknownEventType");
    let skipping = router().on_unknown(UnknownType::Skip);
    assert_eq!(skipping.dispatch(e, None).await.unwrap(), Value::Null);
}

#[tokio::test]
async fn a_payload_that_does_not_fit_the_handler_type_names_both() {
    let e = envelope("order.placed", json!({"order": 5}));
    let err = router().dispatch(e, None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("payload of `order.placed` does not match") && text.contains("Placed"),
        "{text}"
    );
    assert_eq!(err.error_type(), "PayloadMismatch");
}

#[tokio::test]
async fn an_event_handler_gets_its_payload_typed_and_the_envelope_behind_it() {
    let r = Router::new().on("order.placed", |_: Arc<()>, e: Event<Placed>| async move {
        assert_eq!(e.envelope.data, None, "the payload is in `data`, not twice");
        let caused = e.caused("shop", "order.counted", e.data.total);
        let id = e.id.clone();
        let envelope = e.into_envelope();
        assert_eq!(envelope.id, id);
        let order = envelope.data.expect("the payload back in").order;
        Ok::<_, Declined>(json!({"order": order, "id": id,
            "cause": caused.causation_id, "count": caused.data}))
    });
    let e = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    assert_eq!(
        r.dispatch(e.clone(), None).await.unwrap(),
        json!({"order": "o-1", "id": e.id, "cause": e.id, "count": 5})
    );
}

#[tokio::test]
async fn an_event_without_data_fits_a_unit_or_optional_payload_only() {
    let mut bare = envelope("order.pinged", Value::Null);
    bare.data = None;
    let r = Router::new()
        .on("order.pinged", |_: Arc<()>, e: Event<()>| async move {
            Ok::<_, Declined>(e.id.clone())
        })
        .on_version(
            "order.pinged",
            "2",
            |_, e: Event<Option<Placed>>| async move { Ok::<_, Declined>(e.data.is_none()) },
        )
        .on_version("order.pinged", "3", |_, e: Event<Placed>| async move {
            Ok::<_, Declined>(e.data.order)
        });
    assert_eq!(
        r.dispatch(bare.clone(), None).await.unwrap(),
        json!(bare.id)
    );
    let v2 = bare.clone().with_schema_version("2");
    assert_eq!(r.dispatch(v2, None).await.unwrap(), json!(true));
    let err = r
        .dispatch(bare.with_schema_version("3"), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "PayloadMismatch");
    let text = err.to_string();
    assert!(
        text.contains("payload of `order.pinged` does not match") && text.contains("Placed"),
        "{text}"
    );
}

#[tokio::test]
async fn an_envelope_handler_still_gets_its_payload_as_some() {
    let r = Router::new().on(
        "order.placed",
        |_: Arc<()>, e: Envelope<Placed>| async move {
            let p = e.data.expect("the payload read");
            Ok::<_, Declined>(json!({"order": p.order, "total": p.total}))
        },
    );
    let e = envelope("order.placed", json!({"order": "o-4", "total": 2}));
    assert_eq!(
        r.dispatch(e, None).await.unwrap(),
        json!({"order": "o-4", "total": 2})
    );
    let err = r
        .dispatch(envelope("order.placed", json!({"order": 4})), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "PayloadMismatch");
}

#[tokio::test]
async fn handler_errors_keep_their_error_type() {
    let e = envelope("order.placed", json!({"order": "o-9", "total": -1}));
    let err = router()
        .handle(serde_json::to_value(&e).unwrap(), None)
        .await
        .unwrap_err();
    let d = Diagnostic::from(err);
    assert_eq!(d.error_type, "PaymentDeclined");
    assert!(
        d.error_message.contains("order o-9 declined"),
        "{}",
        d.error_message
    );
}

#[tokio::test]
async fn sqs_batches_report_only_the_failed_records() {
    let good = envelope("order.placed", json!({"order": "o-1", "total": 5})).to_json();
    let unknown = envelope("order.voided", json!({})).to_json();
    let mismatch = envelope("order.placed", json!({"order": 1})).to_json();
    let declined = envelope("order.placed", json!({"order": "o-2", "total": -5})).to_json();
    let event = sqs(&[good, "not json".into(), unknown, mismatch, declined]);
    let out = router().handle(event, None).await.unwrap();
    assert_eq!(failed(&out), vec!["m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn eventbridge_events_are_unwrapped_and_foreign_ones_wrapped() {
    let e = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let eb = json!({"version": "0", "id": "eb-1", "detail-type": "order.placed", "source": "shop",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": e});
    assert_eq!(router().handle(eb, None).await.unwrap()["order"], "o-1");
    let s3 = json!({"version": "0", "id": "eb-2", "detail-type": "Object Created", "source": "aws.s3",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"bucket": {"name": "b"}}});
    let r = Router::new().on(
        "Object Created",
        |_: Arc<()>, e: Envelope<Value>| async move {
            Ok::<_, lambda_runtime::Error>(e.data.unwrap()["bucket"]["name"].clone())
        },
    );
    assert_eq!(r.handle(s3, None).await.unwrap(), json!("b"));
}

#[tokio::test]
async fn idempotent_handlers_run_once_per_envelope_id() {
    let r = Router::with_state(Counter::default())
        .idempotency_store(MemoryIdempotencyStore::default())
        .on("order.placed", placed)
        .idempotent();
    r.validate().unwrap();
    let e = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let first = r.dispatch(e.clone(), None).await.unwrap();
    let again = r.dispatch(e.clone(), None).await.unwrap();
    assert_eq!(first, again, "the duplicate gets the first run's output");
    assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
    // Same fact, new envelope id: a different key, so it runs.
    let other = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    r.dispatch(other, None).await.unwrap();
    assert_eq!(r.state().runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idempotent_on_a_pointer_dedupes_one_fact_under_several_ids() {
    let r = Router::with_state(Counter::default())
        .idempotency_store(MemoryIdempotencyStore::default())
        .on("order.placed", placed)
        .idempotent_on("/data/order");
    for _ in 0..3 {
        let e = envelope("order.placed", json!({"order": "o-7", "total": 5}));
        r.dispatch(e, None).await.unwrap();
    }
    assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
    let missing = envelope("order.placed", json!({"total": 5}));
    let err = r.dispatch(missing, None).await.unwrap_err();
    assert!(err.to_string().contains("/data/order"), "{err}");
}

#[tokio::test]
async fn a_failed_idempotent_handler_runs_again_on_retry() {
    let r = Router::with_state(Counter::default())
        .idempotency_store(MemoryIdempotencyStore::default())
        .on("order.placed", placed)
        .idempotent();
    let e = envelope("order.placed", json!({"order": "o-1", "total": -1}));
    assert!(r.dispatch(e.clone(), None).await.is_err());
    assert!(r.dispatch(e, None).await.is_err());
    assert_eq!(r.state().runs.load(Ordering::SeqCst), 2);
}

#[test]
fn misconfiguration_is_found_before_the_first_event() {
    let no_store = router().idempotent();
    assert!(no_store
        .validate()
        .unwrap_err()
        .to_string()
        .contains("idempotency_store"));
    let twice = router().on("order.placed", placed);
    assert!(twice
        .validate()
        .unwrap_err()
        .to_string()
        .contains("two handlers for `order.placed`"));
    let empty = Router::new();
    assert!(empty.validate().is_err());
}

#[tokio::test]
async fn stream_batches_stop_at_the_first_failure_and_report_it() {
    let item = |e: &Envelope, seq: &str| {
        json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                "Keys": {"pk": {"S": e.id}}, "NewImage": {"pk": {"S": e.id}, "envelope": {"S": e.to_json()}}}})
    };
    let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let bad = envelope("order.placed", json!({"order": "o-2", "total": -5}));
    let later = envelope("order.placed", json!({"order": "o-3", "total": 5}));
    let modify = json!({"eventID": "x", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"SequenceNumber": "150", "SizeBytes": 1, "Keys": {}, "NewImage": {}}});
    let event =
        json!({"Records": [item(&ok, "100"), modify, item(&bad, "200"), item(&later, "300")]});
    let r = router();
    let out = r.handle(event, None).await.unwrap();
    assert_eq!(failed(&out), vec!["200"]);
    assert_eq!(
        r.state().runs.load(Ordering::SeqCst),
        2,
        "o-3 is not attempted after o-2 failed"
    );
}

fn stream_item(e: &Envelope, seq: &str) -> Value {
    json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
            "Keys": {"pk": {"S": e.id}}, "NewImage": {"pk": {"S": e.id}, "envelope": {"S": e.to_json()}}}})
}

#[tokio::test]
async fn an_insert_the_reader_cannot_read_fails_the_batch_there_instead_of_being_skipped() {
    let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let later = envelope("order.placed", json!({"order": "o-3", "total": 5}));
    let mut missing = stream_item(&ok, "200");
    missing["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("envelope");
    let mut binary = stream_item(&ok, "200");
    binary["dynamodb"]["NewImage"]["envelope"] = json!({"B": "e30="});
    for (odd, names) in [
        (missing, "no attribute `envelope`"),
        (binary, "is a binary (B)"),
    ] {
        let r = router();
        let event = json!({"Records": [stream_item(&ok, "100"), odd, stream_item(&later, "300")]});
        let out = r.handle(event, None).await.unwrap();
        assert_eq!(failed(&out), vec!["200"], "{names}");
        assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
    }
    let mut binary = stream_item(&ok, "200");
    binary["dynamodb"]["NewImage"]["envelope"] = json!({"B": "e30="});
    let record: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_value(binary).unwrap();
    let Read::Envelope(Err(e)) = StreamReader::outbox().read(&record) else {
        panic!("read")
    };
    assert_eq!(e.error_type(), "UnreadableStreamRecord");
}

#[tokio::test]
async fn a_stream_reader_that_declares_nothing_skipped_fails_at_a_modify() {
    let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let mut modify = stream_item(&ok, "150");
    modify["eventName"] = json!("MODIFY");
    let event = json!({"Records": [stream_item(&ok, "100"), modify]});
    let strict = router().stream_reader(StreamReader::new(crate::stream::outbox_envelope));
    assert_eq!(
        failed(&strict.handle(event.clone(), None).await.unwrap()),
        vec!["150"]
    );
    assert!(failed(&router().handle(event, None).await.unwrap()).is_empty());
}

async fn slow_placed(_: Arc<Counter>, _: Event<Placed>) -> Result<Value, Declined> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Value::Null)
}

#[tokio::test(start_paused = true)]
async fn a_stream_batch_stops_before_the_deadline_and_reports_the_first_record_not_handled() {
    let r = Router::with_state(Counter::default()).on("order.placed", slow_placed);
    let records: Vec<Value> = (0..10)
        .map(|i| {
            stream_item(
                &envelope("order.placed", json!({"order": "o", "total": i})),
                &format!("{}", 100 + i),
            )
        })
        .collect();
    // 2 s a record, 7 s left: the reserve keeps 0.7 s, so 3 records fit.
    let started = tokio::time::Instant::now();
    let out = r
        .handle(json!({"Records": records}), Some(Duration::from_secs(7)))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(7));
    assert_eq!(failed(&out), vec!["103"]);
}

#[tokio::test]
async fn foreign_cloudevents_without_time_or_with_base64_data_are_accepted() {
    // {"order":"o-5","total":3}
    let e = json!({"specversion": "1.0", "id": "f-1", "source": "/elsewhere", "type": "order.placed",
        "datacontenttype": "application/json", "data_base64": "eyJvcmRlciI6Im8tNSIsInRvdGFsIjozfQ=="});
    assert_eq!(router().handle(e, None).await.unwrap()["order"], "o-5");
}

/// `Router::run` hands the router the event's text: every shape answers as through a
/// `Value`, and text that is not JSON is named.
#[tokio::test]
async fn the_text_path_answers_as_the_value_path() {
    let good = envelope("order.placed", json!({"order": "o-1", "total": 5}));
    let declined = envelope("order.placed", json!({"order": "o-2", "total": -5}));
    // `detail-type` present but null still marks an EventBridge event.
    let null_type = json!({"detail-type": null, "detail": good}).to_string();
    let stream = json!({"Records": [{"eventID": "1", "eventName": "INSERT",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"SequenceNumber": "1", "SizeBytes": 1, "Keys": {},
            "NewImage": {"envelope": {"S": declined.to_json()}}}}]});
    let events = [
        sqs(&[
            good.to_json(),
            "not json".into(),
            declined.to_json(),
            null_type,
        ]),
        json!({"Records": []}),
        stream,
        json!({"version": "0", "id": "eb-1", "detail-type": "order.placed", "source": "shop",
            "time": "2026-01-01T00:00:00Z", "detail": good}),
        serde_json::to_value(&good).unwrap(),
        json!({"hello": 1}),
        json!({"Records": [{"eventSource": "aws:kinesis"}]}),
        json!({"Records": [{"eventSource": "aws:sqs", "body": 5}]}),
        json!({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": 5}]}),
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}),
    ];
    // serde's reader adds where in the text it failed; a `Value` has no position.
    let unplaced = |e: RouteError| {
        let e = e.to_string();
        let Some(at) = e.find(" at line ") else {
            return e;
        };
        let end = e[at..].find(';').map_or(e.len(), |i| at + i);
        format!("{}{}", &e[..at], &e[end..])
    };
    for event in events {
        let as_text = router().handle_json(&event.to_string(), None).await;
        let as_value = router().handle(event.clone(), None).await;
        assert_eq!(
            as_text.map_err(unplaced),
            as_value.map_err(unplaced),
            "{event}"
        );
    }
    assert_eq!(
        failed(
            &router()
                .handle_json(&sqs(&[good.to_json()]).to_string(), None)
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    let err = router()
        .handle_json("{\"Records\": [", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[tokio::test]
async fn shapes_it_cannot_read_are_named() {
    let err = router()
        .handle(json!({"hello": 1}), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"hello\""), "{err}");
    let err = router()
        .handle(json!({"Records": [{"eventSource": "aws:kinesis"}]}), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("aws:kinesis"), "{err}");
}

/// A memory store that counts `prewarm` calls, and fails them when told to.
#[derive(Default)]
struct Prewarmed {
    inner: MemoryIdempotencyStore,
    opened: Arc<AtomicUsize>,
    unreachable: bool,
}

#[async_trait::async_trait]
impl IdempotencyStore for Prewarmed {
    async fn put_in_progress(
        &self,
        record: &crate::idempotency::Record,
        now: crate::idempotency::Now,
    ) -> Result<crate::idempotency::PutOutcome, crate::idempotency::StoreError> {
        self.inner.put_in_progress(record, now).await
    }
    async fn complete(
        &self,
        record: &crate::idempotency::Record,
    ) -> Result<(), crate::idempotency::StoreError> {
        self.inner.complete(record).await
    }
    async fn release(
        &self,
        held: &crate::idempotency::Record,
    ) -> Result<(), crate::idempotency::StoreError> {
        self.inner.release(held).await
    }
    async fn prewarm(&self) -> Result<(), crate::idempotency::StoreError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        if self.unreachable {
            return Err(crate::idempotency::StoreError {
                operation: "prewarm",
                source: "no route to the table".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn init_opens_the_connections_eventkit_prewarm_asks_for() {
    async fn opened(setting: Option<&str>, unreachable: bool) -> Result<usize, RouteError> {
        opened_by(setting, unreachable, true).await
    }
    async fn opened_by(
        setting: Option<&str>,
        unreachable: bool,
        idempotent: bool,
    ) -> Result<usize, RouteError> {
        let store = Prewarmed {
            unreachable,
            ..Default::default()
        };
        let opened = store.opened.clone();
        let mut router = Router::new().idempotency_store(store).on(
            "order.placed",
            |_: Arc<()>, _: Event<serde_json::Value>| async { Ok::<_, lambda_runtime::Error>(()) },
        );
        if idempotent {
            router = router.idempotent();
        }
        let count = router.prewarm_as(setting).await?;
        assert_eq!(count, opened.load(Ordering::SeqCst));
        Ok(count)
    }
    assert_eq!(opened(None, false).await.unwrap(), 1);
    assert_eq!(opened(Some("10"), false).await.unwrap(), 10);
    assert_eq!(opened(Some("0"), false).await.unwrap(), 0);
    // An unreachable store is the first invocation's problem, not init's.
    assert_eq!(opened(None, true).await.unwrap(), 1);
    let err = opened(Some("ten"), false).await.unwrap_err();
    assert!(err.to_string().contains("EVENTKIT_PREWARM=`ten`"), "{err}");
    // A store no handler uses (a function may hold one it has no grant to read).
    assert_eq!(opened_by(Some("10"), false, false).await.unwrap(), 0);
    // No store, nothing to open.
    let bare = Router::new().on(
        "order.placed",
        |_: Arc<()>, _: Event<serde_json::Value>| async { Ok::<_, lambda_runtime::Error>(()) },
    );
    assert_eq!(bare.prewarm_as(Some("10")).await.unwrap(), 0);
}
