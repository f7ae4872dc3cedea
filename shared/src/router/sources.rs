//! The sources an invocation comes from (an SQS batch, an EventBridge event, a DynamoDB
//! stream batch, a bare envelope), told apart by shape and each answered as it expects.

use super::*;

/// Where an invocation came from, by the shape of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `{"Records": [{"eventSource": "aws:sqs", ...}]}`.
    Sqs,
    /// `{"Records": [{"eventSource": "aws:dynamodb", ...}]}`.
    DynamoDbStream,
    /// `{"detail-type": ..., "detail": ...}`.
    EventBridge,
    /// A CloudEvents envelope (`specversion` at the top).
    Envelope,
    /// None of those; the reason.
    Unknown(String),
}

fn stream_batch_error(e: serde_json::Error) -> RouteError {
    RouteError::UnrecognisedEvent(format!("a DynamoDB stream batch that does not parse: {e}"))
}

/// A batch's source, from its first record's `eventSource` (`None` when there is no first
/// record or it names none) and whether the batch is empty.
fn batch_source(first: Option<&str>, empty: bool) -> Source {
    match first {
        Some("aws:sqs") => Source::Sqs,
        Some("aws:dynamodb") => Source::DynamoDbStream,
        // An empty batch: nothing to do, answered as an SQS batch (no failures).
        None if empty => Source::Sqs,
        Some(other) => Source::Unknown(format!("a batch from `{other}`")),
        None => Source::Unknown("a batch whose records name no eventSource".into()),
    }
}

/// Tells an event's source by its shape.
pub fn classify(event: &Value) -> Source {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        return batch_source(source, records.is_empty());
    }
    if event.get("detail-type").is_some() && event.get("detail").is_some() {
        return Source::EventBridge;
    }
    if event.get("specversion").is_some() {
        return Source::Envelope;
    }
    let keys: Vec<&str> = event
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(8).collect())
        .unwrap_or_default();
    Source::Unknown(format!("a JSON value with keys {keys:?}"))
}

fn to_json(response: impl Serialize) -> Value {
    // Batch responses are plain structs of strings: serialising them cannot fail.
    serde_json::to_value(response).unwrap_or(Value::Null)
}

