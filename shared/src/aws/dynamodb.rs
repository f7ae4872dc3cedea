//! DynamoDB adapters: the Powertools-compatible idempotency table, the state tables for
//! ordered scopes (newer-wins and in-sequence), the outbox item, and JSON <-> attribute
//! conversion.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use crate::idempotency::ordering::{
    Applied, InSequence, SequencedStore, Version, VersionedStateStore,
};
use crate::idempotency::{
    Completion, IdempotencyStore, Now, PutOutcome, Record, Status, StoreError,
};

/// Powertools' attribute names; a table shared with Python or TypeScript functions.
pub mod attr {
    /// Partition key.
    pub const ID: &str = "id";
    /// Epoch seconds; the TTL attribute.
    pub const EXPIRATION: &str = "expiration";
    /// Epoch milliseconds.
    pub const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
    /// `INPROGRESS` / `COMPLETED`.
    pub const STATUS: &str = "status";
    /// The stored response.
    pub const DATA: &str = "data";
    /// The payload hash.
    pub const VALIDATION: &str = "validation";
}

/// The idempotency table.
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    /// A store on `table` (partition key `id`, TTL on `expiration`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoIdempotencyStore {
            client,
            table: table.into(),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The outcome of a put conditioned on `attribute_not_exists(pk)`: `true` when it created
/// the item, `false` when one was already there; any other failure is a [`StoreError`]
/// named `operation`.
pub fn created<O, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<PutItemError, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::new(operation, e)),
    }
}

fn record_from_item(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let number = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    Some(Record {
        key: text(attr::ID)?,
        status: Status::parse(&text(attr::STATUS)?)?,
        expiration: number(attr::EXPIRATION)?,
        in_progress_expiration: number(attr::IN_PROGRESS_EXPIRATION),
        data: text(attr::DATA),
        validation: text(attr::VALIDATION),
    })
}

/// The key [`IdempotencyStore::prewarm`] reads: never written, so the read finds nothing.
pub const PREWARM_KEY: &str = "eventkit#prewarm";

#[async_trait]
impl IdempotencyStore for DynamoIdempotencyStore {
    // A GetItem (the grant Powertools' idempotency needs too): half a read unit per call.
    async fn prewarm(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key(attr::ID, s(PREWARM_KEY))
            .projection_expression("#id")
            .expression_attribute_names("#id", attr::ID)
            .send()
            .await
            .map_err(|e| StoreError::new("prewarm", e))?;
        Ok(())
    }

    async fn put_in_progress(&self, record: &Record, now: Now) -> Result<PutOutcome, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(attr::ID, s(&record.key))
            .item(attr::STATUS, s(Status::InProgress.as_str()))
            .item(attr::EXPIRATION, n(record.expiration))
            // The same expression Powertools uses, so mixed fleets agree on ownership.
            .condition_expression(
                "attribute_not_exists(#id) OR #expiry < :now OR \
                 (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)",
            )
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#expiry", attr::EXPIRATION)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#in_progress_expiry", attr::IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":now", n(now.secs))
            .expression_attribute_values(":now_in_millis", n(now.millis))
            .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(t) = record.in_progress_expiration {
            put = put.item(attr::IN_PROGRESS_EXPIRATION, n(t));
        }
        if let Some(v) = &record.validation {
            put = put.item(attr::VALIDATION, s(v));
        }
        match put.send().await {
            Ok(_) => Ok(PutOutcome::Acquired),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let existing = failed.item().and_then(record_from_item).ok_or_else(|| StoreError {
                        operation: "put",
                        source: format!("condition failed on `{}` but the table returned no readable record", record.key).into(),
                    })?;
                    Ok(PutOutcome::Exists(existing))
                }
                _ => Err(StoreError::new("put", e)),
            },
        }
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::ID, s(&record.key))
            .update_expression("SET #data = :data, #expiry = :expiry, #status = :status")
            .expression_attribute_names("#data", attr::DATA)
            .expression_attribute_names("#expiry", attr::EXPIRATION)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(
                ":data",
                s(record.data.clone().unwrap_or_else(|| "null".into())),
            )
            .expression_attribute_values(":expiry", n(record.expiration))
            .expression_attribute_values(":status", s(Status::Completed.as_str()));
        if let Some(v) = &record.validation {
            update = update
                .update_expression("SET #data = :data, #expiry = :expiry, #status = :status, #validation = :validation")
                .expression_attribute_names("#validation", attr::VALIDATION)
                .expression_attribute_values(":validation", s(v));
        }
        update
            .send()
            .await
            .map_err(|e| StoreError::new("complete", e))?;
        Ok(())
    }

    async fn release(&self, held: &Record) -> Result<(), StoreError> {
        let (condition, token) = held_condition(held);
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::ID, s(&held.key))
            .condition_expression(condition)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#in_progress_expiry", attr::IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()));
        if let Some(t) = token {
            delete = delete.expression_attribute_values(":held", t);
        }
        match delete.send().await {
            Ok(_) => Ok(()),
            // Taken over (or already gone): not this invocation's to delete.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::new("delete", e)),
        }
    }
}

