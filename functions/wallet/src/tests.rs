use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use cqrs_es::mem_store::MemStore;
use cqrs_es::test::TestFramework;
use cqrs_es::{CqrsFramework, EventStore};
use serde_json::json;

use super::*;
use crate::commands;

const SAMPLE: &str = include_str!("../../../events/wallet/stream-batch.json");

fn opened() -> WalletEvent {
    WalletEvent::Opened {
        customer: "cust-1".into(),
        currency: "EUR".into(),
    }
}

fn credited(amount: i64, balance: i64) -> WalletEvent {
    WalletEvent::Credited {
        amount,
        balance,
        reference: None,
    }
}

#[test]
fn commands_yield_events_or_a_named_refusal() {
    TestFramework::<Wallet>::with(())
        .given_no_previous_events()
        .when(WalletCommand::Open {
            customer: "cust-1".into(),
            currency: "EUR".into(),
        })
        .then_expect_events(vec![opened()]);
    TestFramework::<Wallet>::with(())
        .given(vec![opened(), credited(500, 500)])
        .when(WalletCommand::Debit {
            amount: 200,
            reference: Some("pay-7".into()),
        })
        .then_expect_events(vec![WalletEvent::Debited {
            amount: 200,
            balance: 300,
            reference: Some("pay-7".into()),
        }]);
    let refused = [
        (vec![], WalletCommand::Close, WalletError::NotOpen),
        (
            vec![opened()],
            WalletCommand::Open {
                customer: "c".into(),
                currency: "EUR".into(),
            },
            WalletError::AlreadyOpen,
        ),
        (
            vec![],
            WalletCommand::Open {
                customer: "c".into(),
                currency: "euro".into(),
            },
            WalletError::BadCurrency("euro".into()),
        ),
        (
            vec![opened(), credited(100, 100)],
            WalletCommand::Debit {
                amount: 101,
                reference: None,
            },
            WalletError::InsufficientFunds {
                balance: 100,
                amount: 101,
            },
        ),
        (
            vec![opened()],
            WalletCommand::Credit {
                amount: 0,
                reference: None,
            },
            WalletError::BadAmount(0),
        ),
        (
            vec![opened(), credited(1, 1)],
            WalletCommand::Close,
            WalletError::NotEmpty(1),
        ),
        (
            vec![opened(), WalletEvent::Closed {}],
            WalletCommand::Credit {
                amount: 5,
                reference: None,
            },
            WalletError::Closed,
        ),
    ];
    for (given, command, error) in refused {
        TestFramework::<Wallet>::with(())
            .given(given)
            .when(command)
            .then_expect_error(error);
    }
}

#[test]
fn commands_read_as_json_and_an_unknown_one_is_refused_by_name() {
    let open: WalletCommand =
        serde_json::from_value(json!({"command": "open", "customer": "c", "currency": "EUR"}))
            .unwrap();
    assert!(matches!(open, WalletCommand::Open { .. }));
    let e = serde_json::from_value::<WalletCommand>(json!({"command": "ship"})).unwrap_err();
    assert!(e.to_string().contains("unknown variant `ship`"), "{e}");
}

#[test]
fn a_stored_v1_opening_is_read_as_v2_through_the_upcaster() {
    // What 1.0 code stored, then read by today's code.
    let v1 = SerializedEvent {
        aggregate_id: "w-1".into(),
        sequence: 1,
        aggregate_type: "wallet".into(),
        event_type: OPENED.into(),
        event_version: "1.0".into(),
        payload: json!({"Opened": {"customer": "cust-1"}}),
        metadata: json!({}),
    };
    let upcast = upcast(&upcasters(), v1);
    assert_eq!(upcast.event_version, "2.0.0");
    assert_eq!(
        serde_json::from_value::<WalletEvent>(upcast.payload).unwrap(),
        opened()
    );
    let current = serde_json::to_value(WalletEvent::Opened {
        customer: "c".into(),
        currency: "USD".into(),
    })
    .unwrap();
    assert_eq!(
        opened_v1_to_v2(current.clone()),
        current,
        "2.0 passes unchanged"
    );
    assert!(
        serde_json::from_value::<WalletEvent>(json!({"Opened": {"customer": "cust-1"}})).is_err(),
        "without the upcaster 1.0 does not read"
    );
}

