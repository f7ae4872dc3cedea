//! Sending envelopes to SQS, large ones through the claim check in the Extended Client
//! format (so Java and Python Extended Client consumers read them too).

use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sdk_sqs::Client;

use super::boxed;
use crate::claim_check::{ClaimCheck, ClaimCheckError};
use crate::envelope::Envelope;

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The SQS call failed (network, permissions, unknown queue, message too large).
    #[error("sending to the queue failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The payload could not be claim-checked.
    #[error(transparent)]
    ClaimCheck(#[from] ClaimCheckError),
}

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
        let body = envelope.to_json();
        let mut request = self.client.send_message().queue_url(&self.queue_url);
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
        if self.queue_url.ends_with(".fifo") {
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
