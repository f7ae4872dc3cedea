//! The event-sourced wallet on the deployed stack: an opening stored by 1.0 code read
//! through the upcaster; commands by queue into the event store (cqrs-es on DynamoDB);
//! the store's stream relayed to the bus and into two read models; a lost race on one
//! wallet; a refused command in the DLQ with its reason; a rebuild of the summary from the
//! store equal to the live one; and the wallet as of an earlier sequence.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use cqrs_es::{AggregateError, EventStore};
use eventkit::aws::dynamodb::{item_to_json, DynamoSequencedStore};
use eventkit::Envelope;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};
use serde_json::{json, Value};
use wallet::views;
use wallet::WalletEvent;

const DEADLINE: Duration = Duration::from_secs(90);

async fn send_command(stack: &Stack, wallet: &str, data: Value) -> anyhow::Result<Envelope> {
    let mut command = Envelope::new("eventkit.shop", wallet::commands::COMMAND, data);
    command.subject = Some(wallet.to_owned());
    stack
        .send_raw("WalletCommandsQueueUrl", &command.to_json())
        .await?;
    Ok(command)
}

/// What 1.0 code stored for an opening: no currency.
async fn store_v1_opening(stack: &Stack, wallet: &str, customer: &str) -> anyhow::Result<()> {
    let blob = |v: Value| AttributeValue::B(Blob::new(serde_json::to_vec(&v).unwrap()));
    let s = |v: &str| AttributeValue::S(v.to_owned());
    stack
        .dynamodb
        .put_item()
        .table_name(stack.output("WalletEventsTableName")?)
        .item("AggregateTypeAndId", s(&format!("wallet:{wallet}")))
        .item("AggregateIdSequence", AttributeValue::N("1".into()))
        .item("AggregateType", s("wallet"))
        .item("AggregateId", s(wallet))
        .item("EventType", s(wallet::OPENED))
        .item("EventVersion", s("1.0"))
        .item("Payload", blob(json!({"Opened": {"customer": customer}})))
        .item(
            "Metadata",
            blob(
                json!({"correlationid": format!("corr-{wallet}"), "causationid": "legacy-import"}),
            ),
        )
        .send()
        .await?;
    Ok(())
}

async fn scan(
    stack: &Stack,
    table: &str,
) -> anyhow::Result<BTreeMap<String, serde_json::Map<String, Value>>> {
    let mut items = BTreeMap::new();
    let mut start = None;
    loop {
        let out = stack
            .dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in out.items() {
            let json = item_to_json(item);
            let pk = json["pk"].as_str().unwrap_or_default().to_owned();
            items.insert(pk, json);
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(items),
        }
    }
}

