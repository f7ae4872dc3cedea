//! DynamoDB adapters: the event store (`dynamo-es` with the upcasters), the statement
//! table, and reading stored history for a rebuild or a temporal query.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use base64::Engine as _;
use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use cqrs_es::CqrsFramework;
use dynamo_es::DynamoEventRepository;
use eventkit::aws::dynamodb::to_attribute;
use eventkit::idempotency::StoreError;
use serde_json::{json, Map, Value};

use crate::commands::{EventSourced, RecentCauses};
use crate::views::StatementStore;
use crate::{stored_event, upcasters, Wallet, META_CAUSATION};

/// The event store over the event table (`dynamo-es` layout), reading through the upcasters.
pub type WalletStore = PersistedEventStore<DynamoEventRepository, Wallet>;

/// The framework over the event table (`dynamo-es` layout), reading through the upcasters.
pub type WalletCqrs = CqrsFramework<Wallet, WalletStore>;

/// The event store over `events`, with a snapshot of each wallet in `snapshots` every
/// `snapshot_every` events (0: none, every load replays the whole history). A load reads
/// every page of the wallet's events with consistent reads (`dynamo-es` as patched in
/// `vendor/dynamo-es`).
pub fn event_store(
    client: Client,
    events: &str,
    snapshots: &str,
    snapshot_every: usize,
) -> WalletStore {
    let repo = DynamoEventRepository::new(client).with_tables(events, snapshots);
    let store = if snapshot_every == 0 {
        PersistedEventStore::new_event_store(repo)
    } else {
        PersistedEventStore::new_snapshot_store(repo, snapshot_every)
    };
    store.with_upcasters(upcasters())
}

/// The command side over [`event_store`].
pub fn cqrs(client: Client, events: &str, snapshots: &str, snapshot_every: usize) -> WalletCqrs {
    CqrsFramework::new(
        event_store(client, events, snapshots, snapshot_every),
        vec![],
        (),
    )
}

/// The command side with its guard against running a command twice: the framework and a
/// reader of the same event table's latest events.
pub fn commands(
    client: Client,
    events: &str,
    snapshots: &str,
    snapshot_every: usize,
) -> EventSourced<WalletStore, DynamoHistory> {
    EventSourced {
        cqrs: cqrs(client.clone(), events, snapshots, snapshot_every),
        history: DynamoHistory {
            client,
            table: events.to_owned(),
        },
    }
}

/// A wallet's latest events in the event table: one query, newest first, bounded.
#[derive(Debug, Clone)]
pub struct DynamoHistory {
    client: Client,
    table: String,
}

#[async_trait]
impl RecentCauses for DynamoHistory {
    async fn recent_causes(&self, wallet: &str, limit: usize) -> Result<Vec<String>, String> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("AggregateTypeAndId = :id")
            .expression_attribute_values(":id", AttributeValue::S(format!("wallet:{wallet}")))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("query recent events", e).to_string())?;
        out.items()
            .iter()
            .map(|item| {
                let event = stored_event(&item_json(item)).map_err(|e| e.to_string())?;
                Ok(event
                    .metadata
                    .get(META_CAUSATION)
                    .and_then(Value::as_str)
                    .map(str::to_owned))
            })
            .filter_map(Result::transpose)
            .collect()
    }
}

/// The statement table: `pk` = wallet, `sequence` (N) the sort key.
#[derive(Debug, Clone)]
pub struct DynamoStatement {
    client: Client,
    table: String,
}

impl DynamoStatement {
    /// A statement on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStatement {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl StatementStore for DynamoStatement {
    async fn add_line(
        &self,
        wallet: &str,
        sequence: i64,
        event_id: &str,
        line: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(wallet.to_owned()))
            .item("sequence", AttributeValue::N(sequence.to_string()))
            .item("event_id", AttributeValue::S(event_id.to_owned()))
            .condition_expression("attribute_not_exists(pk)");
        for (k, v) in line {
            put = put.item(k, to_attribute(v));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::new("add_line", e)),
        }
    }
}

/// An item as DynamoDB JSON (`{"S": ..}`, `{"N": ..}`, `{"B": base64}`), the shape a
/// stream record has, so one reader serves both.
fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    let mut out = Map::new();
    for (k, v) in item {
        let value = match v {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::B(b) => {
                json!({"B": base64::engine::general_purpose::STANDARD.encode(b.as_ref())})
            }
            _ => continue,
        };
        out.insert(k.clone(), value);
    }
    Value::Object(out)
}

/// Every stored event (a scan), or one wallet's (a query), as stored: not upcast.
pub async fn stored_events(
    client: &Client,
    table: &str,
    wallet: Option<&str>,
) -> Result<Vec<SerializedEvent>, StoreError> {
    let mut events = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let (items, next) = match wallet {
            Some(w) => {
                let out = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("AggregateTypeAndId = :id")
                    .expression_attribute_values(":id", AttributeValue::S(format!("wallet:{w}")))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| StoreError::new("query events", e))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
            None => {
                let out = client
                    .scan()
                    .table_name(table)
                    .consistent_read(true)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| StoreError::new("scan events", e))?;
                (out.items.unwrap_or_default(), out.last_evaluated_key)
            }
        };
        for item in &items {
            events.push(
                stored_event(&item_json(item)).map_err(|e| StoreError::new("read event", e))?,
            );
        }
        match next {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(events),
        }
    }
}

/// Creates an empty summary table (`pk` the wallet), e.g. to rebuild into; returns once it
/// is `ACTIVE` (on AWS a new table takes seconds to accept writes; an emulator's at once).
pub async fn create_summary_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let build = |e| StoreError::new("create_summary_table", e);
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| StoreError::new("create_summary_table", e))?;
    aws_sdk_dynamodb::client::Waiters::wait_until_table_exists(client)
        .table_name(name)
        .wait(std::time::Duration::from_secs(300))
        .await
        .map_err(|e| StoreError::new("create_summary_table: wait until active", e))?;
    Ok(())
}
