//! Duplicates and reordering at volume, through the real consumers' routers on LocalStack's
//! DynamoDB: 2,000 events, 30% of them delivered twice, all in a shuffled order, in SQS
//! batches of 10 with failed records redelivered as SQS would (a record failing
//! `maxReceiveCount` times counts as dead-lettered). Every effect must land once and every
//! view must equal a reference computed from the events alone.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use customer_views::aws::{DynamoCallbackCounter, NoSource};
use customer_views::Replica;
use eventkit::aws::dynamodb::{DynamoIdempotencyStore, DynamoStateStore};
use eventkit::{Envelope, Router};
use eventkit_contracts::customers::{Profile, PROFILE_UPDATED, SOURCE};
use eventkit_contracts::ledger::{Entry, ENTRY_POSTED};
use eventkit_e2e::{create_table, require_localstack, unique};
use p2p_consumer::dynamodb::DynamoLedger;
use p2p_consumer::Ledger;
use serde_json::json;

const EVENTS: usize = 2_000;
/// Duplicated deliveries, as a share of `EVENTS`.
const DUPLICATES: usize = EVENTS * 3 / 10;
/// The queues' `maxReceiveCount`.
const MAX_RECEIVES: usize = 3;

/// A fixed-seed shuffle (xorshift64*), so a failure replays the same order.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let j = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// `events` plus every `stride`-th one again, shuffled.
fn deliveries(events: &[Envelope], seed: u64) -> Vec<Envelope> {
    let stride = events.len() / DUPLICATES;
    let mut all: Vec<Envelope> = events.to_vec();
    all.extend(events.iter().step_by(stride).take(DUPLICATES).cloned());
    shuffle(&mut all, seed);
    all
}

/// What a queue did with the deliveries.
#[derive(Debug, Default)]
struct Drained {
    receives: usize,
    redelivered: usize,
    dead_lettered: Vec<String>,
}

/// Feeds `deliveries` to `router` in batches of 10 as SQS would: a failed record goes back
/// to the end of the queue until it succeeds or has been received `MAX_RECEIVES` times.
async fn drain<S: Send + Sync + 'static>(router: &Router<S>, deliveries: Vec<Envelope>) -> Drained {
    let mut queue: VecDeque<(String, String, usize)> = deliveries
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("m-{i}"), e.to_json(), 0))
        .collect();
    let mut drained = Drained::default();
    while !queue.is_empty() {
        let batch: Vec<_> = (0..10).filter_map(|_| queue.pop_front()).collect();
        let mut event = SqsEvent::default();
        event.records = batch
            .iter()
            .map(|(id, body, receives)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(id.clone());
                m.body = Some(body.clone());
                m.attributes
                    .insert("ApproximateReceiveCount".into(), (receives + 1).to_string());
                m
            })
            .collect();
        drained.receives += batch.len();
        let response = router
            .handle_sqs(event, Some(Duration::from_secs(30)))
            .await;
        for failure in response.batch_item_failures {
            let (id, body, receives) = batch
                .iter()
                .find(|(id, ..)| *id == failure.item_identifier)
                .cloned()
                .expect("a failure names a record of the batch");
            if receives + 1 >= MAX_RECEIVES {
                drained.dead_lettered.push(id);
            } else {
                drained.redelivered += 1;
                queue.push_back((id, body, receives + 1));
            }
        }
    }
    drained
}

#[tokio::test]
async fn ledger_entries_duplicated_and_shuffled_are_each_posted_once() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let (ledger_table, records) = (
        create_table(&dynamodb, "pk").await?,
        create_table(&dynamodb, "id").await?,
    );
    let ledger = DynamoLedger::new(dynamodb.clone(), &ledger_table, &records);
    let accounts: Vec<String> = (0..20).map(|_| unique("acc")).collect();
    for account in &accounts {
        ledger.open(account).await?;
    }
    let router = p2p_consumer::router(
        ledger,
        DynamoIdempotencyStore::new(dynamodb.clone(), &records),
    );
    let events: Vec<Envelope> = (0..EVENTS)
        .map(|i| {
            let entry = Entry {
                account: accounts[i % accounts.len()].clone(),
                amount: i as i64 + 1,
            };
            Envelope::new("eventkit.demo", ENTRY_POSTED, json!(entry))
        })
        .collect();
    // The reference: each distinct entry once.
    let mut reference: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (i, account) in (0..EVENTS).map(|i| (i, &accounts[i % accounts.len()])) {
        let totals = reference.entry(account).or_default();
        totals.0 += i as i64 + 1;
        totals.1 += 1;
    }

    let drained = drain(&router, deliveries(&events, 0x5eed)).await;
    println!("ledger: {EVENTS} events + {DUPLICATES} duplicates -> {drained:?}");
    assert!(drained.dead_lettered.is_empty(), "{drained:?}");
    for account in &accounts {
        let item = dynamodb
            .get_item()
            .table_name(&ledger_table)
            .key(
                "pk",
                AttributeValue::S(p2p_consumer::dynamodb::account_key(account)),
            )
            .consistent_read(true)
            .send()
            .await?;
        let number = |name: &str| -> anyhow::Result<i64> {
            Ok(item
                .item()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_n().ok())
                .ok_or_else(|| anyhow::anyhow!("{account} has no {name}"))?
                .parse()?)
        };
        assert_eq!(
            (number("balance")?, number("entries")?),
            reference[account.as_str()],
            "{account}: (balance, entries) against the events"
        );
    }
    Ok(())
}

#[tokio::test]
async fn profile_updates_duplicated_and_shuffled_leave_each_replica_at_its_newest(
) -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb, "pk").await?;
    let router = customer_views::router(Replica {
        view: DynamoStateStore::new(dynamodb.clone(), &table),
        source: NoSource,
        counter: DynamoCallbackCounter::new(dynamodb.clone(), &table),
    });
    // 200 customers, 10 versions each, every version a different profile.
    let customers: Vec<String> = (0..200).map(|_| unique("cust")).collect();
    let versions = EVENTS / customers.len();
    let profile = |customer: &str, version: usize| Profile {
        customer_id: customer.to_owned(),
        name: format!("{customer} v{version}"),
        email: format!("{version}@example.com"),
        tier: ["bronze", "silver", "gold"][version % 3].into(),
        version: version as i64,
    };
    let events: Vec<Envelope> = customers
        .iter()
        .flat_map(|c| (1..=versions).map(move |v| (c, v)))
        .map(|(customer, version)| {
            let mut e = Envelope::new(SOURCE, PROFILE_UPDATED, json!(profile(customer, version)))
                .with_subject(customer.clone());
            e.extensions
                .insert("sequence".into(), json!(version.to_string()));
            e
        })
        .collect();

    let drained = drain(&router, deliveries(&events, 0xfeed)).await;
    println!("replica: {EVENTS} events + {DUPLICATES} duplicates -> {drained:?}");
    assert!(drained.dead_lettered.is_empty(), "{drained:?}");
    // The reference: each customer's newest profile, whatever the order of arrival.
    let mut seen: HashMap<String, Profile> = HashMap::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(&table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(state))) =
                (item.get("pk"), item.get("state"))
            else {
                continue;
            };
            seen.insert(pk.clone(), serde_json::from_str(state)?);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    for customer in &customers {
        assert_eq!(
            seen.get(customer),
            Some(&profile(customer, versions)),
            "{customer}: the replica against the newest event"
        );
    }
    Ok(())
}
