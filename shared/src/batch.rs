//! SQS partial batch responses: run a handler per record and report only the failures, so
//! Lambda deletes the successes and the failures go back to the queue (and on to its DLQ
//! after `maxReceiveCount`). Needs `FunctionResponseTypes: [ReportBatchItemFailures]` on
//! the event source mapping.
//!
//! Standard queues: records run concurrently. FIFO queues: records run in order; the first
//! failure stops the batch and every later record is reported failed (or, with
//! [`FifoMode::SkipFailedGroup`], only later records of the same message group). A
//! malformed record or a panicking handler fails alone.
//!
//! ```
//! use aws_lambda_events::event::sqs::SqsEvent;
//! use eventkit::batch::{process_batch, BatchOptions, RecordError};
//! use serde_json::json;
//!
//! # tokio_test(async {
//! let batch: SqsEvent = serde_json::from_value(json!({"Records": [
//!     {"messageId": "m-1", "body": "5"},
//!     {"messageId": "m-2", "body": "five"},
//!     {"messageId": "m-3", "body": "7"},
//! ]})).unwrap();
//! let response = process_batch(batch, BatchOptions::default(), |message| async move {
//!     let body = message.body.unwrap_or_default();
//!     body.parse::<i64>().map(drop).map_err(|e| RecordError(format!("`{body}`: {e}")))
//! })
//! .await;
//! // Only m-2 goes back to the queue (and, after maxReceiveCount, to its DLQ).
//! let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
//! assert_eq!(failed, ["m-2"]);
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;

use crate::otel::FutureExt as _;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::claim_check::ClaimCheck;
use crate::envelope::Envelope;
use crate::observability;

/// What a FIFO batch does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoMode {
    /// Stop at the first failure; report it and every later record failed.
    StopAtFirstFailure,
    /// Keep going with other message groups; fail the rest of the failing group only.
    SkipFailedGroup,
}

/// Batch settings.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Records processed at once on a standard queue.
    pub concurrency: usize,
    /// FIFO behaviour.
    pub fifo_mode: FifoMode,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: 10,
            fifo_mode: FifoMode::StopAtFirstFailure,
        }
    }
}

/// A record's failure, as the batch reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

impl RecordError {
    /// Wraps any displayable error.
    pub fn from_display(e: impl std::fmt::Display) -> Self {
        RecordError(e.to_string())
    }
}

fn is_fifo(record: &SqsMessage) -> bool {
    record
        .event_source_arn
        .as_deref()
        .is_some_and(|arn| arn.ends_with(".fifo"))
}

fn message_id(record: &SqsMessage) -> String {
    record.message_id.clone().unwrap_or_default()
}

fn group_id(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

/// Runs one record, turning a panic into a failure.
async fn run_one<F, Fut, E>(record: SqsMessage, handler: &F) -> Result<(), String>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let id = message_id(&record);
    let span = tracing::info_span!("sqs_record", message_id = %id);
    let result = AssertUnwindSafe(handler(record).instrument(span.clone()))
        .catch_unwind()
        .await;
    let _enter = span.enter();
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "record failed; returned to the queue");
            Err(e.to_string())
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            tracing::error!(panic = %what, "record handler panicked; returned to the queue");
            Err(what)
        }
    }
}

