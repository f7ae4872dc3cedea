//! The eventkit library against LocalStack's real DynamoDB, S3, SQS and EventBridge APIs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use eventkit::aws::dynamodb::{DynamoIdempotencyStore, DynamoStateStore};
use eventkit::aws::eventbridge::EventBridgePublisher;
use eventkit::aws::s3::{client as s3_client, S3PayloadStore};
use eventkit::aws::sqs::SqsSender;
use eventkit::batch::{process_envelopes, BatchOptions};
use eventkit::claim_check::{
    ClaimCheck, ClaimCheckError, Offload, S3Ref, LEGACY_POINTER_CLASS, LEGACY_SIZE_ATTRIBUTE,
};
use eventkit::envelope::stable_id;
use eventkit::idempotency::ordering::{Applied, VersionedStateStore};
use eventkit::idempotency::Completion;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, Outcome};
use eventkit::{Envelope, Router};
use eventkit_e2e::fault_proxy::{FaultProxy, Mode};
use eventkit_e2e::{create_table, require_localstack, to_lambda_record, unique, wait_for};
use serde_json::json;

#[tokio::test]
async fn idempotency_on_dynamodb_runs_once_and_replays() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let name = create_table(&dynamodb, "id").await?;
    let idem = Arc::new(Idempotency::new(
        DynamoIdempotencyStore::new(dynamodb.clone(), &name),
        IdempotencyConfig::for_handler("e2e")
            .key_pointer("/order")
            .validate_payload("/amount")
            .local_cache(0),
    ));
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    // Ten concurrent deliveries of one event: one conditional write wins.
    let event = json!({"order": "o-1", "amount": 10});
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (idem, runs, event) = (idem.clone(), runs.clone(), event.clone());
        tasks.push(tokio::spawn(async move {
            idem.run(&event, Some(Duration::from_secs(30)), || async {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, String>(json!({"charged": 10}))
            })
            .await
        }));
    }
    let mut executed = 0;
    for task in tasks {
        match task.await? {
            Ok(Outcome::Executed(_)) => executed += 1,
            Ok(Outcome::Replayed(r)) => assert_eq!(r, json!({"charged": 10})),
            Err(IdempotencyError::AlreadyInProgress { .. }) => {}
            Err(e) => anyhow::bail!("unexpected error: {e}"),
        }
    }
    assert_eq!(executed, 1);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A later duplicate replays the stored response.
    let replay = idem
        .run(&event, None, || async { Ok::<_, String>(json!("never")) })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(replay, Outcome::Replayed(json!({"charged": 10})));

    // The record has the Powertools layout.
    let key = idem
        .key_for::<String>(&event)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("key");
    let item = dynamodb
        .get_item()
        .table_name(&name)
        .key("id", AttributeValue::S(key.clone()))
        .send()
        .await?;
    let item = item.item().expect("record stored");
    assert_eq!(
        item["status"].as_s().ok().map(String::as_str),
        Some("COMPLETED")
    );
    assert_eq!(
        item["data"].as_s().ok().map(String::as_str),
        Some(r#"{"charged":10}"#)
    );
    assert!(item["expiration"].as_n().is_ok());
    assert!(item["in_progress_expiration"].as_n().is_ok());
    assert!(item["validation"].as_s().is_ok());
    assert!(key.starts_with("test-func.e2e#"), "{key}");

    // Same key, different payload: refused.
    let err = idem
        .run(&json!({"order": "o-1", "amount": 99}), None, || async {
            Ok::<_, String>(json!(0))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdempotencyError::PayloadMismatch { .. }),
        "{err}"
    );

    // A failing handler leaves no record behind, so the retry runs.
    let failing = json!({"order": "o-2", "amount": 1});
    let err = idem
        .run(&failing, None, || async {
            Err::<serde_json::Value, _>("downstream down".to_owned())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Handler(_)));
    let key2 = idem
        .key_for::<String>(&failing)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("key");
    let gone = dynamodb
        .get_item()
        .table_name(&name)
        .key("id", AttributeValue::S(key2))
        .send()
        .await?;
    assert!(
        gone.item().is_none(),
        "INPROGRESS record must be deleted after a handler error"
    );
    let retried = idem
        .run(&failing, None, || async { Ok::<_, String>(json!("ok")) })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(retried, Outcome::Executed(json!("ok")));
    Ok(())
}

