//! The ledger on DynamoDB: one item per account (`pk` = `account#<id>`), `balance` updated
//! atomically; posting to an account that was never opened fails the condition.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use crate::{Entry, Ledger, LedgerError};

/// The ledger table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    /// A ledger on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }
}

/// The item key of an account.
pub fn account_key(account: &str) -> String {
    format!("account#{account}")
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn post(&self, entry: &Entry) -> Result<i64, LedgerError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_key(&entry.account)))
            .update_expression("ADD balance :amount, entries :one")
            .condition_expression("attribute_exists(pk) AND #open = :true")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":amount", AttributeValue::N(entry.amount.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| a.get("balance"))
                .and_then(|b| b.as_n().ok())
                .and_then(|b| b.parse().ok())
                .unwrap_or_default()),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                    Err(LedgerError::AccountNotOpen(entry.account.clone()))
                }
                _ => Err(LedgerError::Store(Box::new(e))),
            },
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
