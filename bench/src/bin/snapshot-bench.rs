//! `make bench` (event sourcing): loading a wallet of 10, 100 and 1,000 events from the
//! event store alone (a query of every event, each upcast and applied) and from the
//! snapshot store (the latest snapshot, then the events after it), on LocalStack's
//! DynamoDB. Snapshots every 10 events, as the bench writes them. Median of 20 loads.

use std::time::Instant;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use dynamo_es::DynamoEventRepository;
use eventkit_testkit::{median, require_localstack, unique};
use wallet::{upcasters, Wallet, WalletEvent};

const LOADS: usize = 20;
const SNAPSHOT_EVERY: usize = 10;

async fn table(dynamodb: &aws_sdk_dynamodb::Client, range: Option<&str>) -> anyhow::Result<String> {
    let name = unique("bench-wallet");
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
    Ok(name)
}

async fn load_ms<ES: EventStore<Wallet>>(
    store: &ES,
    id: &str,
    balance: i64,
) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        let start = Instant::now();
        let context = store.load_aggregate(id).await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let mut context = context;
        let wallet = cqrs_es::AggregateContext::aggregate(&mut context);
        anyhow::ensure!(
            wallet.balance == balance,
            "loaded balance {} != {balance}",
            wallet.balance
        );
    }
    Ok(median(&times))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let events = table(&dynamodb, Some("AggregateIdSequence")).await?;
    let snapshots = table(&dynamodb, None).await?;
    let repo = || DynamoEventRepository::new(dynamodb.clone()).with_tables(&events, &snapshots);
    let event_store =
        PersistedEventStore::<_, Wallet>::new_event_store(repo()).with_upcasters(upcasters());
    let snapshot_store =
        PersistedEventStore::<_, Wallet>::new_snapshot_store(repo(), SNAPSHOT_EVERY)
            .with_upcasters(upcasters());
    println!("Loading a wallet: event store alone vs snapshot store (a snapshot every {SNAPSHOT_EVERY} events), LocalStack DynamoDB, median of {LOADS} loads");
    println!("| events | event store | snapshot store | event store / snapshot store |");
    println!("|---|---|---|---|");
    for n in [10usize, 100, 1000] {
        let id = unique("w-bench");
        // Written through the snapshot store, 10 events a commit (one transaction each,
        // within DynamoDB's 25 items), so its snapshots are taken as a live wallet's would be.
        let mut balance = 0i64;
        let mut written = 0;
        while written < n {
            let context = snapshot_store.load_aggregate(&id).await?;
            let batch: Vec<WalletEvent> = (written..(written + SNAPSHOT_EVERY).min(n))
                .map(|i| {
                    if i == 0 {
                        WalletEvent::Opened {
                            customer: "c-bench".into(),
                            currency: "EUR".into(),
                        }
                    } else {
                        balance += 1;
                        WalletEvent::Credited {
                            amount: 1,
                            balance,
                            reference: None,
                        }
                    }
                })
                .collect();
            written += batch.len();
            snapshot_store
                .commit(batch, context, Default::default())
                .await?;
        }
        let full = load_ms(&event_store, &id, balance).await?;
        let snap = load_ms(&snapshot_store, &id, balance).await?;
        println!(
            "| {n} | {full:.2} ms | {snap:.2} ms | {:.1}x |",
            full / snap
        );
    }
    for t in [&events, &snapshots] {
        dynamodb.delete_table().table_name(t).send().await?;
    }
    Ok(())
}