#[test]
fn each_stored_event_becomes_a_stable_envelope_at_the_current_version() {
    let batch: DynamoDbEvent = serde_json::from_str(SAMPLE).unwrap();
    let envelopes: Vec<Envelope> = batch
        .records
        .iter()
        .map(|r| stored_envelope(r).expect("readable"))
        .collect();
    let types: Vec<(&str, &str)> = envelopes
        .iter()
        .map(|e| (e.event_type.as_str(), e.schemaversion.as_str()))
        .collect();
    assert_eq!(
        types,
        [(OPENED, "2"), (CREDITED, "1"), (DEBITED, "1")],
        "the 1.0 opening goes out as 2"
    );
    assert_eq!(
        envelopes[0].data,
        Some(json!({"customer": "cust-1", "currency": "EUR"}))
    );
    assert_eq!(
        envelopes[2].data,
        Some(json!({"amount": 200, "balance": 300, "reference": "pay-7"}))
    );
    for (i, e) in envelopes.iter().enumerate() {
        assert_eq!(e.source, SOURCE);
        assert_eq!(e.subject.as_deref(), Some("w-1"));
        assert_eq!(e.partition_key.as_deref(), Some("w-1"));
        assert_eq!(e.extensions["sequence"], json!((i + 1).to_string()));
        assert_eq!(e.correlation_id, "corr-w-1");
        assert_eq!(
            e.time.map(|t| t.to_rfc3339()),
            Some("2026-11-25T10:00:00+00:00".into())
        );
    }
    assert_eq!(envelopes[2].causation_id.as_deref(), Some("cmd-debit-w-1"));
    // A redelivered stream record is the same envelope.
    let again = stored_envelope(&batch.records[1]).unwrap();
    assert_eq!(again.id, envelopes[1].id);
    assert_ne!(envelopes[0].id, envelopes[1].id);
}

#[test]
fn a_stored_event_no_code_reads_fails_naming_it() {
    let mut batch: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let image = &mut batch["Records"][2]["dynamodb"]["NewImage"];
    image["EventType"] = json!({"S": "wallet.frozen"});
    use base64::Engine as _;
    image["Payload"]["B"] = json!(
        base64::engine::general_purpose::STANDARD.encode(br#"{"Frozen":{"reason":"audit"}}"#)
    );
    let batch: DynamoDbEvent = serde_json::from_value(batch).unwrap();
    let error = stored_envelope(&batch.records[2]).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("wallet.frozen") && text.contains("w-1") && text.contains("sequence 3"),
        "{text}"
    );
    // A payload that is not JSON.
    let mut batch: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    batch["Records"][0]["dynamodb"]["NewImage"]["Payload"]["B"] = json!("bm90IGpzb24=");
    let batch: DynamoDbEvent = serde_json::from_value(batch).unwrap();
    let text = stored_envelope(&batch.records[0]).unwrap_err().to_string();
    assert!(
        text.contains("Payload") && text.contains("not JSON"),
        "{text}"
    );
}

#[test]
fn a_command_envelope_becomes_the_events_metadata() {
    let mut command = Envelope::new("eventkit.shop", "wallet.credit", json!({}));
    command.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    let metadata = metadata_of(&command);
    assert_eq!(metadata[META_CORRELATION], command.correlation_id);
    assert_eq!(metadata[META_CAUSATION], command.id);
    assert_eq!(
        metadata[META_TRACEPARENT],
        command.traceparent.clone().unwrap()
    );
    assert!(DateTime::parse_from_rfc3339(&metadata[META_TIME]).is_ok());
}

mod read_models {
    use eventkit::idempotency::ordering::MemorySequencedStore;
    use eventkit::idempotency::MemoryIdempotencyStore;
    use eventkit::Router;

    use super::*;
    use crate::commands::{self, CommandError, Commands, EventSourced, COMMAND};
    use crate::views::{self, MemoryStatement, View, Views};

    fn sample_envelopes() -> Vec<Envelope> {
        let batch: DynamoDbEvent = serde_json::from_str(SAMPLE).unwrap();
        batch
            .records
            .iter()
            .map(|r| stored_envelope(r).unwrap())
            .collect()
    }

