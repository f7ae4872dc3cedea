//! Wire compatibility with Powertools for AWS Lambda (Python) on one idempotency table: a
//! record written by either side answers the other side's duplicate, and a reused key with
//! another payload is refused by both. Runs the real Powertools package (installed by
//! `make compat-venv` into build/compat-venv) against LocalStack's DynamoDB.

use eventkit::aws::dynamodb::DynamoIdempotencyStore;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, Outcome};
use eventkit_e2e::{create_table, require_localstack, run_python_peer};
use serde_json::{json, Value};

fn python_peer(table: &str, order: &str, amount: i64) -> anyhow::Result<Value> {
    run_python_peer("powertools_peer.py", &[table, order, &amount.to_string()])
}

#[tokio::test]
async fn powertools_and_eventkit_share_one_idempotency_table() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb, "id").await?;
    let mut settings = IdempotencyConfig::for_handler("unused")
        .key_pointer("/order")
        .validate_payload("/amount")
        .local_cache(0);
    settings.key_prefix = "compat".into();
    let idem = Idempotency::new(DynamoIdempotencyStore::new(dynamodb, &table), settings);
    let charge = |order: &str, amount: i64| {
        let event = json!({"order": order, "amount": amount});
        let idem = &idem;
        async move {
            idem.run(&event, None, || async move {
                Ok::<_, String>(json!({"charged": amount, "by": "rust"}))
            })
            .await
        }
    };

    // Rust first: Powertools sees the completed record and returns Rust's response.
    assert_eq!(
        charge("rs-1", 10)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        Outcome::Executed(json!({"charged": 10, "by": "rust"}))
    );
    let python = python_peer(&table, "rs-1", 10)?;
    assert_eq!(
        python,
        json!({"executed": false, "response": {"charged": 10, "by": "rust"}})
    );

    // Python first: eventkit replays Python's response.
    let python = python_peer(&table, "py-1", 10)?;
    assert_eq!(
        python,
        json!({"executed": true, "response": {"charged": 10, "by": "python"}})
    );
    assert_eq!(
        charge("py-1", 10)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        Outcome::Replayed(json!({"charged": 10, "by": "python"}))
    );

    // Same key, other payload: both sides refuse, on each other's validation hash.
    let err = charge("py-1", 99).await.unwrap_err();
    assert!(
        matches!(err, IdempotencyError::PayloadMismatch { .. }),
        "{err}"
    );
    let python = python_peer(&table, "rs-1", 99)?;
    assert_eq!(python["error"], "IdempotencyValidationError", "{python}");
    Ok(())
}

/// The kit's SQS claim check against the Amazon SQS Extended Client for Python, both ways,
/// on LocalStack's SQS and S3: each reads exactly the body the other sent.
mod sqs_extended_client {
    use std::sync::Arc;

    use eventkit::aws::s3::{client as s3_client, S3PayloadStore};
    use eventkit::aws::sqs::SqsSender;
    use eventkit::claim_check::{ClaimCheck, Offload, EXTENDED_CLIENT_DEFAULT_THRESHOLD};
    use eventkit::Envelope;
    use eventkit_e2e::{
        queue_and_bucket, require_localstack, run_python_peer, to_lambda_record, TempFile,
    };
    use serde_json::json;
    use sha2::{Digest, Sha256};

    fn sha256(text: &str) -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[tokio::test]
    async fn the_extended_client_reads_what_the_kit_sends() -> anyhow::Result<()> {
        let config = require_localstack().await?;
        let (url, _, bucket) = queue_and_bucket(&config, "xc").await?;
        let store = Arc::new(S3PayloadStore::new(s3_client(&config)));
        // The Extended Client's own default threshold, as an existing fleet would use.
        let cc = ClaimCheck::new(
            store,
            &bucket,
            Offload::Above(EXTENDED_CLIENT_DEFAULT_THRESHOLD),
        );
        let envelope = Envelope::new(
            "eventkit.compat",
            "document.submitted",
            json!({"content": "x".repeat(400_000)}),
        );
        let sent = envelope.to_json();
        SqsSender::new(aws_sdk_sqs::Client::new(&config), &url)
            .with_claim_check(cc)
            .send(&envelope)
            .await?;
        let python = run_python_peer("sqs_extended_peer.py", &["receive", &url, &bucket])?;
        assert_eq!(
            python["sha256"],
            json!(sha256(&sent)),
            "the Extended Client read another body: {python}"
        );
        assert_eq!(python["size"], json!(sent.len()));
        // It recognised the size attribute as its own and removed it.
        assert_eq!(python["attributes"], json!([]), "{python}");
        Ok(())
    }

