//! The publishing port: where producers put envelopes (an EventBridge bus in production,
//! memory in unit tests). [`crate::aws::eventbridge::EventBridgePublisher`] implements it.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::claim_check::ClaimCheckError;
use crate::envelope::Envelope;

/// Why a publish failed. On partial failure the rejected entries are listed, so a caller
/// can retry exactly those.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Some entries were rejected by the bus: `(envelope id, reason)`.
    #[error("{} of the events were rejected by the bus: {}", .0.len(), .0.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<(String, String)>),
    /// The call itself failed (network, permissions, unknown bus); retryable.
    #[error("publishing to the event bus failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The payload could not be claim-checked.
    #[error(transparent)]
    ClaimCheck(#[from] ClaimCheckError),
}

impl PublishError {
    /// Ids of the envelopes that did not reach the bus, out of `sent` (all of them unless
    /// the bus listed rejections).
    pub fn failed_ids<'a>(&'a self, sent: &'a [Envelope]) -> Vec<&'a str> {
        match self {
            PublishError::Rejected(rejected) => {
                rejected.iter().map(|(id, _)| id.as_str()).collect()
            }
            _ => sent.iter().map(|e| e.id.as_str()).collect(),
        }
    }
}

/// Puts envelopes on a bus.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes `events` in order (the bus may batch them); all or a listed part fails.
    async fn publish(&self, events: &[Envelope]) -> Result<(), PublishError>;
}

#[async_trait]
impl<P: Publisher + ?Sized> Publisher for std::sync::Arc<P> {
    async fn publish(&self, events: &[Envelope]) -> Result<(), PublishError> {
        (**self).publish(events).await
    }
}

/// Records what was published; can be told to reject chosen events (unit tests).
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<Envelope>>,
    reject: Mutex<Vec<String>>,
    down: std::sync::atomic::AtomicBool,
}

impl MemoryPublisher {
    /// Everything published so far, in order.
    pub fn published(&self) -> Vec<Envelope> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rejects the envelope with this id (once) as the bus would reject an entry.
    pub fn reject_once(&self, id: impl Into<String>) {
        self.reject
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.into());
    }

    /// Makes every publish fail with a transport error until set back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, events: &[Envelope]) -> Result<(), PublishError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PublishError::Transport("bus unreachable".into()));
        }
        let mut reject = self.reject.lock().unwrap_or_else(|e| e.into_inner());
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        let mut rejected = Vec::new();
        for event in events {
            if let Some(i) = reject.iter().position(|id| *id == event.id) {
                reject.remove(i);
                rejected.push((event.id.clone(), "InternalFailure: injected".to_owned()));
            } else {
                published.push(event.clone());
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(PublishError::Rejected(rejected))
        }
    }
}
