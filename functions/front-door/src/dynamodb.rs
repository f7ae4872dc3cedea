//! Orders and the outbox on DynamoDB: every change is one `TransactWriteItems` of the order
//! item (conditional on its version) and the outbox item carrying its envelope.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use eventkit::aws::dynamodb::{item_to_json, outbox_put, to_attribute};
use eventkit::Envelope;

use crate::{Order, OrderStore, StoreError};

/// Orders table (partition key `pk` = order id) and outbox table.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    client: Client,
    orders_table: String,
    outbox_table: String,
}

impl DynamoOrders {
    /// A store on the two tables.
    pub fn new(
        client: Client,
        orders_table: impl Into<String>,
        outbox_table: impl Into<String>,
    ) -> Self {
        DynamoOrders {
            client,
            orders_table: orders_table.into(),
            outbox_table: outbox_table.into(),
        }
    }

    fn order_put(&self, order: &Order) -> Result<Put, StoreError> {
        let mut builder = Put::builder().table_name(&self.orders_table);
        let value =
            serde_json::to_value(order).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        if let Some(fields) = value.as_object() {
            for (k, v) in fields {
                builder = builder.item(k, to_attribute(v));
            }
        }
        builder
            .item("pk", AttributeValue::S(order.order_id.clone()))
            .build()
            .map_err(|e| StoreError::Unavailable(Box::new(e)))
    }

    async fn commit(&self, order: Put, event: &Envelope, order_id: &str) -> Result<(), StoreError> {
        let outbox = outbox_put(&self.outbox_table, event)
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(order).build())
            .transact_items(outbox)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception());
                if cancelled {
                    Err(StoreError::Conflict(order_id.to_owned()))
                } else {
                    Err(StoreError::Unavailable(Box::new(e)))
                }
            }
        }
    }
}

#[async_trait]
impl OrderStore for DynamoOrders {
    async fn place(&self, order: &Order, event: &Envelope) -> Result<(), StoreError> {
        let put = self.order_put(order)?;
        let put = Put::builder()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        self.commit(put, event, &order.order_id).await
    }

    async fn change(
        &self,
        order: &Order,
        previous_version: i64,
        event: &Envelope,
    ) -> Result<(), StoreError> {
        let put = self.order_put(order)?;
        let put = Put::builder()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .condition_expression("#version = :previous")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":previous",
                AttributeValue::N(previous_version.to_string()),
            )
            .build()
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        self.commit(put, event, &order.order_id).await
    }

    async fn get(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .key("pk", AttributeValue::S(order_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let json = serde_json::Value::Object(item_to_json(item));
        serde_json::from_value(json).map(Some).map_err(|e| {
            StoreError::Unavailable(
                format!("order `{order_id}` is stored in a shape this version cannot read: {e}")
                    .into(),
            )
        })
    }
}
