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
//!
//! The relay publishes an outbox item from its stream; while the bus is down it reports the
//! record, and the stream's retry publishes it.
//!
//! ```
//! use std::sync::Arc;
//! use aws_lambda_events::event::dynamodb::Event as StreamBatch;
//! use eventkit::outbox::Relay;
//! use eventkit::publish::MemoryPublisher;
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! # tokio_test(async {
//! let placed = Envelope::new("shop", "order.placed", json!({"order": 42}));
//! // The item a command wrote with aws::dynamodb::outbox_put, as the table's stream delivers it.
//! let batch: StreamBatch = serde_json::from_value(json!({"Records": [{"eventID": "1",
//!     "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
//!     "dynamodb": {"SequenceNumber": "100", "SizeBytes": 1, "Keys": {"pk": {"S": placed.id}},
//!         "NewImage": {"pk": {"S": placed.id}, "envelope": {"S": placed.to_json()}}}}]}))
//! .unwrap();
//! let bus = Arc::new(MemoryPublisher::default());
//! let relay = Relay::new(bus.clone());
//! bus.set_down(true);
//! let failed = relay.handle(batch.clone()).await.batch_item_failures;
//! assert_eq!(failed[0].item_identifier.as_deref(), Some("100"));
//! bus.set_down(false);
//! assert!(relay.handle(batch).await.batch_item_failures.is_empty());
//! assert_eq!(bus.published()[0].id, placed.id);
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::envelope::Envelope;
use crate::publish::Publisher;
use crate::router::RouteError;
use crate::stream::{Deadline, Read, StreamReader};

/// Days an outbox item is kept after it was written (the table's TTL attribute).
pub const OUTBOX_RETENTION_DAYS: i64 = 7;

/// PutEvents takes at most 10 entries per call.
const BATCH: usize = 10;

/// Publishes the envelopes found on an outbox table's stream.
pub struct Relay<P> {
    publisher: P,
    reader: StreamReader,
}

impl<P: Publisher> Relay<P> {
    /// A relay publishing with `publisher`, reading outbox items ([`StreamReader::outbox`]).
    pub fn new(publisher: P) -> Self {
        Relay {
            publisher,
            reader: StreamReader::outbox(),
        }
    }

    /// Reads envelopes with another reader (an event store's items, say).
    pub fn with_reader(mut self, reader: StreamReader) -> Self {
        self.reader = reader;
        self
    }

    /// The publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Publishes a stream batch in order, with no deadline; reports the first record not
    /// published.
    pub async fn handle(&self, event: DynamoDbEvent) -> DynamoDbEventResponse {
        self.handle_within(event, None).await
    }