impl<S: Send + Sync + 'static> Router<S> {
    /// An SQS batch: every record redeemed, unwrapped and dispatched; only failures are
    /// reported, so they return to the queue and reach its DLQ.
    pub async fn handle_sqs(
        &self,
        event: SqsEvent,
        remaining: Option<Duration>,
    ) -> SqsBatchResponse {
        let records = event.records.into_iter().map(QueueRecord::from).collect();
        self.handle_queue(records, remaining).await
    }

    /// [`Router::handle_sqs`] on records as the batch reads them.
    async fn handle_queue(
        &self,
        records: Vec<QueueRecord>,
        remaining: Option<Duration>,
    ) -> SqsBatchResponse {
        let size = records.len();
        let retried = records.iter().filter(|r| r.retried).count();
        let response = process_queue(
            records,
            self.batch,
            self.claim_check.as_ref(),
            |envelope| async move { self.dispatch(envelope, remaining).await.map(drop) },
        )
        .await;
        let failed = response.batch_item_failures.len();
        emf::batch(size, retried);
        emf::records(size.saturating_sub(failed) as u64, failed as u64);
        response
    }

    /// An EventBridge event invoked directly (a rule's Lambda target). A `detail` that is not
    /// a kit envelope (an AWS service event) is wrapped as one. An error makes the
    /// asynchronous invocation retry, then go to the function's DLQ or failure destination.
    pub async fn handle_eventbridge(
        &self,
        event: EventBridgeEvent<Value>,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let mut envelope = if event.detail.get("specversion").is_some() {
            crate::unwrap::from_eventbridge(&event)?
        } else {
            crate::unwrap::wrap_foreign_eventbridge(&event)?
        };
        self.redeem(&mut envelope).await?;
        self.dispatch_logged(envelope, remaining).await
    }

    /// [`Router::handle_eventbridge`] and [`Router::handle_envelope`] counted as one record.
    async fn one_record(
        &self,
        result: impl Future<Output = Result<Value, RouteError>>,
    ) -> Result<Value, RouteError> {
        let result = result.await;
        let ok = result.is_ok();
        emf::records(u64::from(ok), u64::from(!ok));
        result
    }

    /// A DynamoDB Streams batch, in order. The first record that fails is reported and the
    /// rest are not attempted: Lambda retries from it, so nothing is skipped and a key's
    /// records stay in order. Only records the [`StreamReader`] declares skipped are
    /// skipped; one it cannot read fails the batch there. Before the invocation's deadline
    /// ([`Deadline`]) it stops and reports the first record not handled, so a batch that
    /// would outlive its timeout is not retried whole.
    pub async fn handle_dynamodb_stream(
        &self,
        event: DynamoDbEvent,
        remaining: Option<Duration>,
    ) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut processed = 0;
        let mut deadline = Deadline::new(remaining);
        emf::batch(event.records.len(), 0);
        for (done, record) in event.records.iter().enumerate() {
            if !deadline.allows_another() {
                let left = event.records.len() - done;
                tracing::warn!(left, "stopping before the function's deadline; the stream retries from the first record not handled");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                emf::records(processed, left as u64);
                return response;
            }
            let result = match self.stream.read(record) {
                Read::Skipped(_) => continue,
                Read::Envelope(Err(e)) => Err(e),
                Read::Envelope(Ok(mut envelope)) => {
                    let handled = async {
                        self.redeem(&mut envelope).await?;
                        self.dispatch_logged(envelope, remaining).await.map(drop)
                    };
                    deadline.run(handled).await
                }
            };
            if let Err(e) = result {
                let sequence = record.change.sequence_number.clone();
                tracing::error!(error = %e, sequence = sequence.as_deref().unwrap_or(""), "stream record failed; the batch stops here and is retried from it");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
                break;
            }
            processed += 1;
        }
        emf::records(processed, response.batch_item_failures.len() as u64);
        response
    }

    /// A bare envelope: a Step Functions task input or a direct invoke. The handler's output
    /// is the answer; its error is the function error (`error_type` as the handler named it).
    pub async fn handle_envelope(
        &self,
        value: Value,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let mut envelope = Envelope::from_value(value)?;
        self.redeem(&mut envelope).await?;
        self.dispatch_logged(envelope, remaining).await
    }

    /// Any event the router reads, told apart by shape: an SQS batch, a DynamoDB stream
    /// batch, an EventBridge event or an envelope. Batches answer with their partial batch
    /// response; the others with the handler's output.
    pub async fn handle(
        &self,
        event: Value,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        match classify(&event) {
            Source::Sqs => {
                let batch: QueueBatch = serde_json::from_value(event).map_err(|e| {
                    RouteError::UnrecognisedEvent(format!("an SQS batch that does not parse: {e}"))
                })?;
                Ok(to_json(self.handle_queue(batch.records, remaining).await))
            }
            Source::DynamoDbStream => {
                let batch: DynamoDbEvent =
                    serde_json::from_value(event).map_err(stream_batch_error)?;
                Ok(to_json(self.handle_dynamodb_stream(batch, remaining).await))
            }
            Source::EventBridge => {
                let event: EventBridgeEvent<Value> =
                    serde_json::from_value(event).map_err(|e| {
                        RouteError::UnrecognisedEvent(format!(
                            "an EventBridge event that does not parse: {e}"
                        ))
                    })?;
                self.one_record(self.handle_eventbridge(event, remaining))
                    .await
            }
            Source::Envelope => {
                self.one_record(self.handle_envelope(event, remaining))
                    .await
            }
            Source::Unknown(what) => Err(RouteError::UnrecognisedEvent(what)),
        }
    }

    /// [`Router::handle`] on the event's JSON text. An SQS batch, the common case, is read
    /// straight into its records, and a DynamoDB stream batch from the text too; any other
    /// event goes through a [`Value`] as in `handle`.
    pub async fn handle_json(
        &self,
        text: &str,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        // Any batch reads as an SQS one (what it reads is optional); the first record's
        // `eventSource` then tells which it is, by the rule `classify` applies.
        if let Ok(batch) = serde_json::from_str::<QueueBatch>(text) {
            let first = batch.records.first();
            match batch_source(
                first.and_then(|r| r.event_source.as_deref()),
                first.is_none(),
            ) {
                Source::Sqs => {
                    return Ok(to_json(self.handle_queue(batch.records, remaining).await))
                }
                Source::DynamoDbStream => {
                    let batch: DynamoDbEvent =
                        serde_json::from_str(text).map_err(stream_batch_error)?;
                    return Ok(to_json(self.handle_dynamodb_stream(batch, remaining).await));
                }
                _ => {}
            }
        }
        let event: Value = serde_json::from_str(text).map_err(|e| {
            RouteError::UnrecognisedEvent(format!("an event that is not JSON: {e}"))
        })?;
        self.handle(event, remaining).await
    }
}