#[tokio::test]
async fn a_wallets_events_are_its_state_its_read_models_and_their_rebuild() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let w = unique("w");
    let customer = unique("cust");
    store_v1_opening(&stack, &w, &customer).await?;
    // The command side loads the 1.0 opening through the upcaster: without it the wallet
    // would not read, and every command would fail.
    let credit = send_command(
        &stack,
        &w,
        json!({"command": "credit", "amount": 1500, "reference": "pay-1"}),
    )
    .await?;
    send_command(
        &stack,
        &w,
        json!({"command": "debit", "amount": 400, "reference": "pay-2"}),
    )
    .await?;
    send_command(
        &stack,
        &w,
        json!({"command": "credit", "amount": 250, "reference": null}),
    )
    .await?;
    let overdraft = send_command(
        &stack,
        &w,
        json!({"command": "debit", "amount": 1_000_000, "reference": "pay-9"}),
    )
    .await?;

    let summary = stack
        .wait_for_item(
            "WalletSummaryTableName",
            &w,
            "after 3 movements",
            DEADLINE,
            |i| i.get("sequence") == Some(&json!(4)),
        )
        .await?;
    assert_eq!(
        (
            &summary["customer"],
            &summary["currency"],
            &summary["balance"],
            &summary["status"]
        ),
        (
            &json!(customer),
            &json!("EUR"),
            &json!(1350),
            &json!("open")
        ),
        "{summary:?}"
    );
    let statement_table = stack.output("WalletStatementTableName")?;
    let lines = wait_for("three statement lines", DEADLINE, || async {
        let out = stack
            .dynamodb
            .query()
            .table_name(&statement_table)
            .key_condition_expression("pk = :w")
            .expression_attribute_values(":w", AttributeValue::S(w.clone()))
            .consistent_read(true)
            .send()
            .await?;
        let lines: Vec<_> = out.items().iter().map(item_to_json).collect();
        Ok((lines.len() >= 3).then_some(lines))
    })
    .await?;
    let amounts: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|l| (&l["amount"], &l["balance"]))
        .collect();
    assert_eq!(
        amounts,
        [
            (&json!(1500), &json!(1500)),
            (&json!(-400), &json!(1100)),
            (&json!(250), &json!(1350))
        ]
    );

    // The overdraft is refused each time it is delivered, then parked with its reason.
    stack
        .wait_in_queue("WalletCommandsDlqUrl", &overdraft.id, DEADLINE)
        .await?;
    stack
        .wait_for_log_lines(
            "WalletCommandsFunctionName",
            &[&overdraft.id, "insufficient funds"],
            1,
            DEADLINE,
        )
        .await?;

    // The stored events are the history: the credit's metadata is its command's
    // conversation, and the wallet as it was after sequence 2.
    let dynamodb = stack.dynamodb.clone();
    let events_table = stack.output("WalletEventsTableName")?;
    let stored = wallet::dynamodb::stored_events(&dynamodb, &events_table, Some(&w)).await?;
    assert_eq!(stored.len(), 4, "no event lost or doubled");
    assert_eq!(stored[1].metadata["causationid"], json!(credit.id));
    assert_eq!(views::as_of(stored.clone(), 2)?.balance, 1500);
    assert_eq!(views::as_of(stored, 4)?.balance, 1350);

    // Two writers load the same state of a new wallet; the second commit loses.
    let race = unique("w-race");
    let store = cqrs_es::persist::PersistedEventStore::<_, wallet::Wallet>::new_event_store(
        dynamo_es::DynamoEventRepository::new(dynamodb.clone())
            .with_tables(&events_table, &format!("{events_table}-snapshots")),
    );
    let first = store.load_aggregate(&race).await?;
    let second = store.load_aggregate(&race).await?;
    let opened = |currency: &str| WalletEvent::Opened {
        customer: customer.clone(),
        currency: currency.to_owned(),
    };
    store
        .commit(vec![opened("EUR")], first, HashMap::new())
        .await?;
    let lost = store
        .commit(vec![opened("USD")], second, HashMap::new())
        .await;
    assert!(
        matches!(lost, Err(AggregateError::AggregateConflict)),
        "{lost:?}"
    );
    let raced = store.load_events(&race).await?;
    assert_eq!(raced.len(), 1);
    assert_eq!(raced[0].payload, opened("EUR"));
    // The winner's state is what commands see next: close it (its balance is 0).
    send_command(&stack, &race, json!({"command": "close"})).await?;
    let closed = stack
        .wait_for_item("WalletSummaryTableName", &race, "closed", DEADLINE, |i| {
            i.get("status") == Some(&json!("closed"))
        })
        .await?;
    assert_eq!(closed["currency"], json!("EUR"));

    // A rebuild of the summary from the whole store, into a new table, equals the live one.
    let rebuilt = unique("wallet-summary-rebuild");
    wallet::dynamodb::create_summary_table(&dynamodb, &rebuilt).await?;
    let history = wallet::dynamodb::stored_events(&dynamodb, &events_table, None).await?;
    let wallets: std::collections::BTreeSet<String> =
        history.iter().map(|e| e.aggregate_id.clone()).collect();
    views::rebuild_summary(
        &DynamoSequencedStore::new(dynamodb.clone(), &rebuilt),
        history,
    )
    .await?;
    // The live view of every wallet in the store (a sample relayed by hand adds items no
    // stored history backs).
    let mut live = scan(&stack, &stack.output("WalletSummaryTableName")?).await?;
    live.retain(|pk, _| wallets.contains(pk));
    let again = scan(&stack, &rebuilt).await?;
    stack
        .dynamodb
        .delete_table()
        .table_name(&rebuilt)
        .send()
        .await?;
    assert!(again.contains_key(&w) && again.contains_key(&race));
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        wallets.iter().collect::<Vec<_>>(),
        "every stored wallet rebuilt"
    );
    assert_eq!(again, live, "the rebuilt summary is the live one");
    Ok(())
}