#[tokio::test]
async fn dynamodb_outage_is_a_retryable_store_error() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let idem = Idempotency::new(
        DynamoIdempotencyStore::new(aws_sdk_dynamodb::Client::new(&config), "no-such-table"),
        IdempotencyConfig::for_handler("e2e").local_cache(0),
    );
    let err = idem
        .run(&json!({"a": 1}), None, || async { Ok::<_, String>(1) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Store(_)), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn ordered_scope_skips_older_events_on_dynamodb() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let name = create_table(&dynamodb, "pk").await?;
    let store = DynamoStateStore::new(dynamodb.clone(), &name);
    assert_eq!(
        store
            .apply_if_newer("customer-1", 20, "e20", &json!({"tier": "gold"}))
            .await?,
        Applied::Applied
    );
    assert_eq!(
        store
            .apply_if_newer("customer-1", 10, "e10", &json!({"tier": "bronze"}))
            .await?,
        Applied::Stale { current: 20 }
    );
    assert_eq!(
        store
            .apply_if_newer("customer-1", 20, "e20", &json!({"tier": "gold"}))
            .await?,
        Applied::Stale { current: 20 }
    );
    let item = dynamodb
        .get_item()
        .table_name(&name)
        .key("pk", AttributeValue::S("customer-1".into()))
        .send()
        .await?;
    assert_eq!(
        item.item().unwrap()["state"].as_s().unwrap(),
        r#"{"tier":"gold"}"#
    );
    Ok(())
}

struct Queue {
    url: String,
    arn: String,
}

async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> anyhow::Result<Queue> {
    let (url, arn) = eventkit_e2e::create_queue(sqs, name, attributes).await?;
    Ok(Queue { url, arn })
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    q: &Queue,
) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
    Ok(sqs
        .receive_message()
        .queue_url(&q.url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await?
        .messages()
        .to_vec())
}

/// What the kit sends to SQS carries its trace twice, in agreement: the envelope's
/// `traceparent` and the message's `AWSTraceHeader`, which Lambda and X-Ray read.
#[tokio::test]
async fn a_sent_envelopes_trace_context_is_also_its_messages_aws_trace_header() -> anyhow::Result<()>
{
    let config = require_localstack().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique("traced"), HashMap::new()).await?;
    let sender = SqsSender::new(sqs.clone(), &q.url);
    let mut traced = Envelope::new("e2e", "work.item", json!({"i": 1}));
    traced.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
    let untraced = Envelope::new("e2e", "work.item", json!({"i": 2}));
    sender.send(&traced).await?;
    sender.send(&untraced).await?;
    let messages = wait_for("both messages", Duration::from_secs(30), || async {
        let m = receive(&sqs, &q).await?;
        Ok((m.len() == 2).then_some(m))
    })
    .await?;
    for m in messages {
        let body = Envelope::<serde_json::Value>::from_json(m.body().unwrap_or_default())?;
        let header = m
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::AwsTraceHeader))
            .cloned();
        if body.id == traced.id {
            assert_eq!(
                header.as_deref(),
                Some("Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1")
            );
            assert_eq!(body.traceparent, traced.traceparent);
        } else {
            assert_eq!(header, None, "no trace, no header");
        }
    }
    Ok(())
}