/// Processes a batch with a per-record handler and returns the partial batch response.
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    options: BatchOptions,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    let records = event.records;
    if records.first().is_some_and(is_fifo) {
        let keys = |r: &SqsMessage| (message_id(r), group_id(r).map(str::to_owned));
        return in_order(records, options.fifo_mode, keys, |r| run_one(r, &handler)).await;
    }
    let results: Vec<(String, Result<(), String>)> = futures::stream::iter(records)
        .map(|record| {
            let id = message_id(&record);
            let handler = &handler;
            async move { (id, run_one(record, handler).await) }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    for (id, result) in results {
        if result.is_err() {
            response.add_failure(id);
        }
    }
    response
}

/// A FIFO batch: records one at a time, in order; after a failure, every later record (or,
/// with [`FifoMode::SkipFailedGroup`], every later record of its group) fails unrun.
async fn in_order<R, Fut>(
    records: Vec<R>,
    mode: FifoMode,
    keys: impl Fn(&R) -> (String, Option<String>),
    run: impl Fn(R) -> Fut,
) -> SqsBatchResponse
where
    Fut: Future<Output = Result<(), String>>,
{
    let mut response = SqsBatchResponse::default();
    let mut failed_groups: Vec<Option<String>> = Vec::new();
    let mut stopped = false;
    for record in records {
        let (id, group) = keys(&record);
        let skip = match mode {
            FifoMode::StopAtFirstFailure => stopped,
            FifoMode::SkipFailedGroup => failed_groups.contains(&group),
        };
        if skip {
            response.add_failure(id);
            continue;
        }
        if run(record).await.is_err() {
            response.add_failure(id);
            stopped = true;
            failed_groups.push(group);
        }
    }
    response
}

/// What the envelope batch reads of an SQS message: its id, body and the attributes that
/// steer it. Read from an invocation's text without the rest of the message (no maps of
/// attributes, no fields nothing reads), or taken from an [`SqsMessage`].
#[derive(Debug, Default, serde::Deserialize)]
#[serde(from = "WireRecord")]
pub(crate) struct QueueRecord {
    id: String,
    body: Option<String>,
    /// The event source, which tells an SQS batch from another kind of `Records`.
    pub(crate) event_source: Option<String>,
    fifo: bool,
    group: Option<String>,
    /// The message's `AWSTraceHeader` (X-Ray), the trace parent when the envelope has none.
    xray: Option<String>,
    /// Received before (`ApproximateReceiveCount` above 1).
    pub(crate) retried: bool,
    /// Sent through the SQS Extended Client: the body is a pointer to S3.
    offloaded: bool,
}

/// An SQS batch as [`process_queue`] reads it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct QueueBatch {
    #[serde(rename = "Records")]
    pub(crate) records: Vec<QueueRecord>,
}

#[derive(serde::Deserialize)]
struct WireRecord {
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    body: Option<String>,
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: Option<String>,
    attributes: Option<WireAttributes>,
    #[serde(rename = "messageAttributes")]
    message_attributes: Option<WireMessageAttributes>,
}

#[derive(Default, serde::Deserialize)]
struct WireAttributes {
    #[serde(rename = "ApproximateReceiveCount")]
    receive_count: Option<String>,
    #[serde(rename = "MessageGroupId")]
    group: Option<String>,
    #[serde(rename = "AWSTraceHeader")]
    xray: Option<String>,
}

// The names are `claim_check::SIZE_ATTRIBUTE` and `LEGACY_SIZE_ATTRIBUTE`.
#[derive(Default, serde::Deserialize)]
struct WireMessageAttributes {
    #[serde(rename = "ExtendedPayloadSize")]
    size: Option<serde::de::IgnoredAny>,
    #[serde(rename = "SQSLargePayloadSize")]
    legacy_size: Option<serde::de::IgnoredAny>,
}

fn retried(receive_count: Option<&str>) -> bool {
    receive_count
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n > 1)
}

impl From<WireRecord> for QueueRecord {
    fn from(wire: WireRecord) -> Self {
        let attributes = wire.attributes.unwrap_or_default();
        let message_attributes = wire.message_attributes.unwrap_or_default();
        QueueRecord {
            id: wire.message_id.unwrap_or_default(),
            body: wire.body,
            event_source: wire.event_source,
            fifo: wire
                .event_source_arn
                .is_some_and(|arn| arn.ends_with(".fifo")),
            group: attributes.group,
            xray: attributes.xray,
            retried: retried(attributes.receive_count.as_deref()),
            offloaded: message_attributes.size.is_some()
                || message_attributes.legacy_size.is_some(),
        }
    }
}

impl From<SqsMessage> for QueueRecord {
    fn from(mut message: SqsMessage) -> Self {
        use crate::claim_check::{LEGACY_SIZE_ATTRIBUTE, SIZE_ATTRIBUTE};
        QueueRecord {
            fifo: is_fifo(&message),
            retried: retried(
                message
                    .attributes
                    .get("ApproximateReceiveCount")
                    .map(String::as_str),
            ),
            offloaded: message.message_attributes.contains_key(SIZE_ATTRIBUTE)
                || message
                    .message_attributes
                    .contains_key(LEGACY_SIZE_ATTRIBUTE),
            group: message.attributes.remove("MessageGroupId"),
            xray: message.attributes.remove("AWSTraceHeader"),
            id: message.message_id.unwrap_or_default(),
            body: message.body,
            event_source: message.event_source,
        }
    }
}

/// A record read into an envelope, with the claim-check objects it came from.
struct Readable {
    id: String,
    envelope: Envelope,
    pointers: Vec<crate::claim_check::S3Ref>,
    /// The message's `AWSTraceHeader` (X-Ray), the trace parent when the envelope has none.
    xray: Option<String>,
}