/// The envelopes the relay would publish for a wallet that is not in the store: stored
/// events made by hand, through the same code.
fn published(wallet: &str, events: &[WalletEvent]) -> Vec<Envelope> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let stored = cqrs_es::persist::SerializedEvent {
                aggregate_id: wallet.to_owned(),
                sequence: i + 1,
                aggregate_type: "wallet".into(),
                event_type: cqrs_es::DomainEvent::event_type(e),
                event_version: cqrs_es::DomainEvent::event_version(e),
                payload: serde_json::to_value(e).unwrap(),
                metadata: json!({"correlationid": format!("corr-{wallet}")}),
            };
            wallet::envelope_of(stored).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_read_models_absorb_duplicated_and_reordered_deliveries() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let w = unique("w-reorder");
    let movement = |amount: i64, balance: i64| WalletEvent::Credited {
        amount,
        balance,
        reference: None,
    };
    let history = [
        WalletEvent::Opened {
            customer: "cust-reorder".into(),
            currency: "EUR".into(),
        },
        movement(100, 100),
        WalletEvent::Debited {
            amount: 30,
            balance: 70,
            reference: Some("pay-r".into()),
        },
        movement(5, 75),
    ];
    // Last first, each twice, straight onto both read models' queues.
    let envelopes = published(&w, &history);
    for queue in ["WalletSummaryQueueUrl", "WalletStatementQueueUrl"] {
        for e in envelopes.iter().rev().chain(envelopes.iter().rev()) {
            stack.send_raw(queue, &e.to_json()).await?;
        }
    }
    // Early events fail and come back after the visibility timeout until the gap fills.
    let summary = stack
        .wait_for_item(
            "WalletSummaryTableName",
            &w,
            "all 4 events",
            DEADLINE,
            |i| i.get("sequence") == Some(&json!(4)),
        )
        .await?;
    assert_eq!(
        (
            &summary["balance"],
            &summary["status"],
            &summary["event_id"]
        ),
        (&json!(75), &json!("open"), &json!(envelopes[3].id))
    );
    // Every copy was handled: 4 applied, 4 absorbed as duplicates.
    stack
        .wait_for_log_lines("WalletSummaryFunctionName", &[&w, "duplicate"], 4, DEADLINE)
        .await?;
    stack
        .wait_for_log_lines(
            "WalletStatementFunctionName",
            &[&w, "\"added\":false"],
            3,
            DEADLINE,
        )
        .await?;
    let statement_table = stack.output("WalletStatementTableName")?;
    let out = stack
        .dynamodb
        .query()
        .table_name(&statement_table)
        .key_condition_expression("pk = :w")
        .expression_attribute_values(":w", AttributeValue::S(w.clone()))
        .consistent_read(true)
        .send()
        .await?;
    let lines: Vec<(Value, Value)> = out
        .items()
        .iter()
        .map(item_to_json)
        .map(|l| (l["sequence"].clone(), l["amount"].clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (json!(2), json!(100)),
            (json!(3), json!(-30)),
            (json!(4), json!(5))
        ],
        "one line a movement, in sequence"
    );
    let after = stack.item("WalletSummaryTableName", &w).await?;
    assert_eq!(after.as_ref(), Some(&summary), "duplicates changed nothing");
    Ok(())
}
