//! A participant's orders on DynamoDB (`pk` = order id): `status`, a count per status
//! reached (`count_<STATUS>`), and attempt counts per step (`attempts_<step>`).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use eventkit::idempotency::StoreError;

use crate::{Orders, Transition};

/// The service's table.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    client: Client,
    table: String,
}

impl DynamoOrders {
    /// Orders in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoOrders {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl Orders for DynamoOrders {
    async fn transition(
        &self,
        order_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Transition, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(order_id.to_owned()))
            .update_expression("SET #status = :to ADD #count :one")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#count", format!("count_{to}"))
            .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        // A new order has no status yet; every later step needs the one before it.
        let update = if from == "NONE" {
            update.condition_expression("attribute_not_exists(#status)")
        } else {
            update
                .condition_expression("#status = :from")
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
        };
        match update.send().await {
            Ok(_) => Ok(Transition::Changed),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let item = failed.item();
                    let current = item
                        .and_then(|i| i.get("status"))
                        .and_then(|s| s.as_s().ok())
                        .cloned()
                        .unwrap_or_else(|| "NONE".into());
                    let reached_before = item
                        .and_then(|i| i.get(&format!("count_{to}")))
                        .and_then(|n| n.as_n().ok())
                        .is_some_and(|n| n != "0");
                    Ok(if current == to {
                        Transition::Already
                    } else if reached_before {
                        Transition::Passed(current)
                    } else {
                        Transition::Blocked(current)
                    })
                }
                _ => Err(StoreError::new("transition", e)),
            },
        }
    }

    async fn attempt(&self, order_id: &str, step: &str) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(order_id.to_owned()))
            .update_expression("ADD #attempts :one")
            .expression_attribute_names("#attempts", format!("attempts_{step}"))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::new("attempt", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&format!("attempts_{step}")))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1))
    }
}