/// Plays the event source mapping once: a batch received, handed to `handle`, the records
/// it did not report failed deleted. Returns how many it reported failed.
async fn consume<F, Fut>(sqs: &aws_sdk_sqs::Client, q: &Queue, handle: F) -> anyhow::Result<usize>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let messages = receive(sqs, q).await?;
    if messages.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| to_lambda_record(m, &q.arn))
        .collect();
    let response = handle(event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for m in &messages {
        if !failed.contains(&m.message_id().unwrap_or_default()) {
            sqs.delete_message()
                .queue_url(&q.url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
    }
    Ok(failed.len())
}

/// Messages in a queue, visible or not.
async fn depth(sqs: &aws_sdk_sqs::Client, q: &Queue) -> anyhow::Result<usize> {
    eventkit_e2e::queue_depth(sqs, &q.url).await
}

#[tokio::test]
async fn claim_check_on_s3_above_and_below_threshold() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let s3 = s3_client(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bucket = unique("claims");
    s3.create_bucket().bucket(&bucket).send().await?;
    let q = queue(&sqs, &unique("claims"), HashMap::new()).await?;
    let cc = ClaimCheck::new(
        Arc::new(S3PayloadStore::new(s3.clone())),
        &bucket,
        Offload::Above(64 * 1024),
    );
    let sender = SqsSender::new(sqs.clone(), &q.url).with_claim_check(cc.clone());

    let small = Envelope::new("e2e", "blob.small", json!({"blob": "x".repeat(1000)}));
    let large = Envelope::new("e2e", "blob.large", json!({"blob": "y".repeat(300 * 1024)}));
    sender.send(&small).await?;
    sender.send(&large).await?;
    let objects = s3.list_objects_v2().bucket(&bucket).send().await?;
    assert_eq!(
        objects.key_count(),
        Some(1),
        "only the large body goes to S3"
    );

    // A message as the Python/Java Extended Client writes it (legacy tag and attribute).
    let legacy_key = "legacy-object";
    let legacy = Envelope::new("e2e", "blob.legacy", json!({"from": "python"}));
    s3.put_object()
        .bucket(&bucket)
        .key(legacy_key)
        .body(legacy.to_json().into_bytes().into())
        .send()
        .await?;
    sqs.send_message()
        .queue_url(&q.url)
        .message_body(format!(
            r#"["{LEGACY_POINTER_CLASS}", {{"s3BucketName": "{bucket}", "s3Key": "{legacy_key}"}}]"#
        ))
        .message_attributes(
            LEGACY_SIZE_ATTRIBUTE,
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(legacy.to_json().len().to_string())
                .build()?,
        )
        .send()
        .await?;

    let seen = std::sync::Mutex::new(HashMap::new());
    wait_for("three messages", Duration::from_secs(20), || async {
        for m in receive(&sqs, &q).await? {
            let record = to_lambda_record(&m, &q.arn);
            let body = cc.redeem_sqs(&record).await?.body;
            let envelope = eventkit::unwrap::from_sqs_body(&body)?;
            seen.lock()
                .unwrap()
                .insert(envelope.event_type.clone(), envelope);
        }
        Ok((seen.lock().unwrap().len() == 3).then_some(()))
    })
    .await?;
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen["blob.small"], small);
    assert_eq!(seen["blob.large"], large);
    assert_eq!(seen["blob.legacy"], legacy);

    // A pointer to a missing object, and a pointer to an unknown bucket: typed errors.
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record
        .message_attributes
        .insert("ExtendedPayloadSize".into(), Default::default());
    record.body = Some(
        S3Ref {
            bucket: bucket.clone(),
            key: "gone".into(),
        }
        .to_sqs_pointer(),
    );
    assert!(matches!(
        cc.redeem_sqs(&record).await,
        Err(ClaimCheckError::NotFound { .. })
    ));
    // A pointer to another bucket is refused before S3 is asked.
    record.body = Some(
        S3Ref {
            bucket: "no-such-bucket-e2e".into(),
            key: "k".into(),
        }
        .to_sqs_pointer(),
    );
    let err = cc.redeem_sqs(&record).await.unwrap_err();
    assert!(matches!(err, ClaimCheckError::Foreign { .. }), "{err}");
    // A claim check configured with a bucket that does not exist says so.
    let misconfigured = ClaimCheck::new(
        Arc::new(S3PayloadStore::new(s3.clone())),
        "no-such-bucket-e2e",
        Offload::Always,
    );
    let err = misconfigured.redeem_sqs(&record).await.unwrap_err();
    assert!(matches!(err, ClaimCheckError::NoSuchBucket(_)), "{err}");
    Ok(())
}

#[tokio::test]
async fn poison_message_lands_in_the_dlq_while_batch_mates_succeed() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = queue(&sqs, &unique("dlq"), HashMap::new()).await?;
    let redrive = json!({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "2"}).to_string();
    let q = queue(
        &sqs,
        &unique("work"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "1".into()),
        ]),
    )
    .await?;
    let sender = SqsSender::new(sqs.clone(), &q.url);
    let good: Vec<Envelope> = (0..4)
        .map(|i| Envelope::new("e2e", "work.item", json!({"i": i})))
        .collect();
    for e in &good {
        sender.send(e).await?;
    }
    sqs.send_message()
        .queue_url(&q.url)
        .message_body("this is not an envelope")
        .send()
        .await?;

    let done = std::sync::Mutex::new(Vec::<String>::new());
    wait_for(
        "the poison message in the DLQ",
        Duration::from_secs(60),
        || async {
            consume(&sqs, &q, |event| {
                process_envelopes(event, BatchOptions::default(), None, |e| {
                    done.lock().unwrap().push(e.id.clone());
                    async { Ok::<(), String>(()) }
                })
            })
            .await?;
            let in_dlq = receive(&sqs, &dlq).await?;
            Ok(in_dlq
                .into_iter()
                .find(|m| m.body() == Some("this is not an envelope")))
        },
    )
    .await?;
    let mut done = done.into_inner().unwrap();
    done.sort();
    let mut expected: Vec<String> = good.iter().map(|e| e.id.clone()).collect();
    expected.sort();
    assert_eq!(done, expected, "every good message processed exactly once");
    Ok(())
}

