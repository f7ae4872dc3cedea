//! Transactional outbox: a command writes its business record and the envelope to publish
//! in one DynamoDB transaction (see [`crate::aws::dynamodb::outbox_put`]); the relay reads
//! the outbox table's stream and publishes the envelopes to the bus.
//!
//! The relay keeps stream order: envelopes go out in batches of up to 10 (one `PutEvents`
//! each), and at the first envelope the bus did not take, the batch stops and that record
//! is reported as the stream batch item failure. Lambda retries from it, so nothing is
//! skipped; envelopes after it that had already gone out are sent again with the same id,
//! which idempotent consumers absorb. An item that is not a readable envelope stops its
//! shard the same way, with a logged reason, until it is fixed or the event source
//! mapping's retry limit sends it to the on-failure destination.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::envelope::Envelope;
use crate::publish::Publisher;
use crate::router::{outbox_envelope, RouteError, StreamExtractor};

/// Days an outbox item is kept after it was written (the table's TTL attribute).
pub const OUTBOX_RETENTION_DAYS: i64 = 7;

/// PutEvents takes at most 10 entries per call.
const BATCH: usize = 10;

/// Publishes the envelopes found on an outbox table's stream.
pub struct Relay<P> {
    publisher: P,
    extractor: StreamExtractor,
}

impl<P: Publisher> Relay<P> {
    /// A relay publishing with `publisher`, reading outbox items ([`outbox_envelope`]).
    pub fn new(publisher: P) -> Self {
        Relay {
            publisher,
            extractor: std::sync::Arc::new(outbox_envelope),
        }
    }

    /// Reads envelopes with another extractor (an event store's items, say).
    pub fn with_extractor(mut self, extractor: StreamExtractor) -> Self {
        self.extractor = extractor;
        self
    }

    /// The publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Publishes a stream batch in order; reports the first record not published.
    pub async fn handle(&self, event: DynamoDbEvent) -> DynamoDbEventResponse {
        // (sequence number, envelope) in stream order, up to the first unreadable record.
        let mut pending: Vec<(Option<String>, Envelope)> = Vec::new();
        let mut unreadable: Option<(Option<String>, RouteError)> = None;
        let mut relayed = 0;
        crate::emf::batch(event.records.len(), 0);
        for record in &event.records {
            match (self.extractor)(record) {
                None => {}
                Some(Ok(envelope)) => {
                    pending.push((record.change.sequence_number.clone(), envelope))
                }
                Some(Err(e)) => {
                    unreadable = Some((record.change.sequence_number.clone(), e));
                    break;
                }
            }
        }
        for chunk in pending.chunks(BATCH) {
            // One send span per envelope, continuing the writer's trace; the envelope goes
            // out stamped with it, so consumers are its children.
            let (envelopes, spans): (Vec<Envelope>, Vec<_>) = chunk
                .iter()
                .map(|(_, e)| {
                    let cx = crate::otel::producer(e);
                    let mut e = e.clone();
                    crate::otel::stamp(&mut e, &cx);
                    (e, cx)
                })
                .unzip();
            if let Err(e) = self.publisher.publish(&envelopes).await {
                let failed = e.failed_ids(&envelopes);
                for (envelope, cx) in envelopes.iter().zip(&spans) {
                    let refused = failed.contains(&envelope.id.as_str());
                    crate::otel::finish(cx, refused.then_some(&e as &dyn std::fmt::Display));
                }
                let first = chunk
                    .iter()
                    .find(|(_, env)| failed.contains(&env.id.as_str()))
                    .unwrap_or(&chunk[0]);
                tracing::error!(error = %e, event_id = %first.1.id, "outbox relay: not published; the stream retries from this record");
                crate::emf::records(relayed, 1);
                return failure(first.0.clone());
            }
            for cx in &spans {
                crate::otel::finish(cx, None);
            }
            for (_, envelope) in chunk {
                tracing::info!(event_id = %envelope.id, event_type = %envelope.event_type, correlation_id = %envelope.correlation_id, "relayed");
                // No EventType: the relay forwards whatever producers wrote.
                crate::emf::dispatched(None, true, crate::emf::age_ms(envelope.time));
                relayed += 1;
            }
        }
        match unreadable {
            Some((sequence, e)) => {
                tracing::error!(error = %e, sequence = sequence.as_deref().unwrap_or(""), "outbox relay: unreadable outbox item; the shard stops here until it is fixed");
                crate::emf::records(relayed, 1);
                failure(sequence)
            }
            None => {
                crate::emf::records(relayed, 0);
                DynamoDbEventResponse::default()
            }
        }
    }
}

