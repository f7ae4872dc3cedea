//! Profiles on DynamoDB (`pk` = customer id), each change and its outbox items in one
//! `TransactWriteItems` conditional on the version read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use eventkit::aws::dynamodb::{item_to_json, outbox_put, to_attribute};
use eventkit::Envelope;
use eventkit_contracts::customers::Profile;

use crate::{CustomerError, Profiles};

/// The profiles table and the outbox table.
#[derive(Debug, Clone)]
pub struct DynamoProfiles {
    client: Client,
    table: String,
    outbox: String,
}

impl DynamoProfiles {
    /// Profiles in `table`, events to `outbox`.
    pub fn new(client: Client, table: impl Into<String>, outbox: impl Into<String>) -> Self {
        DynamoProfiles {
            client,
            table: table.into(),
            outbox: outbox.into(),
        }
    }
}

fn store(e: impl std::error::Error + Send + Sync + 'static) -> CustomerError {
    CustomerError::Store(Box::new(e))
}

#[async_trait]
impl Profiles for DynamoProfiles {
    async fn get(&self, customer_id: &str) -> Result<Option<Profile>, CustomerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(customer_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store)?;
        out.item()
            .map(|item| {
                serde_json::from_value(serde_json::Value::Object(item_to_json(item))).map_err(store)
            })
            .transpose()
    }

    async fn save(&self, profile: &Profile, events: &[Envelope]) -> Result<(), CustomerError> {
        let value = serde_json::to_value(profile).map_err(store)?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(profile.customer_id.clone()));
        for (k, v) in value.as_object().into_iter().flatten() {
            put = put.item(k, to_attribute(v));
        }
        put = if profile.version == 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#version = :previous")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":previous",
                    AttributeValue::N((profile.version - 1).to_string()),
                )
        };
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(put.build().map_err(store)?)
                .build(),
        );
        for event in events {
            request = request.transact_items(outbox_put(&self.outbox, event).map_err(store)?);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Err(CustomerError::Conflict(profile.customer_id.clone()))
            }
            Err(e) => Err(store(e)),
        }
    }
}
