//! Claim check, end to end. One crate, deployed as two functions:
//!
//! * **Producer** ([`produce`], `document.produce` invoked directly): makes a document of the
//!   requested size and sends the same `document.submitted` fact twice: on the bus, where the
//!   kit's claim check moves `data` to S3 and sets `dataref`; and straight to the documents
//!   queue, where the body goes to S3 in the SQS Extended Client format (so a Java or Python
//!   Extended Client consumer reads it too). The copies say which way they went (`via`).
//! * **Consumer** ([`receive`], the documents queue): the router redeems either form before
//!   the handler runs; the handler checks the content against its SHA-256 and records it.
//!   A corrupt document or a missing S3 object fails its record to the DLQ.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::envelope::stable_id;
use eventkit::publish::{PublishError, Publisher, QueueSender, SendError};
use eventkit::ErrorType;
use eventkit::{Event, Router};
use eventkit_contracts::documents::{
    DocumentSubmitted, ProduceDocument, DOCUMENT_SUBMITTED, PRODUCE_DOCUMENT, SOURCE,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub mod dynamodb;

/// Largest document the producer makes (its memory holds it a few times over).
pub const MAX_SIZE: usize = 32 * 1024 * 1024;

/// Why producing or receiving a document failed.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum DocumentError {
    /// The request is unusable.
    #[error("invalid document request: {0}")]
    #[error_type("InvalidRequest")]
    Invalid(String),
    /// The content does not hash to what the producer said.
    #[error("document `{document_id}` is corrupt: content hashes to {actual}, the event says {expected}")]
    #[error_type("CorruptDocument")]
    Corrupt {
        /// The document.
        document_id: String,
        /// SHA-256 in the event.
        expected: String,
        /// SHA-256 of the content received.
        actual: String,
    },
    /// The bus did not take the event.
    #[error(transparent)]
    #[error_type("TransientError")]
    Publish(#[from] PublishError),
    /// The queue did not take the message.
    #[error(transparent)]
    #[error_type("TransientError")]
    Send(#[from] SendError),
    /// The documents table failed.
    #[error("document store failed: {0}")]
    #[error_type("TransientError")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What the consumer records per document copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The document.
    pub document_id: String,
    /// How it came (`bus`, `queue`, or what a foreign producer said).
    pub via: String,
    /// Content size in bytes.
    pub size: usize,
    /// SHA-256 of the content, checked.
    pub sha256: String,
    /// The envelope id.
    pub event_id: String,
}

/// The consumer's record of what arrived.
#[async_trait]
pub trait Documents: Send + Sync {
    /// Records a received copy.
    async fn record(&self, received: &Received) -> Result<(), DocumentError>;
}

/// The crate's state: the producer's channels and the consumer's table.
pub struct ClaimCheckApp<P, Q, D> {
    /// The bus (claim-checking above the EventBridge threshold).
    pub bus: P,
    /// Queues (Extended Client format above the SQS threshold).
    pub queues: Q,
    /// The documents queue the producer also sends to directly.
    pub documents_queue: String,
    /// Where the consumer records what arrived.
    pub documents: D,
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A document of `size` bytes of text, the same for the same id and size.
pub fn make_content(document_id: &str, size: usize) -> String {
    let line = format!("{document_id}: the quick brown fox jumps over the lazy dog 0123456789\n");
    line.repeat(size / line.len() + 1)[..size].to_owned()
}

/// `document.produce`: make the document, send it by bus and by queue.
pub async fn produce<P: Publisher, Q: QueueSender, D>(
    app: Arc<ClaimCheckApp<P, Q, D>>,
    command: Event<ProduceDocument>,
) -> Result<Value, DocumentError> {
    let request = &command.data;
    if request.document_id.trim().is_empty() {
        return Err(DocumentError::Invalid(
            "`document_id` must not be empty".into(),
        ));
    }
    if request.size == 0 || request.size > MAX_SIZE {
        return Err(DocumentError::Invalid(format!(
            "`size` must be 1..={MAX_SIZE} bytes, got {}",
            request.size
        )));
    }
    let content = make_content(&request.document_id, request.size);
    let sha256 = sha256_hex(content.as_bytes());
    let payload = json!(DocumentSubmitted {
        document_id: request.document_id.clone(),
        sha256: sha256.clone(),
        content
    });
    let copy = |via: &str| {
        let mut e = command
            .caused(SOURCE, DOCUMENT_SUBMITTED, payload.clone())
            .with_id(stable_id(&[&command.id, via]))
            .with_subject(&request.document_id);
        e.extensions.insert("via".into(), json!(via));
        e
    };
    let by_bus = copy("bus");
    let by_queue = copy("queue");
    app.bus.publish(std::slice::from_ref(&by_bus)).await?;
    app.queues.send_to(&app.documents_queue, &by_queue).await?;
    tracing::info!(document_id = %request.document_id, size = request.size, "document sent by bus and by queue");
    Ok(
        json!({"document_id": request.document_id, "size": request.size, "sha256": sha256,
        "bus_event_id": by_bus.id, "queue_event_id": by_queue.id}),
    )
}

/// `document.submitted`: check and record a redeemed document.
pub async fn receive<P, Q, D: Documents>(
    app: Arc<ClaimCheckApp<P, Q, D>>,
    event: Event<DocumentSubmitted>,
) -> Result<Received, DocumentError> {
    let via = event
        .extensions
        .get("via")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let document = &event.data;
    let actual = sha256_hex(document.content.as_bytes());
    if actual != document.sha256 {
        return Err(DocumentError::Corrupt {
            document_id: document.document_id.clone(),
            expected: document.sha256.clone(),
            actual,
        });
    }
    let received = Received {
        document_id: document.document_id.clone(),
        via,
        size: document.content.len(),
        sha256: actual,
        event_id: event.id.clone(),
    };
    app.documents.record(&received).await?;
    tracing::info!(document_id = %received.document_id, via = %received.via, size = received.size, "document received and verified");
    Ok(received)
}

/// The function: both roles (the producer is invoked directly, the consumer by its queue).
pub fn router<P, Q, D>(app: ClaimCheckApp<P, Q, D>) -> Router<ClaimCheckApp<P, Q, D>>
where
    P: Publisher + 'static,
    Q: QueueSender + 'static,
    D: Documents + 'static,
{
    Router::with_state(app)
        .on(PRODUCE_DOCUMENT, produce::<P, Q, D>)
        .on(DOCUMENT_SUBMITTED, receive::<P, Q, D>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventkit::claim_check::{ClaimCheck, MemoryPayloadStore, Offload, Transport};
    use eventkit::publish::{MemoryPublisher, MemoryQueues};
    use eventkit::Envelope;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Table(Mutex<Vec<Received>>);

    #[async_trait]
    impl Documents for Table {
        async fn record(&self, received: &Received) -> Result<(), DocumentError> {
            self.0.lock().unwrap().push(received.clone());
            Ok(())
        }
    }

    type App = ClaimCheckApp<Arc<MemoryPublisher>, Arc<MemoryQueues>, Table>;

    fn function() -> Router<App> {
        router(ClaimCheckApp {
            bus: Arc::new(MemoryPublisher::default()),
            queues: Arc::new(MemoryQueues::default()),
            documents_queue: "q-documents".into(),
            documents: Table::default(),
        })
    }

    #[tokio::test]
    async fn a_produced_document_arrives_both_ways_and_verifies() {
        let f = function();
        let command = Envelope::new(
            "t",
            PRODUCE_DOCUMENT,
            json!({"document_id": "doc-1", "size": 3_000_000}),
        );
        let answer = f.dispatch(command, None).await.unwrap();
        assert_eq!(
            answer["sha256"],
            sha256_hex(make_content("doc-1", 3_000_000).as_bytes())
        );
        let mut copies = f.state().bus.published();
        copies.extend(f.state().queues.sent().into_iter().map(|(_, e)| e));
        assert_eq!(copies.len(), 2);
        for copy in copies {
            f.dispatch(copy, None).await.unwrap();
        }
        let received = f.state().documents.0.lock().unwrap().clone();
        let vias: Vec<&str> = received.iter().map(|r| r.via.as_str()).collect();
        assert_eq!(vias, ["bus", "queue"]);
        assert!(received.iter().all(|r| r.size == 3_000_000));
    }

    #[tokio::test]
    async fn a_claim_checked_copy_is_redeemed_before_the_handler() {
        let payload_store = Arc::new(MemoryPayloadStore::default());
        let cc = ClaimCheck::new(
            payload_store.clone(),
            "bucket",
            Offload::Above(Transport::EventBridge.default_threshold()),
        );
        let content = make_content("doc-2", 2_000_000);
        let event = Envelope::new(
            SOURCE,
            DOCUMENT_SUBMITTED,
            json!({"document_id": "doc-2",
            "sha256": sha256_hex(content.as_bytes()), "content": content}),
        );
        let checked_in = cc.check_in(event, 0).await.unwrap();
        assert!(checked_in.dataref.is_some() && checked_in.data.is_none());
        let f = function().claim_check(cc);
        f.handle(serde_json::to_value(&checked_in).unwrap(), None)
            .await
            .unwrap();
        assert_eq!(f.state().documents.0.lock().unwrap()[0].size, 2_000_000);
    }

    #[tokio::test]
    async fn a_corrupt_document_fails_and_is_not_recorded() {
        let f = function();
        let event = Envelope::new(
            SOURCE,
            DOCUMENT_SUBMITTED,
            json!({"document_id": "doc-3", "sha256": "00", "content": "hello"}),
        );
        let err = f.dispatch(event, None).await.unwrap_err();
        assert_eq!(err.error_type(), "CorruptDocument");
        assert!(f.state().documents.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_bad_request_names_the_field() {
        let f = function();
        let err = f
            .dispatch(
                Envelope::new(
                    "t",
                    PRODUCE_DOCUMENT,
                    json!({"document_id": "d", "size": 0}),
                ),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`size`"), "{err}");
    }

    #[tokio::test]
    async fn the_samples_run() {
        let f = function();
        let produce: Value = serde_json::from_str(include_str!(
            "../../../events/claim-check/produce-document.json"
        ))
        .unwrap();
        assert_eq!(f.handle(produce, None).await.unwrap()["size"], 3_145_728);
        let batch: Value = serde_json::from_str(include_str!(
            "../../../events/claim-check/sqs-document-inline.json"
        ))
        .unwrap();
        assert_eq!(
            f.handle(batch, None).await.unwrap()["batchItemFailures"],
            json!([])
        );
    }
}