    fn sqs(bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                json!({"messageId": format!("m-{i}"), "receiptHandle": "rh", "body": body,
                       "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                       "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                       "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:wallet"})
            })
            .collect();
        json!({ "Records": records })
    }

    /// Delivers `bodies` one message a batch, as a queue would, again and again until
    /// nothing fails (a gap fills once its predecessor is in); gives up after `rounds`.
    async fn deliver<S: Send + Sync + 'static>(
        router: &Router<S>,
        mut bodies: Vec<String>,
        rounds: usize,
    ) {
        for _ in 0..rounds {
            let mut failed = Vec::new();
            for body in bodies {
                let answer = router
                    .handle(sqs(std::slice::from_ref(&body)), None)
                    .await
                    .unwrap();
                if !answer["batchItemFailures"].as_array().unwrap().is_empty() {
                    failed.push(body);
                }
            }
            if failed.is_empty() {
                return;
            }
            bodies = failed;
        }
        panic!("still failing after {rounds} rounds: {bodies:?}");
    }

    fn views() -> Views<MemorySequencedStore, MemoryStatement> {
        Views {
            summary: MemorySequencedStore::default(),
            statement: MemoryStatement::default(),
        }
    }

    #[tokio::test]
    async fn duplicated_and_reordered_events_give_the_views_of_the_history() {
        let envelopes = sample_envelopes();
        // Last first, each twice.
        let mut bodies: Vec<String> = envelopes.iter().rev().map(|e| e.to_json()).collect();
        bodies.extend(bodies.clone());
        let summary = views::router(View::Summary, views());
        deliver(&summary, bodies.clone(), 5).await;
        let (sequence, item) = summary.state().summary.get("w-1").unwrap();
        assert_eq!(sequence, 3);
        assert_eq!(
            (
                &item["customer"],
                &item["currency"],
                &item["balance"],
                &item["status"]
            ),
            (&json!("cust-1"), &json!("EUR"), &json!(300), &json!("open"))
        );
        let statement = views::router(View::Statement, views());
        deliver(&statement, bodies, 1).await;
        let lines = statement.state().statement.0.lock().unwrap().clone();
        let amounts: Vec<(i64, &Value, &Value)> = lines
            .iter()
            .map(|((_, seq), line)| (*seq, &line["amount"], &line["balance"]))
            .collect();
        assert_eq!(
            amounts,
            [
                (2, &json!(500), &json!(500)),
                (3, &json!(-200), &json!(300))
            ],
            "one line a movement, duplicates absorbed"
        );
    }

    #[tokio::test]
    async fn a_rebuild_from_stored_history_equals_the_live_view_and_history_answers_as_of() {
        let batch: Value = serde_json::from_str(SAMPLE).unwrap();
        let mut stored: Vec<SerializedEvent> = batch["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| stored_event(&r["dynamodb"]["NewImage"]).unwrap())
            .collect();
        stored.reverse();
        let live = views::router(View::Summary, views());
        let bodies = sample_envelopes().iter().map(|e| e.to_json()).collect();
        deliver(&live, bodies, 1).await;
        let rebuilt = MemorySequencedStore::default();
        assert_eq!(
            views::rebuild_summary(&rebuilt, stored.clone())
                .await
                .unwrap(),
            3
        );
        assert_eq!(rebuilt.get("w-1"), live.state().summary.get("w-1"));
        assert_eq!(views::as_of(stored.clone(), 2).unwrap().balance, 500);
        let now = views::as_of(stored.clone(), 3).unwrap();
        assert_eq!((now.balance, now.currency.as_str()), (300, "EUR"));
        assert_eq!(views::as_of(stored, 0).unwrap(), Wallet::default());
    }

    #[tokio::test]
    async fn an_event_this_code_does_not_read_fails_to_the_dlq_naming_it() {
        let mut unknown = sample_envelopes().remove(0);
        unknown.schemaversion = "3".into();
        let summary = views::router(View::Summary, views());
        let answer = summary
            .handle(sqs(&[unknown.to_json()]), None)
            .await
            .unwrap();
        assert_eq!(answer["batchItemFailures"].as_array().unwrap().len(), 1);
        assert!(summary.state().summary.get("w-1").is_none());
    }

    fn command(wallet: Option<&str>, data: Value) -> Envelope {
        let mut e = Envelope::new("eventkit.shop", COMMAND, data);
        e.subject = wallet.map(str::to_owned);
        e
    }

    #[tokio::test]
    async fn commands_run_once_per_envelope_and_a_refusal_fails_its_record() {
        let store = MemStore::<Wallet>::default();
        let cqrs = CqrsFramework::new(store.clone(), vec![], ());
        let router = commands::router(
            EventSourced {
                cqrs,
                history: store.clone(),
            },
            MemoryIdempotencyStore::default(),
        );
        let open = command(
            Some("w-9"),
            json!({"command": "open", "customer": "c-9", "currency": "EUR"}),
        );
        let credit = command(
            Some("w-9"),
            json!({"command": "credit", "amount": 70, "reference": "p-1"}),
        );
        let too_much = command(
            Some("w-9"),
            json!({"command": "debit", "amount": 71, "reference": null}),
        );
        let nameless = command(None, json!({"command": "close"}));
        let unknown = command(Some("w-9"), json!({"command": "ship"}));
        for batch in [
            vec![open.to_json()],
            vec![credit.to_json(), credit.to_json()],
        ] {
            let answer = router.handle(sqs(&batch), None).await.unwrap();
            assert_eq!(answer["batchItemFailures"], json!([]));
        }
        let answer = router
            .handle(
                sqs(&[too_much.to_json(), nameless.to_json(), unknown.to_json()]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            answer["batchItemFailures"].as_array().unwrap().len(),
            3,
            "{answer}"
        );
        let events = store.load_events("w-9").await.unwrap();
        assert_eq!(
            events.len(),
            2,
            "opened and one credit: the duplicate ran once"
        );
        assert_eq!(
            events[1].payload,
            WalletEvent::Credited {
                amount: 70,
                balance: 70,
                reference: Some("p-1".into())
            }
        );
        assert_eq!(events[1].metadata["causationid"], credit.id);
        assert_eq!(events[1].metadata["correlationid"], credit.correlation_id);
    }

    /// Loses the race `losses` times, then commits.
    struct Racing(std::sync::Mutex<usize>);

    #[async_trait::async_trait]
    impl Commands for Racing {
        async fn execute(
            &self,
            _: &str,
            _: WalletCommand,
            _: HashMap<String, String>,
        ) -> Result<(), cqrs_es::AggregateError<WalletError>> {
            let mut losses = self.0.lock().unwrap();
            if *losses == 0 {
                return Ok(());
            }
            *losses -= 1;
            Err(cqrs_es::AggregateError::AggregateConflict)
        }

        async fn caused(&self, _: &str, _: &str) -> Result<bool, String> {
            Ok(false)
        }
    }

    /// Commits the command, then answers as if it had lost the race (a commit whose answer
    /// was lost and whose SDK retry found the sequence taken).
    #[derive(Default)]
    struct AnswerLost {
        causes: std::sync::Mutex<Vec<String>>,
        commits: std::sync::Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl Commands for AnswerLost {
        async fn execute(
            &self,
            _: &str,
            _: WalletCommand,
            metadata: HashMap<String, String>,
        ) -> Result<(), cqrs_es::AggregateError<WalletError>> {
            *self.commits.lock().unwrap() += 1;
            self.causes
                .lock()
                .unwrap()
                .push(metadata["causationid"].clone());
            Err(cqrs_es::AggregateError::AggregateConflict)
        }

        async fn caused(&self, _: &str, command_id: &str) -> Result<bool, String> {
            Ok(self.causes.lock().unwrap().iter().any(|c| c == command_id))
        }
    }

    #[tokio::test]
    async fn a_commit_whose_answer_was_lost_is_not_committed_again() {
        let lost = AnswerLost::default();
        let metadata = HashMap::from([("causationid".to_owned(), "cmd-1".to_owned())]);
        commands::execute(&lost, "w-1", WalletCommand::Close, metadata)
            .await
            .unwrap();
        assert_eq!(*lost.commits.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_command_whose_idempotency_record_was_lost_is_not_run_again() {
        let store = MemStore::<Wallet>::default();
        let open = command(
            Some("w-8"),
            json!({"command": "open", "customer": "c-8", "currency": "EUR"}),
        );
        let credit = command(
            Some("w-8"),
            json!({"command": "credit", "amount": 5, "reference": null}),
        );
        // Each delivery with a fresh idempotency store: the record of the first is gone,
        // as when an invocation timed out between the commit and the record's completion.
        for body in [open.to_json(), credit.to_json(), credit.to_json()] {
            let router = commands::router(
                EventSourced {
                    cqrs: CqrsFramework::new(store.clone(), vec![], ()),
                    history: store.clone(),
                },
                MemoryIdempotencyStore::default(),
            );
            let answer = router.handle(sqs(&[body]), None).await.unwrap();
            assert_eq!(answer["batchItemFailures"], json!([]));
        }
        let events = store.load_events("w-8").await.unwrap();
        assert_eq!(events.len(), 2, "opened and one credit: {events:?}");
    }

    #[tokio::test]
    async fn a_lost_race_is_retried_on_fresh_state_and_named_when_it_keeps_losing() {
        let close = || WalletCommand::Close;
        let twice = Racing(std::sync::Mutex::new(2));
        commands::execute(&twice, "w-1", close(), HashMap::new())
            .await
            .unwrap();
        let always = Racing(std::sync::Mutex::new(usize::MAX));
        let e = commands::execute(&always, "w-1", close(), HashMap::new())
            .await
            .unwrap_err();
        assert!(matches!(e, CommandError::Conflict { .. }), "{e}");
    }
}

#[tokio::test]
async fn the_sample_commands_run_and_the_overdraft_is_refused() {
    use cqrs_es::mem_store::MemStore;
    let text = include_str!("../../../events/wallet/sqs-commands.json");
    let store = MemStore::<Wallet>::default();
    let router = commands::router(
        commands::EventSourced {
            cqrs: CqrsFramework::new(store.clone(), vec![], ()),
            history: store.clone(),
        },
        eventkit::idempotency::MemoryIdempotencyStore::default(),
    );
    let answer = router
        .handle(serde_json::from_str(text).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "m-4"}])
    );
    let events = store.load_events("w-2").await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2].payload,
        WalletEvent::Debited {
            amount: 400,
            balance: 1100,
            reference: Some("pay-2".into())
        }
    );
}