    /// Publishes a stream batch in order within `remaining` (the invocation's time left):
    /// before the deadline ([`Deadline`]) it stops and reports the first record it did
    /// not publish, so the stream retries from there and nothing already sent goes out
    /// again. Also reports the first record not published or not readable.
    pub async fn handle_within(
        &self,
        event: DynamoDbEvent,
        remaining: Option<Duration>,
    ) -> DynamoDbEventResponse {
        let mut deadline = Deadline::new(remaining);
        // (sequence number, envelope) in stream order, up to the first unreadable record.
        let mut pending: Vec<(Option<String>, Envelope)> = Vec::new();
        let mut unreadable: Option<(Option<String>, RouteError)> = None;
        let mut relayed = 0;
        crate::emf::batch(event.records.len(), 0);
        for record in &event.records {
            match self.reader.read(record) {
                Read::Skipped(_) => {}
                Read::Envelope(Ok(envelope)) => {
                    pending.push((record.change.sequence_number.clone(), envelope))
                }
                Read::Envelope(Err(e)) => {
                    unreadable = Some((record.change.sequence_number.clone(), e));
                    break;
                }
            }
        }
        for (sent, chunk) in pending.chunks(BATCH).enumerate() {
            if !deadline.allows_another() {
                let left = pending.len() - sent * BATCH;
                tracing::warn!(left, first = %chunk[0].1.id, "outbox relay: stopping before the function's deadline; the stream retries from the first record not sent");
                crate::emf::records(relayed, left as u64);
                return failure(chunk[0].0.clone());
            }
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
            let Some(published) = deadline.step(self.publisher.publish(&envelopes)).await else {
                // Cut off at the deadline: the bus may have taken it; sent again, the
                // same ids are absorbed by idempotent consumers. One call that does not fit
                // the whole invocation will not fit the retry either: an error, to alarm on.
                tracing::error!(first = %chunk[0].1.id, entries = chunk.len(), "outbox relay: one PutEvents outlasted the invocation and was cut off; it may have been published and will be sent again; raise the relay's timeout or find why the bus is slow");
                for cx in &spans {
                    crate::otel::finish(
                        cx,
                        Some(&"cut off at the deadline" as &dyn std::fmt::Display),
                    );
                }
                crate::emf::records(relayed, (pending.len() - sent * BATCH) as u64);
                return failure(chunk[0].0.clone());
            };
            if let Err(e) = published {
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
                    let remaining = crate::router::remaining_time(event.context.deadline);
                    let response = relay.handle_within(event.payload, remaining).await;
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

    /// A bus that takes `delay` per PutEvents call.
    struct SlowBus {
        inner: MemoryPublisher,
        delay: std::time::Duration,
    }

    #[async_trait::async_trait]
    impl Publisher for SlowBus {
        async fn publish(&self, events: &[Envelope]) -> Result<(), crate::publish::PublishError> {
            tokio::time::sleep(self.delay).await;
            self.inner.publish(events).await
        }
    }

    fn slow(delay_ms: u64) -> Arc<SlowBus> {
        Arc::new(SlowBus {
            inner: MemoryPublisher::default(),
            delay: std::time::Duration::from_millis(delay_ms),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_bus_stops_the_batch_before_the_deadline_and_nothing_is_sent_twice() {
        // 50 records, 5 PutEvents of 1.5 s each, 6 s left: 3 fit before the reserve.
        let bus = slow(1_500);
        let relay = Relay::new(bus.clone());
        let sent = envelopes(50);
        let started = tokio::time::Instant::now();
        let response = relay
            .handle_within(batch(&sent), Some(std::time::Duration::from_secs(6)))
            .await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(failed(&response), vec!["130"], "the first record not sent");
        assert_eq!(bus.inner.published().len(), 30);
        // Lambda redelivers from the reported record, with a new invocation's time.
        let retry = relay
            .handle_within(batch(&sent[30..]), Some(std::time::Duration::from_secs(6)))
            .await;
        assert!(failed(&retry).is_empty());
        let ids: Vec<String> = bus.inner.published().into_iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            sent.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            "each once, in order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_put_still_running_at_the_deadline_is_cut_off_and_reported() {
        let bus = slow(10_000);
        let relay = Relay::new(bus.clone());
        let sent = envelopes(3);
        let started = tokio::time::Instant::now();
        let response = relay
            .handle_within(batch(&sent), Some(std::time::Duration::from_secs(5)))
            .await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(failed(&response), vec!["100"]);
        assert!(bus.inner.published().is_empty());
        // A call begun in time may use the reserve: only the answer's margin is kept.
        let bus = slow(4_600);
        let relay = Relay::new(bus.clone());
        let response = relay
            .handle_within(batch(&sent), Some(std::time::Duration::from_secs(5)))
            .await;
        assert!(failed(&response).is_empty());
        assert_eq!(bus.inner.published().len(), 3);
    }

    #[tokio::test]
    async fn an_insert_that_is_no_outbox_item_stops_the_shard_and_declared_skips_do_not() {
        let publisher = Arc::new(MemoryPublisher::default());
        let relay = Relay::new(publisher.clone());
        let good = envelopes(2);
        let mut modify = record(2, "ignored");
        modify["eventName"] = json!("MODIFY");
        let mut binary = record(3, "");
        binary["dynamodb"]["NewImage"]["envelope"] = json!({"B": "e30="});
        let event: DynamoDbEvent = serde_json::from_value(json!({"Records": [
            record(1, &good[0].to_json()), modify, binary, record(4, &good[1].to_json())
        ]}))
        .unwrap();
        let response = relay.handle(event).await;
        assert_eq!(
            failed(&response),
            vec!["3"],
            "the binary envelope, not the MODIFY"
        );
        assert_eq!(publisher.published().len(), 1);
    }
}
