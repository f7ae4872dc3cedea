//! The AWS side: gathers on DynamoDB (`pk` = correlation id; `gather` JSON fields, `parts`
//! a map by supplier, `status` OPEN/COMPLETE) and the deadline timer (a message on the
//! aggregator's own queue, delayed up to SQS's 15 minutes).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use eventkit::aws::dynamodb::{created, item_to_json, to_attribute};
use eventkit::idempotency::StoreError;
use eventkit::Envelope;
use eventkit_contracts::quotes::QuoteOffered;
use serde_json::{json, Value};

use crate::{Added, Gather, GatherError, Gathers, Timer};

/// Gathers in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoGathers {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoGathers {
    /// Gathers in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoGathers {
            client,
            table: table.into(),
        }
    }
}

fn gather_of(item: &HashMap<String, AttributeValue>) -> Result<Gather, StoreError> {
    let mut json = item_to_json(item);
    json.remove("pk");
    json.remove("status");
    json.remove("capacity");
    serde_json::from_value(Value::Object(json)).map_err(|e| StoreError::new("read gather", e))
}

#[async_trait]
impl Gathers for DynamoGathers {
    async fn open(&self, id: &str, gather: &Gather) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(id.to_owned()));
        for (k, v) in json!(gather).as_object().into_iter().flatten() {
            if !v.is_null() {
                put = put.item(k, to_attribute(v));
            }
        }
        created(
            put.item("status", AttributeValue::S("OPEN".into()))
                .item("capacity", AttributeValue::N(gather.capacity().to_string()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await,
            "open",
        )
    }

    async fn add_part(&self, id: &str, offer: &QuoteOffered) -> Result<Added, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET parts.#supplier = :offer")
            // Refuse a part once the gather holds all its policy takes, even before the close
            // that the last part triggers is written: first-N never yields N+1 offers.
            .condition_expression(
                "#status = :open AND attribute_not_exists(parts.#supplier) AND size(parts) < #capacity",
            )
            .expression_attribute_names("#supplier", &offer.supplier)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#capacity", "capacity")
            .expression_attribute_values(":offer", to_attribute(&json!(offer)))
            .expression_attribute_values(":open", AttributeValue::S("OPEN".into()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Added::Added(gather_of(
                out.attributes().unwrap_or(&HashMap::new()),
            )?)),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(match failed.item() {
                        None => Added::Unknown,
                        Some(item)
                            if item
                                .get("status")
                                .and_then(|s| s.as_s().ok())
                                .is_some_and(|s| s != "OPEN") =>
                        {
                            Added::Closed
                        }
                        Some(item)
                            if item
                                .get("parts")
                                .and_then(|p| p.as_m().ok())
                                .is_some_and(|p| p.contains_key(&offer.supplier)) =>
                        {
                            Added::Duplicate(gather_of(item)?)
                        }
                        Some(_) => Added::Closed,
                    })
                }
                _ => Err(StoreError::new("add_part", e)),
            },
        }
    }

    async fn close(&self, id: &str, completed_by: &str) -> Result<Option<Gather>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            // A closed gather whose result was never published is returned again, with the
            // first closer's reason, so a retry publishes what the failed attempt did not.
            .update_expression(
                "SET #status = :complete, completed_by = if_not_exists(completed_by, :by)",
            )
            .condition_expression("#status = :open OR published = :no")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":complete", AttributeValue::S("COMPLETE".into()))
            .expression_attribute_values(":open", AttributeValue::S("OPEN".into()))
            .expression_attribute_values(":by", AttributeValue::S(completed_by.to_owned()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(gather_of(
                out.attributes().unwrap_or(&HashMap::new()),
            )?)),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(StoreError::new("close", e)),
        }
    }

    async fn published(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET published = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::new("published", e))
    }
}

/// The deadline as a delayed message on the aggregator's own queue.
#[derive(Debug, Clone)]
pub struct SqsTimer {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsTimer {
    /// Timers on `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsTimer {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl Timer for SqsTimer {
    async fn after(&self, delay: Duration, event: &Envelope) -> Result<(), GatherError> {
        // SQS delays whole seconds, at most 15 minutes: round up, so it is never early.
        let seconds = delay.as_millis().div_ceil(1000).min(900) as i32;
        let stamped = eventkit::otel::stamped(event);
        eventkit::observability::log_envelope(eventkit::observability::Passage::Sent, &stamped);
        let request = self.client.send_message().queue_url(&self.queue_url);
        eventkit::aws::sqs::with_trace_header(request, &stamped)
            .message_body(stamped.to_json())
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|e| {
                GatherError::Transient(format!(
                    "starting the deadline timer failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}