#[test]
fn published_payloads_read_as_their_contracts() {
    use eventkit_contracts::wallets::{WalletClosed, WalletMovement, WalletOpened};
    let batch: DynamoDbEvent = serde_json::from_str(SAMPLE).unwrap();
    let mut envelopes: Vec<Envelope> = batch
        .records
        .iter()
        .map(|r| stored_envelope(r).unwrap())
        .collect();
    let closed = crate::views::statement_line(&WalletEvent::Closed {});
    assert!(closed.is_none());
    let mut last = envelopes.pop().unwrap();
    last.event_type = CLOSED.into();
    last.data = Some(json!({}));
    envelopes.push(last);
    for e in &envelopes {
        let data = e.data.clone().unwrap();
        let back = match e.event_type.as_str() {
            OPENED => {
                serde_json::to_value(serde_json::from_value::<WalletOpened>(data.clone()).unwrap())
            }
            CREDITED | DEBITED => serde_json::to_value(
                serde_json::from_value::<WalletMovement>(data.clone()).unwrap(),
            ),
            CLOSED => {
                serde_json::to_value(serde_json::from_value::<WalletClosed>(data.clone()).unwrap())
            }
            other => panic!("{other}"),
        }
        .unwrap();
        assert_eq!(
            back, data,
            "{} round-trips through its contract",
            e.event_type
        );
        assert!(crate::views::event_of(e).is_ok());
    }
}