/// A new event bus with one rule, `pattern`, targeting a new queue.
async fn bus_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    pattern: serde_json::Value,
) -> anyhow::Result<(String, Queue)> {
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await?;
    let q = queue(sqs, &unique("routed"), HashMap::new()).await?;
    let rule = unique("rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&q.arn)
                .build()?,
        )
        .send()
        .await?;
    Ok((bus, q))
}

#[tokio::test]
async fn eventbridge_rule_routes_envelopes_by_envelope_fields() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let pattern = json!({"source": ["e2e.orders"], "detail-type": ["order.placed"], "detail": {"subject": [{"prefix": "vip-"}]}});
    let (bus, q) = bus_to_queue(&events, &sqs, pattern).await?;
    let publisher = EventBridgePublisher::new(events.clone(), &bus);
    let ignored =
        Envelope::new("e2e.orders", "order.placed", json!({"n": 1})).with_subject("regular-1");
    let routed = ignored
        .caused("e2e.orders", "order.placed", json!({"n": 2}))
        .with_subject("vip-7");
    publisher
        .publish(&[ignored.clone(), routed.clone()])
        .await?;

    let received = wait_for("the routed envelope", Duration::from_secs(20), || async {
        let messages = receive(&sqs, &q).await?;
        let mut envelopes = Vec::new();
        for m in &messages {
            envelopes.push(eventkit::unwrap::from_sqs_record(&to_lambda_record(
                m, &q.arn,
            ))?);
        }
        Ok((!envelopes.is_empty()).then_some(envelopes))
    })
    .await?;
    assert_eq!(
        received,
        vec![routed.clone()],
        "only the matching envelope is routed"
    );
    assert_eq!(received[0].correlation_id, ignored.id);
    assert_eq!(
        received[0].causation_id.as_deref(),
        Some(ignored.id.as_str())
    );
    Ok(())
}

// ---- exactly-once effects: a crash between the effect and its record ----------------------

/// One counter per envelope id in `counters`, incremented by the handler: alone, or in one
/// transaction with the `COMPLETED` record when given the completion.
struct Counter {
    dynamodb: aws_sdk_dynamodb::Client,
    counters: String,
    records: String,
}

/// Fresh counter and idempotency tables on LocalStack.
async fn counter_and_records() -> anyhow::Result<(Idempotency<DynamoIdempotencyStore>, Counter)> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let records = create_table(&dynamodb, "id").await?;
    let counter = Counter {
        counters: create_table(&dynamodb, "pk").await?,
        records: records.clone(),
        dynamodb: dynamodb.clone(),
    };
    let idem = Idempotency::new(
        DynamoIdempotencyStore::new(dynamodb, &records),
        IdempotencyConfig::for_handler("counter").local_cache(0),
    );
    Ok((idem, counter))
}

impl Counter {
    async fn apply(
        &self,
        id: &str,
        completion: Option<&eventkit::idempotency::Completion>,
    ) -> Result<serde_json::Value, String> {
        use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
        let response = json!({"counted": id});
        let add = Update::builder()
            .table_name(&self.counters)
            .key("pk", AttributeValue::S(id.into()))
            .update_expression("ADD n :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(|e| e.to_string())?;
        let Some(completion) = completion else {
            self.dynamodb
                .update_item()
                .table_name(&self.counters)
                .key("pk", AttributeValue::S(id.into()))
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await
                .map_err(|e| format!("{:?}", e.into_service_error()))?;
            return Ok(response);
        };
        let record =
            eventkit::aws::dynamodb::completion_write(&self.records, completion, &response)
                .map_err(|e| e.to_string())?;
        self.dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(add).build())
            .transact_items(record)
            .send()
            .await
            .map_err(|e| format!("{:?}", e.into_service_error()))?;
        completion.committed();
        Ok(response)
    }

    async fn count(&self, id: &str) -> anyhow::Result<i64> {
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.counters)
            .key("pk", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(item
            .item()
            .and_then(|i| i.get("n"))
            .and_then(|n| n.as_n().ok())
            .map_or(Ok(0), |n| n.parse())?)
    }
}

enum Crash {
    BeforeEffect,
    AfterEffect,
}