/// Redeems (SQS Extended Client body, then `dataref`) and unwraps one record.
async fn read_record(
    body: Option<String>,
    offloaded: bool,
    claim_check: Option<&ClaimCheck>,
) -> Result<(Envelope, Vec<crate::claim_check::S3Ref>), RecordError> {
    let Some(cc) = claim_check else {
        return read_plain(body);
    };
    let redeemed = cc
        .redeem_body(body.unwrap_or_default(), offloaded)
        .await
        .map_err(RecordError::from_display)?;
    let mut envelope =
        crate::unwrap::from_sqs_body(&redeemed.body).map_err(RecordError::from_display)?;
    let data_pointer = cc
        .redeem(&mut envelope)
        .await
        .map_err(RecordError::from_display)?;
    Ok((
        envelope,
        [redeemed.pointer, data_pointer]
            .into_iter()
            .flatten()
            .collect(),
    ))
}

/// [`read_record`] without a claim check: nothing to fetch, so no future.
fn read_plain(
    body: Option<String>,
) -> Result<(Envelope, Vec<crate::claim_check::S3Ref>), RecordError> {
    let body = body.unwrap_or_default();
    let envelope = crate::unwrap::from_sqs_body(&body).map_err(RecordError::from_display)?;
    if envelope.dataref.is_some() {
        return Err(RecordError(
            "envelope is claim-checked but no claim check is configured".into(),
        ));
    }
    Ok((envelope, Vec::new()))
}

/// Runs the handler on one envelope, in its span, turning a panic into a failure.
async fn run_envelope<F, Fut, E>(
    readable: Readable,
    claim_check: Option<&ClaimCheck>,
    handler: &F,
) -> Result<(), String>
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let span = observability::record_span(&readable.id, &readable.envelope);
    let xray = crate::otel::xray_context(readable.xray.as_deref());
    let result = AssertUnwindSafe(
        handler(readable.envelope)
            .instrument(span.clone())
            .with_context(xray),
    )
    .catch_unwind()
    .await;
    let _enter = span.enter();
    match result {
        Ok(Ok(())) => {
            if let Some(cc) = claim_check {
                for pointer in &readable.pointers {
                    if let Err(e) = cc.release(pointer).await {
                        tracing::warn!(error = %e, "processed, but the claim-check object could not be deleted");
                    }
                }
            }
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "record failed; returned to the queue");
            Err(e.to_string())
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            tracing::error!(panic = %what, "record handler panicked; returned to the queue");
            Err(what)
        }
    }
}

/// Processes a batch of envelopes: each record's body is redeemed from the claim check when
/// offloaded, unwrapped (plain envelope or EventBridge event), and handed over with a span
/// carrying its correlation id, causation id and type. A record that cannot be read fails
/// alone. Claim-check objects are released after success when so configured.
///
/// On a standard queue, records that share a partition key (`partitionkey`, else `subject`)
/// run one after another in batch order, so an entity's events in one batch keep their
/// order; other records run concurrently. FIFO queues keep the FIFO rules above.
pub async fn process_envelopes<F, Fut, E>(
    event: SqsEvent,
    options: BatchOptions,
    claim_check: Option<&ClaimCheck>,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let records = event.records.into_iter().map(QueueRecord::from).collect();
    process_queue(records, options, claim_check, handler).await
}

/// Logs, in the record's span, why it cannot be read.
fn log_unreadable(id: &str, e: &RecordError) {
    tracing::info_span!("sqs_record", message_id = %id)
        .in_scope(|| tracing::error!(error = %e, "record cannot be read; returned to the queue"));
}

