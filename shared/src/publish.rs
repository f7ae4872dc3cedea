//! The publishing ports: where producers put envelopes. [`Publisher`] puts them on a bus
//! ([`crate::aws::eventbridge::EventBridgePublisher`]); [`QueueSender`] sends one to a queue
//! chosen per message ([`crate::aws::sqs::SqsQueues`]). Both have in-memory versions for
//! unit tests.
//!
//! A bus that rejects one entry of a batch: the error names it, so only it is sent again.
//!
//! ```
//! use eventkit::publish::{MemoryPublisher, MemoryQueues, PublishError, Publisher, QueueSender};
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! # tokio_test(async {
//! // EventBridgePublisher and SqsQueues (crate::aws) in a function; memory here.
//! let bus = MemoryPublisher::default();
//! let events: Vec<Envelope> =
//!     (1..=3).map(|n| Envelope::new("shop", "order.placed", json!({"order": n}))).collect();
//! bus.reject_once(events[1].id.clone());
//! let err = bus.publish(&events).await.unwrap_err();
//! assert!(matches!(err, PublishError::Rejected(_)));
//! let failed = err.failed_ids(&events);
//! assert_eq!(failed, [events[1].id.as_str()]);
//! let retry: Vec<Envelope> =
//!     events.iter().filter(|e| failed.contains(&e.id.as_str())).cloned().collect();
//! bus.publish(&retry).await.unwrap();
//! assert_eq!(bus.published().len(), 3);
//!
//! let queues = MemoryQueues::default();
//! queues.send_to("https://sqs.us-east-1.amazonaws.com/1/orders", &events[0]).await.unwrap();
//! assert_eq!(queues.sent()[0].1, events[0]);
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

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

/// Why a send to a queue failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The SQS call failed (network, permissions, unknown queue, message too large).
    #[error("sending to the queue failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The payload could not be claim-checked.
    #[error(transparent)]
    ClaimCheck(#[from] ClaimCheckError),
}

/// Sends envelopes to queues by URL.
#[async_trait]
pub trait QueueSender: Send + Sync {
    /// Sends `envelope` to `queue_url`; returns the message id.
    async fn send_to(&self, queue_url: &str, envelope: &Envelope) -> Result<String, SendError>;
}

#[async_trait]
impl<Q: QueueSender + ?Sized> QueueSender for std::sync::Arc<Q> {
    async fn send_to(&self, queue_url: &str, envelope: &Envelope) -> Result<String, SendError> {
        (**self).send_to(queue_url, envelope).await
    }
}

/// Records what was sent where (unit tests).
#[derive(Debug, Default)]
pub struct MemoryQueues {
    sent: Mutex<Vec<(String, Envelope)>>,
}

impl MemoryQueues {
    /// `(queue url, envelope)` pairs, in send order.
    pub fn sent(&self) -> Vec<(String, Envelope)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl QueueSender for MemoryQueues {
    async fn send_to(&self, queue_url: &str, envelope: &Envelope) -> Result<String, SendError> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push((queue_url.to_owned(), envelope.clone()));
        Ok(format!("m-{}", sent.len()))
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