/// Delivers `event` once and kills the handler at `crash`: the call is dropped, as a dead
/// process would leave it (nothing after that point runs). The in-progress expiry is 1 s.
async fn deliver_and_crash(
    idem: &Idempotency<DynamoIdempotencyStore>,
    counter: &Counter,
    event: &Envelope,
    completing: bool,
    crash: Crash,
) -> anyhow::Result<()> {
    let crashed = tokio::sync::Notify::new();
    let run = idem.run_envelope_completing(event, Some(Duration::from_secs(1)), |completion| {
        let crashed = &crashed;
        async move {
            if matches!(crash, Crash::AfterEffect) {
                counter
                    .apply(&event.id, completing.then_some(&completion))
                    .await?;
            }
            crashed.notify_one();
            std::future::pending::<Result<serde_json::Value, String>>().await
        }
    });
    tokio::select! {
        outcome = run => anyhow::bail!("the handler was to crash, but returned {:?}", outcome.map_err(|e| e.to_string())),
        _ = crashed.notified() => Ok(()),
    }
}

/// Redelivers `event` until it is answered (the crashed record blocks until its expiry).
async fn redeliver(
    idem: &Idempotency<DynamoIdempotencyStore>,
    counter: &Counter,
    event: &Envelope,
    completing: bool,
) -> anyhow::Result<Outcome<serde_json::Value>> {
    until_answered(idem, event, |completion| async move {
        counter
            .apply(&event.id, completing.then_some(&completion))
            .await
    })
    .await
}

