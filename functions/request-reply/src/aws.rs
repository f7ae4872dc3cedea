//! The AWS side: pending requests on DynamoDB (`pk` = correlation id, `deadline_ms`,
//! `status`, `reply`) and Step Functions task answers.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use eventkit::aws::dynamodb::created;
use eventkit::idempotency::StoreError;
use eventkit_contracts::stock::CheckReplied;
use serde_json::Value;

use crate::{Matched, PendingRecord, PendingRequests, ReplyError, TaskTokens};

/// Pending requests in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoPending {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoPending {
    /// Requests in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoPending {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl PendingRequests for DynamoPending {
    async fn open(&self, id: &str, deadline_ms: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(id.to_owned()))
            .item("status", AttributeValue::S("PENDING".into()))
            .item("deadline_ms", AttributeValue::N(deadline_ms.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        created(result, "open")
    }

    async fn answer(
        &self,
        id: &str,
        reply: &CheckReplied,
        now_ms: i64,
    ) -> Result<Matched, StoreError> {
        let text = serde_json::to_string(reply).map_err(|e| StoreError::new("answer", e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET #status = :answered, reply = :reply")
            .condition_expression("#status = :pending AND deadline_ms > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":answered", AttributeValue::S("ANSWERED".into()))
            .expression_attribute_values(":pending", AttributeValue::S("PENDING".into()))
            .expression_attribute_values(":reply", AttributeValue::S(text))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Matched::Answered),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(match failed.item() {
                        None => Matched::Unknown,
                        Some(item)
                            if item
                                .get("status")
                                .and_then(|s| s.as_s().ok())
                                .is_some_and(|s| s == "ANSWERED") =>
                        {
                            Matched::Duplicate
                        }
                        Some(_) => Matched::Late,
                    })
                }
                _ => Err(StoreError::new("answer", e)),
            },
        }
    }

    async fn get(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::new("get", e))?;
        Ok(out.item().map(|item| PendingRecord {
            deadline_ms: item
                .get("deadline_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            reply: item
                .get("reply")
                .and_then(|v| v.as_s().ok())
                .and_then(|s| serde_json::from_str(s).ok()),
        }))
    }
}

/// Step Functions task answers.
#[derive(Debug, Clone)]
pub struct SfnTaskTokens {
    client: aws_sdk_sfn::Client,
}

impl SfnTaskTokens {
    /// Answers through `client`.
    pub fn new(client: aws_sdk_sfn::Client) -> Self {
        SfnTaskTokens { client }
    }
}

fn transient(e: impl std::error::Error) -> ReplyError {
    ReplyError::Transient(format!("answering the Step Functions task failed: {e}"))
}

#[async_trait]
impl TaskTokens for SfnTaskTokens {
    async fn succeed(&self, token: &str, output: &Value) -> Result<(), ReplyError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(transient)?;
        Ok(())
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), ReplyError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(transient)?;
        Ok(())
    }
}
