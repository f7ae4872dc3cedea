//! The ledger on DynamoDB: one item per account (`pk` = `account#<id>`), `balance` updated
//! atomically; posting to an account that was never opened fails the condition. An entry's
//! change and its `COMPLETED` idempotency record commit in one `TransactWriteItems`.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use eventkit::aws::dynamodb::completion_write;
use eventkit::idempotency::Completion;

use crate::{Entry, Ledger, LedgerError, Posted};

/// A transaction item's cancellation reason when its condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// A transaction item's cancellation reason when another transaction held the item.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";
/// Tries after a conflict before the record fails (and SQS redelivers it).
const CONFLICT_RETRIES: u32 = 5;

/// Exponential backoff from 10 ms with jitter from the record's key, so entries that
/// conflicted once do not collide again in step.
fn conflict_backoff(attempt: u32, key: &str) -> std::time::Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = key.bytes().fold(u64::from(attempt), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % base;
    std::time::Duration::from_millis(base / 2 + jitter)
}

/// The ledger table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    idempotency_table: String,
}

impl DynamoLedger {
    /// A ledger on `table`, whose entries complete their records in `idempotency_table`
    /// (the table of the router's idempotency store).
    pub fn new(
        client: Client,
        table: impl Into<String>,
        idempotency_table: impl Into<String>,
    ) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
            idempotency_table: idempotency_table.into(),
        }
    }
}

/// The item key of an account.
pub fn account_key(account: &str) -> String {
    format!("account#{account}")
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn post(&self, entry: &Entry, completion: &Completion) -> Result<(), LedgerError> {
        let store = |e: BuildError| LedgerError::Store(Box::new(e));
        let change = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_key(&entry.account)))
            .update_expression("ADD balance :amount, entries :one")
            .condition_expression("attribute_exists(pk) AND #open = :true")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":amount", AttributeValue::N(entry.amount.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(store)?;
        let record = completion_write(&self.idempotency_table, completion, &Posted::from(entry))
            .map_err(|e| LedgerError::Store(Box::new(e)))?;
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(change.clone()).build())
                .transact_items(record.clone())
                .send()
                .await;
            let Err(e) = result else {
                completion.committed();
                return Ok(());
            };
            let reasons: Vec<Option<&str>> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons().iter().map(|r| r.code()).collect()
                }
                _ => Vec::new(),
            };
            match reasons.as_slice() {
                [Some(CONDITION_FAILED), ..] => {
                    return Err(LedgerError::AccountNotOpen(entry.account.clone()))
                }
                [_, Some(CONDITION_FAILED)] => {
                    return Err(LedgerError::Superseded(completion.held().key.clone()))
                }
                // Another transaction on the same account was in flight (entries to one
                // account in one batch run concurrently): nothing applied, try again soon.
                r if attempt < CONFLICT_RETRIES && r.contains(&Some(TRANSACTION_CONFLICT)) => {
                    attempt += 1;
                    tokio::time::sleep(conflict_backoff(attempt, &completion.held().key)).await;
                }
                _ => return Err(LedgerError::Store(Box::new(e))),
            }
        }
    }

    async fn open(&self, account: &str) -> Result<(), LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(account_key(account)))
            .item("open", AttributeValue::Bool(true))
            .item("balance", AttributeValue::N("0".into()))
            .item("entries", AttributeValue::N("0".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already open: opening again changes nothing.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(LedgerError::Store(Box::new(e))),
        }
    }
}