    #[tokio::test]
    async fn the_kit_reads_what_the_extended_client_sends_current_and_legacy() -> anyhow::Result<()>
    {
        let config = require_localstack().await?;
        let (url, arn, bucket) = queue_and_bucket(&config, "xc").await?;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let cc = ClaimCheck::new(
            Arc::new(S3PayloadStore::new(s3_client(&config))),
            &bucket,
            Offload::Always,
        );
        for legacy in [false, true] {
            let envelope = Envelope::new(
                "python",
                "document.submitted",
                json!({"content": "y".repeat(300_000), "legacy": legacy}),
            );
            let file = TempFile::with("xc-body", &envelope.to_json())?;
            let mut args = vec!["send", url.as_str(), bucket.as_str(), file.arg()];
            if legacy {
                args.push("--legacy");
            }
            let python = run_python_peer("sqs_extended_peer.py", &args)?;
            let received = sqs
                .receive_message()
                .queue_url(&url)
                .message_attribute_names("All")
                .wait_time_seconds(5)
                .send()
                .await?;
            let message = received
                .messages()
                .first()
                .ok_or_else(|| anyhow::anyhow!("nothing received"))?;
            let record = to_lambda_record(message, &arn);
            let redeemed = cc.redeem_sqs(&record).await?;
            assert_eq!(
                json!(sha256(&redeemed.body)),
                python["sha256"],
                "legacy={legacy}"
            );
            assert_eq!(
                eventkit::unwrap::from_sqs_body(&redeemed.body)?.id,
                envelope.id
            );
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
        Ok(())
    }
}

/// Kit envelopes against the CloudEvents Python SDK's strict JSON reader, and the SDK's
/// events (JSON and binary data) into the kit and its router.
mod cloudevents_sdk {
    use std::sync::Arc;

    use eventkit::{Envelope, Router};
    use eventkit_e2e::{run_python_peer_lines, TempFile};
    use serde_json::{json, Value};

    #[test]
    fn the_sdk_reads_every_kind_of_envelope_the_kit_writes() -> anyhow::Result<()> {
        let placed = Envelope::new(
            "eventkit.orders",
            "order.placed",
            json!({"order_id": "o-1", "total": 5}),
        )
        .with_subject("o-1")
        .with_partition_key("o-1")
        .with_schema_version("2");
        let mut caused = placed.caused(
            "eventkit.payments",
            "payment.taken",
            json!({"order_id": "o-1"}),
        );
        caused.extensions.insert("sequence".into(), json!("3"));
        // The distributed tracing extension, as the kit's publishers stamp it.
        caused.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        caused.tracestate = Some("congo=t61rcWkgMzE".into());
        let mut claim_checked =
            Envelope::new("eventkit.documents", "document.submitted", json!(null));
        claim_checked.data = None;
        claim_checked.dataref = Some("s3://bucket/claims/abc".into());
        let mut timeless = Envelope::new("eventkit.relay", "thing.happened", json!([1, 2]));
        timeless.time = None;
        let written = [placed, caused, claim_checked, timeless];
        let lines = written.iter().map(|e| e.to_json()).collect::<Vec<_>>();
        let file = TempFile::with("ce-kit", &lines.join("\n"))?;
        let read = run_python_peer_lines("cloudevents_peer.py", &["read", file.arg()])?;
        assert_eq!(read.len(), written.len());
        for (mine, theirs) in written.iter().zip(&read) {
            assert_eq!(
                theirs["ok"],
                json!(true),
                "the SDK refused {}: {theirs}",
                mine.to_json()
            );
            let a = &theirs["attributes"];
            assert_eq!(
                (a["id"].as_str(), a["type"].as_str()),
                (Some(mine.id.as_str()), Some(mine.event_type.as_str()))
            );
            assert_eq!(a["correlationid"], json!(mine.correlation_id));
            assert_eq!(theirs["data"], mine.data.clone().unwrap_or(Value::Null));
        }
        assert_eq!(read[1]["attributes"]["causationid"], json!(written[0].id));
        assert_eq!(
            (
                &read[1]["attributes"]["traceparent"],
                &read[1]["attributes"]["tracestate"]
            ),
            (
                &json!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                &json!("congo=t61rcWkgMzE")
            )
        );
        assert_eq!(
            read[2]["attributes"]["dataref"],
            json!("s3://bucket/claims/abc")
        );
        // The time-less envelope was accepted (asserted above); the SDK fills in its own
        // `time` on reading, so there is nothing more to compare there.
        Ok(())
    }