/// The condition that `held` is still the record in the table: `INPROGRESS` with the same
/// in-progress expiry (the invocation's deadline in ms, which tells owners apart), and the
/// `:held` value it needs, if any. Uses `#status`, `#in_progress_expiry`, `:inprogress`.
fn held_condition(held: &Record) -> (&'static str, Option<AttributeValue>) {
    match held.in_progress_expiration {
        Some(t) => (
            "#status = :inprogress AND #in_progress_expiry = :held",
            Some(n(t)),
        ),
        None => (
            "#status = :inprogress AND attribute_not_exists(#in_progress_expiry)",
            None,
        ),
    }
}

/// The `COMPLETED` record of `completion` as one item of the handler's own
/// `TransactWriteItems`, so the effect and its record commit together: the attributes
/// [`DynamoIdempotencyStore::complete`] sets, on the condition that the record is still the
/// `INPROGRESS` one this invocation wrote (same status, same in-progress expiry). If an
/// invocation timed out and a retry took the record over, the transaction is cancelled with
/// `ConditionalCheckFailed` at this item: nothing was applied; fail the record, and its next
/// delivery replays the retry's response. After the transaction commits, call
/// [`Completion::committed`].
pub fn completion_write<R: serde::Serialize>(
    table: &str,
    completion: &Completion,
    response: &R,
) -> Result<TransactWriteItem, StoreError> {
    let record = completion
        .completed(response)
        .map_err(|e| StoreError::new("complete", e))?;
    let held = completion.held();
    let mut set = "SET #data = :data, #expiry = :expiry, #status = :status".to_owned();
    let mut update = Update::builder()
        .table_name(table)
        .key(attr::ID, s(&record.key))
        .expression_attribute_names("#data", attr::DATA)
        .expression_attribute_names("#expiry", attr::EXPIRATION)
        .expression_attribute_names("#status", attr::STATUS)
        .expression_attribute_names("#in_progress_expiry", attr::IN_PROGRESS_EXPIRATION)
        .expression_attribute_values(":data", s(record.data.unwrap_or_default()))
        .expression_attribute_values(":expiry", n(record.expiration))
        .expression_attribute_values(":status", s(Status::Completed.as_str()))
        .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()));
    let (condition, token) = held_condition(held);
    update = update.condition_expression(condition);
    if let Some(t) = token {
        update = update.expression_attribute_values(":held", t);
    }
    if let Some(v) = &record.validation {
        set.push_str(", #validation = :validation");
        update = update
            .expression_attribute_names("#validation", attr::VALIDATION)
            .expression_attribute_values(":validation", s(v));
    }
    let update = update
        .update_expression(set)
        .build()
        .map_err(|e| StoreError::new("complete", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Latest state per entity, written only by newer versions (partition key `pk`; attributes
/// `version` (N), `event_id` (S), `state` (S, JSON)).
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
}

impl DynamoStateStore {
    /// A state store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStateStore {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl VersionedStateStore for DynamoStateStore {
    async fn apply_if_newer(
        &self,
        scope: &str,
        version: Version,
        event_id: &str,
        state: &Value,
    ) -> Result<Applied, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(scope))
            .item("version", n(version))
            .item("event_id", s(event_id))
            .item("state", s(state.to_string()))
            .condition_expression("attribute_not_exists(#pk) OR #version < :version")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Applied::Applied),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let current = failed
                        .item()
                        .and_then(|i| i.get("version"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(version);
                    Ok(Applied::Stale { current })
                }
                _ => Err(StoreError::new("apply_if_newer", e)),
            },
        }
    }
}