/// [`process_envelopes`] on records as the batch reads them.
pub(crate) async fn process_queue<F, Fut, E>(
    records: Vec<QueueRecord>,
    options: BatchOptions,
    claim_check: Option<&ClaimCheck>,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let handler = &handler;
    if records.first().is_some_and(|r| r.fifo) {
        let keys = |r: &QueueRecord| (r.id.clone(), r.group.clone());
        return in_order(records, options.fifo_mode, keys, |r| async move {
            let (envelope, pointers) = read_record(r.body, r.offloaded, claim_check)
                .await
                .map_err(|e| {
                    log_unreadable(&r.id, &e);
                    e.0
                })?;
            let readable = Readable {
                id: r.id,
                envelope,
                pointers,
                xray: r.xray,
            };
            run_envelope(readable, claim_check, handler).await
        })
        .await;
    }
    let mut response = SqsBatchResponse::default();
    let concurrency = options.concurrency.max(1);
    let read: Vec<(String, Option<String>, Result<_, RecordError>)> = match claim_check {
        // Reading is parsing alone: done in place, without a future per record.
        None => records
            .into_iter()
            .map(|r| {
                let result = read_plain(r.body);
                (r.id, r.xray, result)
            })
            .collect(),
        Some(_) => {
            futures::stream::iter(records)
                .map(|r| async move {
                    let result = read_record(r.body, r.offloaded, claim_check).await;
                    (r.id, r.xray, result)
                })
                .buffered(concurrency)
                .collect()
                .await
        }
    };
    // Groups in first-seen order; a record without a key is a group of its own.
    let mut groups: Vec<Vec<Readable>> = Vec::new();
    let mut by_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (id, xray, result) in read {
        match result {
            Err(e) => {
                log_unreadable(&id, &e);
                response.add_failure(id)
            }
            Ok((envelope, pointers)) => {
                let key = envelope
                    .partition_key
                    .clone()
                    .or_else(|| envelope.subject.clone());
                let readable = Readable {
                    id,
                    envelope,
                    pointers,
                    xray,
                };
                match key.and_then(|k| by_key.get(&k).copied().map(|i| (k, i))) {
                    Some((_, i)) => groups[i].push(readable),
                    None => {
                        if let Some(k) = readable
                            .envelope
                            .partition_key
                            .clone()
                            .or_else(|| readable.envelope.subject.clone())
                        {
                            by_key.insert(k, groups.len());
                        }
                        groups.push(vec![readable]);
                    }
                }
            }
        }
    }
    let run_group = |group: Vec<Readable>| async move {
        let mut failed = Vec::new();
        for readable in group {
            let id = readable.id.clone();
            if run_envelope(readable, claim_check, handler).await.is_err() {
                failed.push(id);
            }
        }
        failed
    };
    // Every group at once when the limit allows: `join_all` places each group's future
    // (kilobytes) once, where `buffered` moves it through its queue.
    let failures: Vec<Vec<String>> = if groups.len() <= concurrency {
        futures::future::join_all(groups.into_iter().map(run_group)).await
    } else {
        futures::stream::iter(groups)
            .map(run_group)
            .buffered(concurrency)
            .collect()
            .await
    };
    for id in failures.into_iter().flatten() {
        response.add_failure(id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// A record read from the invocation's text carries what the same record read as an
    /// `SqsMessage` does: the two entry points steer a batch alike.
    #[test]
    fn a_record_reads_from_text_as_from_an_sqs_message() {
        let records = json!({"Records": [
            {"messageId": "m-1", "receiptHandle": "rh", "body": "{\"a\": 1}",
             "attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": "g-1",
                 "AWSTraceHeader": "Root=1-5e1b4151-5ac6c58f5b5dbd6a6d8b1fa0;Parent=53995c3f42cd8ad8;Sampled=1",
                 "SentTimestamp": "1764000000000"},
             "messageAttributes": {"ExtendedPayloadSize": {"stringValue": "300000",
                 "stringListValues": [], "binaryListValues": [], "dataType": "Number"}},
             "md5OfBody": "0", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q.fifo", "awsRegion": "us-east-1"},
            {"messageId": "m-2", "body": "b", "attributes": {"ApproximateReceiveCount": "1"},
             "messageAttributes": {"SQSLargePayloadSize": {"stringValue": "1",
                 "stringListValues": [], "binaryListValues": [], "dataType": "Number"}},
             "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q"},
            {"messageId": "m-3", "attributes": null, "messageAttributes": null},
            {}
        ]});
        let from_text: QueueBatch = serde_json::from_str(&records.to_string()).unwrap();
        let from_message: SqsEvent = serde_json::from_value(records).unwrap();
        let from_message: Vec<QueueRecord> = from_message
            .records
            .into_iter()
            .map(QueueRecord::from)
            .collect();
        assert_eq!(
            format!("{:?}", from_text.records),
            format!("{from_message:?}")
        );
        let first = &from_text.records[0];
        assert!(first.fifo && first.retried && first.offloaded);
        assert_eq!(first.group.as_deref(), Some("g-1"));
        assert!(first
            .xray
            .as_deref()
            .is_some_and(|x| x.starts_with("Root=")));
        let second = &from_text.records[1];
        assert!(!second.fifo && !second.retried && second.offloaded);
        assert!(!from_text.records[3].offloaded && from_text.records[3].id.is_empty());
    }

    fn record(id: &str, body: &str, fifo_group: Option<&str>) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = Some(id.into());
        r.body = Some(body.into());
        r.event_source_arn = Some(match fifo_group {
            Some(_) => "arn:aws:sqs:us-east-1:000000000000:q.fifo".into(),
            None => "arn:aws:sqs:us-east-1:000000000000:q".into(),
        });
        if let Some(g) = fifo_group {
            r.attributes.insert("MessageGroupId".into(), g.into());
        }
        r
    }

    fn batch(records: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = records;
        e
    }

    fn failed(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn standard_queue_reports_only_failures_and_survives_panics() {
        let event = batch(vec![
            record("1", "ok", None),
            record("2", "fail", None),
            record("3", "panic", None),
            record("4", "ok", None),
        ]);
        let seen = Mutex::new(Vec::new());
        let response = process_batch(event, BatchOptions::default(), |r| {
            let body = r.body.clone().unwrap();
            seen.lock().unwrap().push(body.clone());
            async move {
                match body.as_str() {
                    "fail" => Err("bad record"),
                    "panic" => panic!("handler bug"),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(failed(&response), vec!["2", "3"]);
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn fifo_stops_at_the_first_failure() {
        let event = batch(vec![
            record("1", "ok", Some("a")),
            record("2", "fail", Some("a")),
            record("3", "ok", Some("b")),
            record("4", "ok", Some("a")),
        ]);
        let ran = Mutex::new(Vec::new());
        let response = process_batch(event, BatchOptions::default(), |r| {
            ran.lock().unwrap().push(r.message_id.clone().unwrap());
            let fail = r.body.as_deref() == Some("fail");
            async move {
                if fail {
                    Err("x")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed(&response), vec!["2", "3", "4"]);
        assert_eq!(*ran.lock().unwrap(), vec!["1", "2"]);
    }

    #[tokio::test]
    async fn fifo_can_fail_only_the_failing_group() {
        let event = batch(vec![
            record("1", "fail", Some("a")),
            record("2", "ok", Some("b")),
            record("3", "ok", Some("a")),
            record("4", "ok", Some("b")),
        ]);
        let options = BatchOptions {
            fifo_mode: FifoMode::SkipFailedGroup,
            ..Default::default()
        };
        let response = process_batch(event, options, |r| {
            let fail = r.body.as_deref() == Some("fail");
            async move {
                if fail {
                    Err("x")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed(&response), vec!["1", "3"]);
    }

    #[tokio::test]
    async fn one_entitys_records_run_in_batch_order_others_concurrently() {
        let event_for = |key: &str, n: u32| {
            Envelope::new("s", "t", json!({"n": n}))
                .with_partition_key(key)
                .to_json()
        };
        let event = batch(vec![
            record("1", &event_for("a", 1), None),
            record("2", &event_for("b", 1), None),
            record("3", &event_for("a", 2), None),
            record("4", &event_for("a", 3), None),
        ]);
        let started = Mutex::new(Vec::new());
        let response = process_envelopes(event, BatchOptions::default(), None, |e| {
            let key = e.partition_key.clone().unwrap();
            let n = e.data.as_ref().unwrap()["n"].as_u64().unwrap();
            started.lock().unwrap().push((key.clone(), n));
            async move {
                // Entity a's first event is slow: its later events must still wait for it.
                if key == "a" && n == 1 {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Ok::<(), String>(())
            }
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        let started = started.into_inner().unwrap();
        let a: Vec<u64> = started
            .iter()
            .filter(|(k, _)| k == "a")
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(a, vec![1, 2, 3]);
        // b did not wait for a's slow first event.
        let b_at = started.iter().position(|(k, _)| k == "b").unwrap();
        assert!(b_at < 2, "{started:?}");
    }

    #[tokio::test]
    async fn malformed_envelopes_fail_alone() {
        let good = Envelope::new("s", "t", json!({"n": 1})).to_json();
        let missing_id = json!({"specversion": "1.0", "source": "s", "type": "t", "time": "2026-01-01T00:00:00Z"}).to_string();
        let event = batch(vec![
            record("1", &good, None),
            record("2", "not json", None),
            record("3", &missing_id, None),
        ]);
        let handled = Mutex::new(0);
        let response = process_envelopes(event, BatchOptions::default(), None, |e| {
            assert_eq!(e.source, "s");
            *handled.lock().unwrap() += 1;
            async { Ok::<(), String>(()) }
        })
        .await;
        assert_eq!(failed(&response), vec!["2", "3"]);
        assert_eq!(*handled.lock().unwrap(), 1);
    }
}
