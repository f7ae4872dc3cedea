//! Publishing envelopes to an EventBridge bus.
//!
//! Mapping: `Source` = envelope `source`, `DetailType` = envelope `type`, `Time` = envelope
//! `time`, `Detail` = the whole envelope as CloudEvents JSON. Rules therefore match on
//! `source`, `detail-type` and `detail.<attribute>` (subject, correlationid, ...), never on
//! `detail.data`.

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use async_trait::async_trait;

use super::boxed;
use crate::claim_check::ClaimCheck;
use crate::envelope::Envelope;
pub use crate::publish::PublishError;
use crate::publish::Publisher;

/// PutEvents takes at most 10 entries per call.
const MAX_ENTRIES: usize = 10;

/// The PutEvents entry for an envelope.
pub fn to_entry(envelope: &Envelope, bus: &str) -> PutEventsRequestEntry {
    // The current span becomes the receiver's parent.
    let stamped = crate::otel::stamped(envelope);
    crate::observability::log_envelope(crate::observability::Passage::Sent, &stamped);
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(&envelope.source)
        .detail_type(&envelope.event_type)
        .set_time(
            envelope
                .time
                .map(|t| DateTime::from_millis(t.timestamp_millis())),
        )
        .detail(stamped.to_json())
        .build()
}

/// Publishes envelopes to one bus, claim-checking large payloads when configured.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    claim_check: Option<ClaimCheck>,
}

impl EventBridgePublisher {
    /// A publisher to `bus`.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus: bus.into(),
            claim_check: None,
        }
    }

    /// Offloads payloads per `claim_check`'s policy before sending.
    pub fn with_claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// Publishes `events`, 10 per call.
    pub async fn publish(&self, events: &[Envelope]) -> Result<(), PublishError> {
        Publisher::publish(self, events).await
    }
}

#[async_trait]
impl Publisher for EventBridgePublisher {
    async fn publish(&self, events: &[Envelope]) -> Result<(), PublishError> {
        let mut rejected = Vec::new();
        for chunk in events.chunks(MAX_ENTRIES) {
            let mut entries = Vec::with_capacity(chunk.len());
            for envelope in chunk {
                let envelope = match &self.claim_check {
                    // Source and DetailType count towards the entry size as well.
                    Some(cc) => {
                        cc.check_in(
                            envelope.clone(),
                            envelope.source.len() + envelope.event_type.len(),
                        )
                        .await?
                    }
                    None => envelope.clone(),
                };
                entries.push(to_entry(&envelope, &self.bus));
            }
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| PublishError::Transport(boxed(e)))?;
            if out.failed_entry_count() > 0 {
                for (envelope, result) in chunk.iter().zip(out.entries()) {
                    if let Some(code) = result.error_code() {
                        rejected.push((
                            envelope.id.clone(),
                            format!("{code}: {}", result.error_message().unwrap_or("")),
                        ));
                    }
                }
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(PublishError::Rejected(rejected))
        }
    }
}
