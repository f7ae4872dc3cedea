//! Sending envelopes to SQS, large ones through the claim check in the Extended Client
//! format (so Java and Python Extended Client consumers read them too).

use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use aws_sdk_sqs::Client;

use async_trait::async_trait;

use super::boxed;
use crate::claim_check::ClaimCheck;
use crate::envelope::Envelope;
use crate::publish::QueueSender;
pub use crate::publish::SendError;

/// Sends envelopes to one queue. On a FIFO queue the envelope's partition key is the
/// message group and its id the deduplication id.
#[derive(Debug, Clone)]
pub struct SqsSender {
    client: Client,
    queue_url: String,
    claim_check: Option<ClaimCheck>,
}

impl SqsSender {
    /// A sender to `queue_url`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsSender {
            client,
            queue_url: queue_url.into(),
            claim_check: None,
        }
    }

    /// Offloads bodies per `claim_check`'s policy.
    pub fn with_claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// Sends one envelope; returns the SQS message id.
    pub async fn send(&self, envelope: &Envelope) -> Result<String, SendError> {
        self.queues().send_to(&self.queue_url, envelope).await
    }

    fn queues(&self) -> SqsQueues {
        SqsQueues {
            client: self.client.clone(),
            claim_check: self.claim_check.clone(),
        }
    }
}

/// `request` with the envelope's trace context as the message's `AWSTraceHeader` (X-Ray's
/// name for it), so a consumer reading either header finds one trace. Unchanged when the
/// envelope has no `traceparent`.
pub fn with_trace_header(
    request: SendMessageFluentBuilder,
    envelope: &Envelope,
) -> SendMessageFluentBuilder {
    let header = envelope
        .traceparent
        .as_deref()
        .and_then(crate::otel::to_xray);
    let value = header.and_then(|h| {
        MessageSystemAttributeValue::builder()
            .data_type("String")
            .string_value(h)
            .build()
            .ok()
    });
    match value {
        Some(v) => {
            request.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, v)
        }
        None => request,
    }
}

/// Sends envelopes to any queue by URL (a routing table's receivers, a reply address).
#[derive(Debug, Clone)]
pub struct SqsQueues {
    client: Client,
    claim_check: Option<ClaimCheck>,
}

impl SqsQueues {
    /// A sender on `client`.
    pub fn new(client: Client) -> Self {
        SqsQueues {
            client,
            claim_check: None,
        }
    }

    /// Offloads bodies per `claim_check`'s policy (Extended Client format).
    pub fn with_claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }
}

#[async_trait]
impl QueueSender for SqsQueues {
    async fn send_to(&self, queue_url: &str, envelope: &Envelope) -> Result<String, SendError> {
        let stamped = crate::otel::stamped(envelope);
        crate::observability::log_envelope(crate::observability::Passage::Sent, &stamped);
        let body = stamped.to_json();
        let mut request =
            with_trace_header(self.client.send_message().queue_url(queue_url), &stamped);
        let body = match &self.claim_check {
            Some(cc) => {
                let prepared = cc.prepare_sqs(body, 0).await?;
                if let Some((name, size)) = prepared.size_attribute {
                    let value = size.to_string();
                    let attribute = MessageAttributeValue::builder()
                        .data_type("Number")
                        .string_value(value)
                        .build()
                        .map_err(|e| SendError::Transport(Box::new(e)))?;
                    request = request.message_attributes(name, attribute);
                }
                prepared.body
            }
            None => body,
        };
        if queue_url.ends_with(".fifo") {
            request = request
                .message_group_id(
                    envelope
                        .partition_key
                        .clone()
                        .unwrap_or_else(|| envelope.correlation_id.clone()),
                )
                .message_deduplication_id(&envelope.id);
        }
        let out = request
            .message_body(body)
            .send()
            .await
            .map_err(|e| SendError::Transport(boxed(e)))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
