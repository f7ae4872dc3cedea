//! The wallet's event store (`cqrs-es` on `dynamo-es`, as patched in `vendor/dynamo-es`) on
//! LocalStack's DynamoDB, in tables of its own: a wallet whose history is more than one
//! `Query` page (1 MB) loads whole, from its events alone and from a snapshot, every read
//! of a load is consistent, and a command right after such a load commits and is seen by
//! the next load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use cqrs_es::{Aggregate, EventStore};
use eventkit_e2e::{require_localstack, unique};
use wallet::dynamodb::{cqrs, event_store, stored_events};
use wallet::{upcast, upcasters, Wallet, WalletCommand, WalletEvent};

/// The reference carried by each large credit: an event of about 250 KB, under DynamoDB's
/// 400 KB item limit.
const MEMO: usize = 250_000;
/// Large credits at the end of the history: 1.25 MB, more than one `Query` page.
const LARGE: i64 = 5;
/// Events a commit writes at most (a transaction takes 25 items, the snapshot one of them).
const COMMIT: usize = 20;

/// Each `Query` sent: its table, whether it read consistently, whether it went on from a
/// previous page.
#[derive(Debug, Clone)]
struct Sent {
    table: String,
    consistent: bool,
    next_page: bool,
}

/// Records every `Query` the client sends.
#[derive(Debug, Clone, Default)]
struct Queries(Arc<Mutex<Vec<Sent>>>);

impl Queries {
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock().expect("queries lock"))
    }
}

impl Intercept for Queries {
    fn name(&self) -> &'static str {
        "Queries"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(query) = context.input().downcast_ref::<QueryInput>() {
            self.0.lock().expect("queries lock").push(Sent {
                table: query.table_name().unwrap_or_default().to_owned(),
                consistent: query.consistent_read() == Some(true),
                next_page: query.exclusive_start_key().is_some(),
            });
        }
        Ok(())
    }
}

/// Every `Query` in `sent` read consistently: an eventually consistent one may miss the
/// latest commit (LocalStack answers every read consistently, so what is checked here is
/// what the load asked for).
fn consistent(sent: &[Sent]) -> anyhow::Result<()> {
    let eventual: Vec<&Sent> = sent.iter().filter(|q| !q.consistent).collect();
    anyhow::ensure!(
        eventual.is_empty(),
        "{} of the {} Queries a load sent were eventually consistent, which may miss the \
         latest commit: {eventual:?}",
        eventual.len(),
        sent.len()
    );
    Ok(())
}

/// An event table and a snapshot table in the `dynamo-es` layout, as
/// `infra/patterns/event-sourcing.yaml` declares them (no stream: nothing relays here).
async fn tables(dynamodb: &aws_sdk_dynamodb::Client) -> anyhow::Result<(String, String)> {
    let mut names = Vec::new();
    for range in [Some("AggregateIdSequence"), None] {
        let name = unique("wallet-store");
        let mut create = dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("AggregateTypeAndId")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("AggregateTypeAndId")
                    .key_type(KeyType::Hash)
                    .build()?,
            );
        if let Some(range) = range {
            create = create
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(range)
                        .attribute_type(ScalarAttributeType::N)
                        .build()?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(range)
                        .key_type(KeyType::Range)
                        .build()?,
                );
        }
        create.send().await?;
        names.push(name);
    }
    let snapshots = names.pop().expect("two tables");
    let events = names.pop().expect("two tables");
    Ok((events, snapshots))
}

/// A wallet's events as its commands decide them: opened, `small` credits of 1, 2, ...,
/// then the large credits, each with a 250 KB reference. Returns them and the state they
/// fold to.
fn history(small: i64) -> anyhow::Result<(Vec<WalletEvent>, Wallet)> {
    let memo = "m".repeat(MEMO);
    let commands = std::iter::once(WalletCommand::Open {
        customer: "c-large".into(),
        currency: "EUR".into(),
    })
    .chain((1..=small).map(|amount| WalletCommand::Credit {
        amount,
        reference: None,
    }))
    .chain((1..=LARGE).map(|i| WalletCommand::Credit {
        amount: 1_000 * i,
        reference: Some(format!("large-{i}:{memo}")),
    }));
    let mut state = Wallet::default();
    let mut events = Vec::new();
    for command in commands {
        for event in state.decide(command)? {
            state.apply(event.clone());
            events.push(event);
        }
    }
    Ok((events, state))
}