    #[tokio::test]
    async fn the_kit_and_its_router_take_what_the_sdk_writes() -> anyhow::Result<()> {
        let lines = run_python_peer_lines("cloudevents_peer.py", &["write"])?;
        let events: Vec<Envelope> = lines
            .into_iter()
            .map(Envelope::from_value)
            .collect::<Result<_, _>>()?;
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["sdk-json", "sdk-binary", "sdk-json-bytes", "sdk-minimal"]
        );
        assert_eq!(events[0].extensions["tenant"], json!("acme"));
        assert_eq!(
            events[0].correlation_id, "sdk-json",
            "a foreign event starts its own conversation"
        );
        assert_eq!(
            events[1].data_bytes().transpose()?,
            Some(vec![0, 1, 2, 255])
        );
        // Binary data with a JSON content type reaches a typed handler like inline JSON.
        let router = Router::new().on(
            "order.placed",
            |_: Arc<()>, e: Envelope<Option<Value>>| async move {
                Ok::<_, lambda_runtime::Error>(e.data.flatten().unwrap_or(Value::Null))
            },
        );
        let answers: Vec<Value> = futures::future::try_join_all(
            events
                .iter()
                .filter(|e| e.id != "sdk-binary")
                .map(|e| router.dispatch(e.clone(), None)),
        )
        .await?;
        assert_eq!(
            answers,
            [
                json!({"order_id": "o-sdk-1", "total": 42}),
                json!({"order_id": "o-sdk-2", "total": 7}),
                Value::Null
            ]
        );
        Ok(())
    }
}

/// The idempotency key hash against Powertools' own, on generated values: every finite
/// double (subnormals, -0.0, the extremes), integers to 64 bits, any Unicode string (control
/// characters, astral planes), nested arrays and objects. A disagreement means a Rust and a
/// Python function sharing a table would each run the same event once.
mod powertools_hash {
    use eventkit::idempotency::hash::python_json;
    use eventkit::idempotency::powertools_hash;
    use eventkit_e2e::{run_python_peer_lines, TempFile};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use serde_json::Value;

    const CASES: usize = 2_000;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            // The doubles payloads carry: amounts, ratios, epoch seconds.
            (-1e10f64..1e10).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn the_kits_key_hash_is_powertools_own_on_generated_values() -> anyhow::Result<()> {
        // A fixed seed: a failure names values that reproduce on the next run.
        let mut runner = TestRunner::deterministic();
        let strategy = value();
        let mut lines = Vec::with_capacity(CASES);
        for _ in 0..CASES {
            let generated = strategy
                .new_tree(&mut runner)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .current();
            lines.push(serde_json::to_string(&generated)?);
        }
        let file = TempFile::with("hash-values", &(lines.join("\n") + "\n"))?;
        let python = run_python_peer_lines("powertools_hash_peer.py", &[file.arg()])?;
        anyhow::ensure!(
            python.len() == CASES,
            "the peer hashed {} values of {CASES}",
            python.len()
        );
        let mut differ = Vec::new();
        for (line, theirs) in lines.iter().zip(&python) {
            // As the kit reads an event: parsed from the JSON text, then hashed.
            let parsed: Value = serde_json::from_str(line)?;
            if Some(powertools_hash(&parsed).as_str()) != theirs["hash"].as_str() {
                let mut ours = String::new();
                python_json(&parsed, &mut ours);
                differ.push(format!("ours {ours}\n  theirs {}", theirs["text"]));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {CASES} values hash differently from Powertools; the first:\n  {}",
            differ.len(),
            differ
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        Ok(())
    }
}