impl<P: Publisher + 'static> Relay<P> {
    /// Runs the relay function: every invocation is a stream batch.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        crate::emf::init();
        let relay = std::sync::Arc::new(self);
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<DynamoDbEvent>| {
                let relay = relay.clone();
                async move {
                    let response = relay.handle(event.payload).await;
                    crate::emf::flush_invocation(&event.context.request_id);
                    Ok::<_, lambda_runtime::Error>(response)
                }
            },
        ))
        .await
    }
}

fn failure(sequence: Option<String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut item = DynamoDbBatchItemFailure::default();
    item.item_identifier = sequence;
    response.batch_item_failures.push(item);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::MemoryPublisher;
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn record(seq: u32, body: &str) -> Value {
        json!({"eventID": seq.to_string(), "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": {"SequenceNumber": seq.to_string(), "SizeBytes": 1,
            "Keys": {"pk": {"S": seq.to_string()}}, "NewImage": {"pk": {"S": seq.to_string()}, "envelope": {"S": body}}}})
    }

    fn batch(envelopes: &[Envelope]) -> DynamoDbEvent {
        let records: Vec<Value> = envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| record(100 + i as u32, &e.to_json()))
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn envelopes(n: usize) -> Vec<Envelope> {
        (0..n)
            .map(|i| Envelope::new("orders", "order.placed", json!({"n": i})))
            .collect()
    }

    fn failed(r: &DynamoDbEventResponse) -> Vec<String> {
        r.batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.clone())
            .collect()
    }

    #[tokio::test]
    async fn publishes_everything_in_stream_order() {
        let relay = Relay::new(Arc::new(MemoryPublisher::default()));
        let sent = envelopes(23);
        let response = relay.handle(batch(&sent)).await;
        assert!(failed(&response).is_empty());
        let ids: Vec<String> = relay
            .publisher()
            .published()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_rejected_entry_is_reported_and_later_chunks_wait() {
        let publisher = Arc::new(MemoryPublisher::default());
        let relay = Relay::new(publisher.clone());
        let sent = envelopes(25);
        publisher.reject_once(sent[13].id.clone());
        let response = relay.handle(batch(&sent)).await;
        assert_eq!(failed(&response), vec!["113"]);
        // The first chunk and the rest of the second went out; the third waited.
        assert_eq!(publisher.published().len(), 19);
        // Lambda redelivers from the failed record: everything arrives, some twice.
        let retry = relay.handle(batch(&sent[13..])).await;
        assert!(failed(&retry).is_empty());
        let mut ids: Vec<String> = publisher.published().into_iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 25);
    }

    #[tokio::test]
    async fn a_bus_outage_reports_the_first_record() {
        let publisher = Arc::new(MemoryPublisher::default());
        publisher.set_down(true);
        let relay = Relay::new(publisher.clone());
        let response = relay.handle(batch(&envelopes(3))).await;
        assert_eq!(failed(&response), vec!["100"]);
        assert!(publisher.published().is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_item_stops_the_shard_after_what_came_before() {
        let publisher = Arc::new(MemoryPublisher::default());
        let relay = Relay::new(publisher.clone());
        let good = envelopes(2);
        let event: DynamoDbEvent = serde_json::from_value(json!({"Records": [
            record(1, &good[0].to_json()), record(2, "{\"not\": \"an envelope\"}"), record(3, &good[1].to_json())
        ]}))
        .unwrap();
        let response = relay.handle(event).await;
        assert_eq!(failed(&response), vec!["2"]);
        assert_eq!(publisher.published().len(), 1, "only what came before it");
    }
}