/// Writes a history of more than 1 MB to one wallet and loads it with `snapshot_every`.
async fn loads_whole(snapshot_every: usize) -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let queries = Queries::default();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(queries.clone())
            .build(),
    );
    let (events_table, snapshots_table) = tables(&dynamodb).await?;
    let store = event_store(
        dynamodb.clone(),
        &events_table,
        &snapshots_table,
        snapshot_every,
    );
    let id = unique("w-large");

    // With snapshots, the small events end at the first snapshot and every large one
    // follows it: the load reads the snapshot, then more than a page of events after it.
    let small = i64::try_from(snapshot_every.max(10))? - 1;
    let (written, expected) = history(small)?;
    let bytes: usize = written
        .iter()
        .map(|e| serde_json::to_vec(e).map(|v| v.len()))
        .sum::<Result<_, _>>()?;
    anyhow::ensure!(
        bytes > 1_000_000,
        "the history is {bytes} bytes, not over 1 MB"
    );
    // Committed as a live wallet's would be: load, then commit a batch on that context
    // (the loads here read at most the small events, whole without the fix too).
    for batch in written.chunks(COMMIT) {
        let context = store.load_aggregate(&id).await?;
        store
            .commit(batch.to_vec(), context, HashMap::new())
            .await?;
    }
    // The table holds what was written (read with the wallet's own paging reader).
    let stored = stored_events(&dynamodb, &events_table, Some(&id)).await?;
    let upcasters = upcasters();
    let stored: Vec<WalletEvent> = stored
        .into_iter()
        .map(|e| serde_json::from_value(upcast(&upcasters, e).payload))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        stored == written,
        "the table does not hold what was written"
    );
    queries.take();

    let n = written.len();
    let loaded = store.load_aggregate(&id).await?;
    anyhow::ensure!(
        loaded.current_sequence == n && loaded.aggregate == expected,
        "a wallet of {n} events ({bytes} bytes) loaded {} of them (snapshot_every {snapshot_every}): \
         balance {}, its history's {}",
        loaded.current_sequence,
        loaded.aggregate.balance,
        expected.balance
    );
    if snapshot_every > 0 {
        anyhow::ensure!(
            loaded.current_snapshot == Some(1),
            "the load did not start from the snapshot: {:?}",
            loaded.current_snapshot
        );
    }
    let all = store.load_events(&id).await?;
    anyhow::ensure!(
        all.len() == n,
        "load_events read {} of {n} events",
        all.len()
    );
    let sent = queries.take();
    anyhow::ensure!(
        sent.iter().any(|q| q.table == events_table && q.next_page),
        "no load read a second page of events, so nothing here tests paging: {sent:?}"
    );
    consistent(&sent)?;

    // A command decided on that load commits (on a partial history its event would take a
    // sequence already stored and lose the race every time), and the load right after it
    // sees it.
    let credit = 7;
    cqrs(
        dynamodb.clone(),
        &events_table,
        &snapshots_table,
        snapshot_every,
    )
    .execute_with_metadata(
        &id,
        WalletCommand::Credit {
            amount: credit,
            reference: Some("after-the-load".into()),
        },
        HashMap::new(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("a credit after a {bytes}-byte history: {e}"))?;
    let after = store.load_aggregate(&id).await?;
    anyhow::ensure!(
        after.current_sequence == n + 1 && after.aggregate.balance == expected.balance + credit,
        "the load right after the commit saw sequence {} and balance {}, not {} and {}",
        after.current_sequence,
        after.aggregate.balance,
        n + 1,
        expected.balance + credit
    );
    let sent = queries.take();
    consistent(&sent)?;
    for table in [events_table, snapshots_table] {
        dynamodb.delete_table().table_name(table).send().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_history_over_one_query_page_loads_whole_from_the_events() -> anyhow::Result<()> {
    loads_whole(0).await
}

#[tokio::test]
async fn a_history_over_one_query_page_after_a_snapshot_loads_whole() -> anyhow::Result<()> {
    loads_whole(100).await
}
