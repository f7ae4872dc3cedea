//! Customer totals on DynamoDB: one item per customer (`pk`), `orders` and `spent` added
//! atomically. (Order status uses the kit's `DynamoSequencedStore`.)

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use eventkit::idempotency::StoreError;

use crate::Totals;

/// The customer totals table.
#[derive(Debug, Clone)]
pub struct DynamoTotals {
    client: Client,
    table: String,
}

impl DynamoTotals {
    /// Totals in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTotals {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl Totals for DynamoTotals {
    async fn add_order(
        &self,
        customer: &str,
        order_id: &str,
        amount: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(customer.to_owned()))
            .update_expression("ADD orders :one, spent :amount SET last_order = :order")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
            .expression_attribute_values(":order", AttributeValue::S(order_id.to_owned()))
            .send()
            .await
            .map_err(|e| StoreError {
                operation: "add_order",
                source: Box::new(e),
            })?;
        Ok(())
    }
}
