//! The AWS side of the customer views: the replica table (the kit's newer-wins
//! `DynamoStateStore`), the callback counter, and the callback itself, a synchronous Lambda
//! invoke of the customer service with a `customer.profile.get` envelope.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use eventkit::idempotency::StoreError;
use eventkit::Envelope;
use eventkit_contracts::customers::{GetProfile, Profile, GET_PROFILE};

use crate::{CallbackCounter, CustomerSource, ViewError};

/// Calls the customer service function.
#[derive(Debug, Clone)]
pub struct LambdaCustomerSource {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaCustomerSource {
    /// Calls `function` (name or ARN).
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        LambdaCustomerSource {
            client,
            function: function.into(),
        }
    }
}

#[async_trait]
impl CustomerSource for LambdaCustomerSource {
    async fn get_profile(
        &self,
        customer_id: &str,
        cause: &Envelope<()>,
    ) -> Result<Profile, ViewError> {
        let unavailable = |reason: String| ViewError::SourceUnavailable {
            customer_id: customer_id.to_owned(),
            reason,
        };
        let mut query = cause.caused(
            "eventkit.customer-views",
            GET_PROFILE,
            GetProfile {
                customer_id: customer_id.to_owned(),
            },
        );
        eventkit::otel::stamp_current(&mut query);
        eventkit::observability::log_envelope(eventkit::observability::Passage::Sent, &query);
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(query.to_json()))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string()))?;
        let payload = out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(error) = out.function_error() {
            return Err(unavailable(format!(
                "{error}: {}",
                String::from_utf8_lossy(&payload)
            )));
        }
        serde_json::from_slice(&payload)
            .map_err(|e| unavailable(format!("answer is not a profile: {e}")))
    }
}

/// Callback counts in the replica table: `pk` = `callbacks#<customer>`, `attempts`, `answered`.
#[derive(Debug, Clone)]
pub struct DynamoCallbackCounter {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCallbackCounter {
    /// Counts in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCallbackCounter {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl CallbackCounter for DynamoCallbackCounter {
    async fn count(&self, customer_id: &str, answered: bool) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("callbacks#{customer_id}")))
            .update_expression("ADD attempts :one, answered :answered")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":answered",
                AttributeValue::N(u8::from(answered).to_string()),
            )
            .send()
            .await
            .map_err(|e| StoreError {
                operation: "count_callback",
                source: Box::new(e),
            })?;
        Ok(())
    }
}

/// No source: the state-transfer deployment never calls back.
#[derive(Debug, Clone, Copy)]
pub struct NoSource;

#[async_trait]
impl CustomerSource for NoSource {
    async fn get_profile(&self, customer_id: &str, _: &Envelope<()>) -> Result<Profile, ViewError> {
        Err(ViewError::SourceUnavailable {
            customer_id: customer_id.to_owned(),
            reason: "this deployment has no CUSTOMER_SERVICE_FUNCTION: it takes fat events only; check its queue's rule".into(),
        })
    }
}
