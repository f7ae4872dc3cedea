//! The documents table: one item per received copy (`pk` = `<document id>#<via>`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::{DocumentError, Documents, Received};

/// Received documents in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDocuments {
    client: Client,
    table: String,
}

impl DynamoDocuments {
    /// Records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDocuments {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl Documents for DynamoDocuments {
    async fn record(&self, r: &Received) -> Result<(), DocumentError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "pk",
                AttributeValue::S(format!("{}#{}", r.document_id, r.via)),
            )
            .item("document_id", AttributeValue::S(r.document_id.clone()))
            .item("via", AttributeValue::S(r.via.clone()))
            .item("size", AttributeValue::N(r.size.to_string()))
            .item("sha256", AttributeValue::S(r.sha256.clone()))
            .item("event_id", AttributeValue::S(r.event_id.clone()))
            .send()
            .await
            .map_err(|e| DocumentError::Store(Box::new(e)))?;
        Ok(())
    }
}