/// Delivers `event` to `handler` until a delivery is answered rather than told "in progress".
async fn until_answered<F, Fut>(
    idem: &Idempotency<DynamoIdempotencyStore>,
    event: &Envelope,
    handler: F,
) -> anyhow::Result<Outcome<serde_json::Value>>
where
    F: Fn(eventkit::idempotency::Completion) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, String>>,
{
    wait_for(
        "the redelivery to be answered",
        Duration::from_secs(30),
        || async {
            let run = idem.run_envelope_completing(event, Some(Duration::from_secs(30)), &handler);
            match run.await {
                Ok(outcome) => Ok(Some(outcome)),
                Err(IdempotencyError::AlreadyInProgress { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(None)
                }
                Err(e) => Err(anyhow::anyhow!("redelivery failed: {e}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_crash_between_effect_and_record_applies_the_effect_once_when_they_commit_together(
) -> anyhow::Result<()> {
    let (idem, counter) = counter_and_records().await?;
    let event = || Envelope::new("e2e", "counted", json!({}));

    // The gap, reproduced by the fault hook: effect written, record not completed, so the
    // redelivery after the in-progress expiry runs the handler again.
    let plain = event();
    deliver_and_crash(&idem, &counter, &plain, false, Crash::AfterEffect).await?;
    let outcome = redeliver(&idem, &counter, &plain, false).await?;
    assert!(!outcome.is_replay());
    assert_eq!(counter.count(&plain.id).await?, 2, "the plain mode's gap");

    // Effect and record in one transaction: the crash leaves a COMPLETED record.
    let together = event();
    deliver_and_crash(&idem, &counter, &together, true, Crash::AfterEffect).await?;
    let outcome = redeliver(&idem, &counter, &together, true).await?;
    assert!(outcome.is_replay(), "the redelivery replays: {outcome:?}");
    assert_eq!(outcome.into_inner(), json!({"counted": together.id}));
    assert_eq!(counter.count(&together.id).await?, 1);

    // A crash before the transaction leaves nothing: after the expiry it runs once.
    let before = event();
    deliver_and_crash(&idem, &counter, &before, true, Crash::BeforeEffect).await?;
    let outcome = redeliver(&idem, &counter, &before, true).await?;
    assert!(!outcome.is_replay());
    assert_eq!(counter.count(&before.id).await?, 1);
    Ok(())
}

#[tokio::test]
async fn an_invocation_that_outlived_its_record_cannot_commit_its_effect() -> anyhow::Result<()> {
    let (idem, counter) = counter_and_records().await?;
    let event = Envelope::new("e2e", "counted", json!({}));
    let (started, go, stale_done) = (
        tokio::sync::Notify::new(),
        tokio::sync::Notify::new(),
        tokio::sync::Notify::new(),
    );

    // A slow invocation holds the record for 1 s; it writes only once a redelivery has
    // taken the record over, and while that redelivery still holds it INPROGRESS.
    let stale = async {
        let outcome = idem
            .run_envelope_completing(&event, Some(Duration::from_secs(1)), |completion| {
                let (started, go, counter, id) = (&started, &go, &counter, &event.id);
                async move {
                    started.notify_one();
                    go.notified().await;
                    counter.apply(id, Some(&completion)).await
                }
            })
            .await;
        stale_done.notify_one();
        outcome
    };
    let fresh = async {
        started.notified().await;
        until_answered(&idem, &event, |completion| {
            let (go, stale_done, counter, id) = (&go, &stale_done, &counter, &event.id);
            async move {
                go.notify_one();
                stale_done.notified().await;
                counter.apply(id, Some(&completion)).await
            }
        })
        .await
    };
    let (stale, fresh) = tokio::join!(stale, fresh);
    assert!(!fresh?.is_replay(), "the redelivery ran the handler");
    let err = stale.expect_err("the stale invocation's transaction must be refused");
    assert!(
        err.to_string().contains("ConditionalCheckFailed"),
        "refused on the record's condition: {err}"
    );
    assert_eq!(counter.count(&event.id).await?, 1);
    Ok(())
}

/// A DynamoDB client through `proxy`, with a retry partition of its own, so its retry
/// quota is not another client's.
fn dynamodb_through(
    config: &aws_config::SdkConfig,
    proxy: &FaultProxy,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .endpoint_url(proxy.endpoint())
            .retry_partition(aws_sdk_dynamodb::config::retry::RetryPartition::new(
                unique("faults"),
            ))
            .build(),
    )
}

/// A consumer of `counted` events: each adds 1 to its own counter in one transaction with
/// its `COMPLETED` record; with `announce`, after first publishing an `announced` event
/// caused by it, under an id a retry reproduces.
fn counting_router(
    dynamodb: aws_sdk_dynamodb::Client,
    counters: &str,
    records: &str,
    announce: Option<EventBridgePublisher>,
) -> Router<Counter> {
    let counter = Counter {
        dynamodb: dynamodb.clone(),
        counters: counters.to_owned(),
        records: records.to_owned(),
    };
    Router::with_state(counter)
        .idempotency_store(DynamoIdempotencyStore::new(dynamodb, records))
        .on_completing(
            "counted",
            move |c: Arc<Counter>, e: Envelope, completion: Completion| {
                let announce = announce.clone();
                async move {
                    if let Some(publisher) = announce {
                        let announced = e
                            .caused("e2e", "announced", json!({}))
                            .with_id(stable_id(&[&e.id, "announced"]));
                        publisher
                            .publish(&[announced])
                            .await
                            .map_err(|err| err.to_string())?;
                    }
                    c.apply(&e.id, Some(&completion)).await
                }
            },
        )
}

/// A work queue (visibility timeout 2 s, `maxReceiveCount` 3) and its DLQ.
async fn work_queue_with_dlq(sqs: &aws_sdk_sqs::Client) -> anyhow::Result<(Queue, Queue)> {
    let dlq = queue(sqs, &unique("faults-dlq"), HashMap::new()).await?;
    let redrive = json!({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": "3"}).to_string();
    let work = queue(
        sqs,
        &unique("faults"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "2".into()),
        ]),
    )
    .await?;
    Ok((work, dlq))
}

/// Where the dependency fault tests run: a proxy in front of LocalStack, a work queue and
/// its DLQ, the counters and records tables, and the events sent so far.
struct FaultBench {
    config: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    proxy: FaultProxy,
    work: Queue,
    dlq: Queue,
    reader: Counter,
    sent: Vec<String>,
}

impl FaultBench {
    async fn new() -> anyhow::Result<FaultBench> {
        let config = require_localstack().await?;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let direct = aws_sdk_dynamodb::Client::new(&config);
        let (work, dlq) = work_queue_with_dlq(&sqs).await?;
        let reader = Counter {
            counters: create_table(&direct, "pk").await?,
            records: create_table(&direct, "id").await?,
            dynamodb: direct,
        };
        Ok(FaultBench {
            proxy: FaultProxy::in_front_of_localstack().await?,
            config,
            sqs,
            work,
            dlq,
            reader,
            sent: Vec::new(),
        })
    }

    /// How many times each event sent so far was applied.
    async fn applied(&self) -> anyhow::Result<Vec<i64>> {
        let mut counts = Vec::new();
        for id in &self.sent {
            counts.push(self.reader.count(id).await?);
        }
        Ok(counts)
    }

    /// Under each of `modes`: 5 events sent with `sender`, consumed by a fresh `router()`
    /// until all are in the DLQ; nothing applied, and each failed delivery's calls retried.
    async fn dead_letter_under(
        &mut self,
        modes: &[Mode],
        sender: &SqsSender,
        make_router: impl Fn(&FaultBench) -> Router<Counter>,
    ) -> anyhow::Result<()> {
        for &mode in modes {
            self.proxy.set(mode);
            let router = make_router(self);
            let before = self.proxy.failed();
            for _ in 0..5 {
                let e = Envelope::new("e2e", "counted", json!({}));
                sender.send(&e).await?;
                self.sent.push(e.id);
            }
            let failed_records = std::sync::atomic::AtomicUsize::new(0);
            let this = &*self;
            wait_for(
                &format!("every event sent under {mode:?} in the DLQ"),
                Duration::from_secs(120),
                || async {
                    let failed = consume(&this.sqs, &this.work, |event| {
                        router.handle_sqs(event, Some(Duration::from_secs(2)))
                    })
                    .await?;
                    failed_records.fetch_add(failed, std::sync::atomic::Ordering::SeqCst);
                    let quiet = depth(&this.sqs, &this.work).await? == 0;
                    Ok(
                        (quiet && depth(&this.sqs, &this.dlq).await? == this.sent.len())
                            .then_some(()),
                    )
                },
            )
            .await?;
            let counts = self.applied().await?;
            assert!(
                counts.iter().all(|&n| n == 0),
                "{mode:?}: nothing applied while the dependency failed: {counts:?}"
            );
            let (calls, failed) = (self.proxy.failed() - before, failed_records.into_inner());
            eprintln!("{mode:?}: {failed} failed deliveries, {calls} requests failed by the proxy");
            assert!(
                failed >= 15 && calls >= 2 * failed,
                "{mode:?}: each of the {failed} failed deliveries retried its call ({calls} requests failed)"
            );
        }
        Ok(())
    }

    /// The dependency back: the DLQ moved to the work queue, as a redrive does, and consumed
    /// by `router` until every event is applied; each exactly once, the DLQ empty.
    async fn recover(&self, router: Router<Counter>) -> anyhow::Result<()> {
        self.proxy.set(Mode::Pass);
        let (sqs, work, dlq) = (&self.sqs, &self.work, &self.dlq);
        wait_for("the DLQ moved back", Duration::from_secs(60), || async {
            for m in receive(sqs, dlq).await? {
                sqs.send_message()
                    .queue_url(&work.url)
                    .message_body(m.body().unwrap_or_default())
                    .set_message_attributes(m.message_attributes().cloned())
                    .send()
                    .await?;
                sqs.delete_message()
                    .queue_url(&dlq.url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await?;
            }
            Ok((depth(sqs, dlq).await? == 0).then_some(()))
        })
        .await?;
        let counts = wait_for(
            "every redriven event applied",
            Duration::from_secs(120),
            || async {
                consume(sqs, work, |event| {
                    router.handle_sqs(event, Some(Duration::from_secs(2)))
                })
                .await?;
                let counts = self.applied().await?;
                let done = depth(sqs, work).await? == 0 && counts.iter().all(|&n| n >= 1);
                Ok(done.then_some(counts))
            },
        )
        .await?;
        assert!(
            counts.iter().all(|&n| n == 1),
            "each event applied exactly once: {counts:?}"
        );
        assert_eq!(depth(sqs, dlq).await?, 0, "sent == applied + dead-lettered");
        Ok(())
    }
}

/// DynamoDB throttling, unreachable, then losing its answers (each request applied, the
/// answer cut), under a consumer of real SQS queues: the SDK retries each failed call
/// (standard mode: 3 attempts, backoff with jitter), then the record fails, returns to its
/// queue and after `maxReceiveCount` receives lands in the DLQ, nothing applied. Once the
/// store is back, a redrive applies every event exactly once. At every quiet point, events
/// sent == applied + dead-lettered.
#[tokio::test]
async fn dynamodb_faults_dead_letter_records_and_a_redrive_applies_each_once() -> anyhow::Result<()>
{
    let mut bench = FaultBench::new().await?;
    let sender = SqsSender::new(bench.sqs.clone(), &bench.work.url);
    let router = |b: &FaultBench| {
        let dynamodb = dynamodb_through(&b.config, &b.proxy);
        counting_router(dynamodb, &b.reader.counters, &b.reader.records, None)
    };
    let modes = [Mode::Throttle, Mode::Refuse, Mode::LoseResponses];
    bench.dead_letter_under(&modes, &sender, &router).await?;
    bench.recover(router(&bench)).await
}

/// The claim-check bucket throttling (S3's `SlowDown`), unreachable, or losing its answers:
/// a claim-checked record cannot be redeemed, is retried, dead-lettered, and applied once
/// after a redrive; its object is still there to redeem.
#[tokio::test]
async fn s3_faults_dead_letter_claim_checked_records_and_a_redrive_applies_each_once(
) -> anyhow::Result<()> {
    let mut bench = FaultBench::new().await?;
    let s3 = s3_client(&bench.config);
    let bucket = unique("faults");
    s3.create_bucket().bucket(&bucket).send().await?;
    let claim_check = |s3: aws_sdk_s3::Client| {
        ClaimCheck::new(
            Arc::new(S3PayloadStore::new(s3)),
            &bucket,
            Offload::Above(0),
        )
    };
    // The producer writes to S3 directly; only the consumer's reads meet the faults.
    let sender =
        SqsSender::new(bench.sqs.clone(), &bench.work.url).with_claim_check(claim_check(s3));
    let router = |b: &FaultBench| {
        let s3 = aws_sdk_s3::Client::from_conf(
            s3_client(&b.config)
                .config()
                .to_builder()
                .endpoint_url(b.proxy.endpoint())
                .retry_partition(aws_sdk_s3::config::retry::RetryPartition::new(unique(
                    "faults",
                )))
                .build(),
        );
        let direct = b.reader.dynamodb.clone();
        counting_router(direct, &b.reader.counters, &b.reader.records, None)
            .claim_check(claim_check(s3))
    };
    let modes = [Mode::Throttle, Mode::Refuse, Mode::LoseResponses];
    bench.dead_letter_under(&modes, &sender, &router).await?;
    bench.recover(router(&bench)).await
}

/// The bus throttling, unreachable, or losing its answers while a consumer announces each
/// event on it: records are dead-lettered and redriven as above; every event is announced
/// in the end, under one id whatever the retries. A publish that failed before the bus
/// never shows there; one whose answer was lost was applied, so the bus carries copies
/// (one per lost answer, all with the same id) for the announcement's consumers to drop.
#[tokio::test]
async fn bus_faults_dead_letter_records_and_a_redrive_announces_each_under_one_id(
) -> anyhow::Result<()> {
    let mut bench = FaultBench::new().await?;
    let events = aws_sdk_eventbridge::Client::new(&bench.config);
    let pattern = json!({"detail-type": ["announced"]});
    let (bus, landed) = bus_to_queue(&events, &bench.sqs, pattern).await?;
    let sender = SqsSender::new(bench.sqs.clone(), &bench.work.url);
    let router = |b: &FaultBench| {
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&b.config)
                .endpoint_url(b.proxy.endpoint())
                .retry_partition(aws_sdk_eventbridge::config::retry::RetryPartition::new(
                    unique("faults"),
                ))
                .build(),
        );
        let direct = b.reader.dynamodb.clone();
        let publisher = EventBridgePublisher::new(events, &bus);
        counting_router(
            direct,
            &b.reader.counters,
            &b.reader.records,
            Some(publisher),
        )
    };
    let modes = [Mode::Throttle, Mode::Refuse, Mode::LoseResponses];
    bench.dead_letter_under(&modes, &sender, &router).await?;
    bench.recover(router(&bench)).await?;

    // Copies of each announcement on the bus, by the event that caused it.
    let copies = std::sync::Mutex::new(HashMap::<String, Vec<String>>::new());
    wait_for(
        "every event announced on the bus",
        Duration::from_secs(60),
        || async {
            for m in receive(&bench.sqs, &landed).await? {
                let announced =
                    eventkit::unwrap::from_sqs_record(&to_lambda_record(&m, &landed.arn))?;
                let cause = announced.causation_id.clone().unwrap_or_default();
                copies
                    .lock()
                    .unwrap()
                    .entry(cause)
                    .or_default()
                    .push(announced.id);
            }
            let seen = copies.lock().unwrap().len();
            Ok((seen >= bench.sent.len()).then_some(()))
        },
    )
    .await?;
    let copies = copies.into_inner().unwrap();
    for (i, id) in bench.sent.iter().enumerate() {
        let ids = &copies[id];
        let once = stable_id(&[id, "announced"]);
        assert!(
            ids.iter().all(|a| *a == once),
            "every copy of {id}'s announcement has one id: {ids:?}"
        );
        // Throttled or refused publishes never reached the bus: the redrive's is the one.
        if i < 10 {
            assert_eq!(ids.len(), 1, "{id} announced once: {ids:?}");
        }
    }
    let lost: Vec<usize> = bench.sent[10..].iter().map(|id| copies[id].len()).collect();
    eprintln!("copies on the bus of the events whose publish answers were lost: {lost:?}");
    assert!(
        lost.iter().all(|&n| n > 1),
        "a lost answer was a publish applied: {lost:?}"
    );
    Ok(())
}