#[test]
fn the_relay_skips_only_what_it_declares_and_names_what_an_unreadable_event_holds() {
    use eventkit::stream::Read;
    let sample: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let record = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut r = sample["Records"][0].clone();
        edit(&mut r);
        serde_json::from_value::<aws_lambda_events::event::dynamodb::EventRecord>(r).unwrap()
    };
    let reader = reader();
    assert_eq!(reader.skips(), ["MODIFY", "REMOVE"]);
    let modify = record(&|r| r["eventName"] = json!("MODIFY"));
    assert!(matches!(reader.read(&modify), Read::Skipped("MODIFY")));
    // The payload written as a string, not the binary dynamo-es writes.
    let string_payload = record(&|r| r["dynamodb"]["NewImage"]["Payload"] = json!({"S": "{}"}));
    let Read::Envelope(Err(e)) = reader.read(&string_payload) else {
        panic!("read")
    };
    let text = e.to_string();
    assert!(
        text.contains("`Payload`") && text.contains("a string (S), expected a binary (B)"),
        "{text}"
    );
    let no_type = record(&|r| {
        r["dynamodb"]["NewImage"]
            .as_object_mut()
            .unwrap()
            .remove("EventType");
    });
    let Read::Envelope(Err(e)) = reader.read(&no_type) else {
        panic!("read")
    };
    assert!(
        e.to_string().contains("`EventType`") && e.to_string().contains("missing"),
        "{e}"
    );
}