/// A JSON value as a DynamoDB attribute: strings `S`, numbers `N`, booleans `BOOL`, null
/// `NULL`, arrays `L`, objects `M`.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attribute).collect()),
        Value::Object(o) => AttributeValue::M(
            o.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// A DynamoDB attribute as JSON (the inverse of [`to_attribute`]; sets become arrays,
/// binary becomes base64 text).
pub fn from_attribute(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => {
            serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.clone()))
        }
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attribute).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect(),
        ),
        AttributeValue::Ss(ss) => Value::from(ss.clone()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.clone())))
                .collect(),
        ),
        AttributeValue::B(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
        }
        _ => Value::Null,
    }
}

/// An item as a JSON object.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> serde_json::Map<String, Value> {
    item.iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect()
}

/// A read model applied in per-entity sequence (partition key `pk`; attributes `sequence`
/// (N), `event_id` (S) and the read model's own).
#[derive(Debug, Clone)]
pub struct DynamoSequencedStore {
    client: Client,
    table: String,
}

impl DynamoSequencedStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSequencedStore {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl SequencedStore for DynamoSequencedStore {
    async fn apply_in_sequence(
        &self,
        scope: &str,
        sequence: Version,
        event_id: &str,
        changes: &serde_json::Map<String, Value>,
    ) -> Result<InSequence, StoreError> {
        let mut sets = vec![
            "#sequence = :sequence".to_owned(),
            "#event_id = :event_id".to_owned(),
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(scope))
            .expression_attribute_names("#sequence", "sequence")
            .expression_attribute_names("#event_id", "event_id")
            .expression_attribute_values(":sequence", n(sequence))
            .expression_attribute_values(":event_id", s(event_id));
        for (i, (name, value)) in changes
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "pk" | "sequence" | "event_id"))
            .enumerate()
        {
            sets.push(format!("#a{i} = :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), to_attribute(value));
        }
        // The first event creates the item; every later one needs its predecessor applied.
        update = if sequence <= 1 {
            update.condition_expression("attribute_not_exists(pk)")
        } else {
            update
                .condition_expression("#sequence = :previous")
                .expression_attribute_values(":previous", n(sequence - 1))
        };
        let result = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(InSequence::Applied),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let current = failed
                        .item()
                        .and_then(|i| i.get("sequence"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    Ok(if sequence <= current {
                        InSequence::Duplicate { current }
                    } else {
                        InSequence::Gap { current }
                    })
                }
                _ => Err(StoreError::new("apply_in_sequence", e)),
            },
        }
    }
}

/// The outbox item for `envelope`, as one `Put` of a `TransactWriteItems` that also writes
/// the business record: `pk` = envelope id, `envelope` = its JSON text (what the relay
/// publishes), `type`, `subject`, and `expires_at` (epoch seconds; the table's TTL).
pub fn outbox_put(
    table: &str,
    envelope: &crate::Envelope,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let expires_at =
        chrono::Utc::now().timestamp() + crate::outbox::OUTBOX_RETENTION_DAYS * 24 * 3600;
    let mut put = Put::builder()
        .table_name(table)
        .item("pk", s(&envelope.id))
        .item("envelope", s(crate::otel::stamped(envelope).to_json()))
        .item("type", s(&envelope.event_type))
        .item("expires_at", n(expires_at))
        // A reused envelope id would publish one event twice under one id: refuse it.
        .condition_expression("attribute_not_exists(pk)");
    if let Some(subject) = &envelope.subject {
        put = put.item("subject", s(subject));
    }
    let put = put.build().map_err(|e| StoreError::new("outbox_put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}
