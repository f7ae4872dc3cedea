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

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use opentelemetry::context::FutureExt as _;
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
        let mut failed_groups: Vec<Option<String>> = Vec::new();
        let mut stopped = false;
        for record in records {
            let group = group_id(&record).map(str::to_owned);
            let skip = match options.fifo_mode {
                FifoMode::StopAtFirstFailure => stopped,
                FifoMode::SkipFailedGroup => failed_groups.contains(&group),
            };
            if skip {
                response.add_failure(message_id(&record));
                continue;
            }
            let id = message_id(&record);
            if run_one(record, &handler).await.is_err() {
                response.add_failure(id);
                stopped = true;
                failed_groups.push(group);
            }
        }
        return response;
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

/// A record read into an envelope, with the claim-check objects it came from.
struct Readable {
    id: String,
    envelope: Envelope,
    pointers: Vec<crate::claim_check::S3Ref>,
    /// The message's `AWSTraceHeader` (X-Ray), the trace parent when the envelope has none.
    xray: Option<String>,
}

fn xray_header(record: &SqsMessage) -> Option<String> {
    record.attributes.get("AWSTraceHeader").cloned()
}

/// Redeems (SQS Extended Client body, then `dataref`) and unwraps one record.
async fn read_record(
    record: SqsMessage,
    claim_check: Option<&ClaimCheck>,
) -> Result<(Envelope, Vec<crate::claim_check::S3Ref>), RecordError> {
    let Some(cc) = claim_check else {
        return read_plain(record);
    };
    let redeemed = cc
        .redeem_sqs(&record)
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
    record: SqsMessage,
) -> Result<(Envelope, Vec<crate::claim_check::S3Ref>), RecordError> {
    let body = record.body.unwrap_or_default();
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
    let handler = &handler;
    if event.records.first().is_some_and(is_fifo) {
        return process_batch(event, options, move |record| async move {
            let id = message_id(&record);
            let xray = xray_header(&record);
            let (envelope, pointers) = read_record(record, claim_check).await?;
            run_envelope(
                Readable {
                    id,
                    envelope,
                    pointers,
                    xray,
                },
                claim_check,
                handler,
            )
            .await
            .map_err(RecordError)
        })
        .await;
    }
    let mut response = SqsBatchResponse::default();
    let concurrency = options.concurrency.max(1);
    let read: Vec<(String, Option<String>, Result<_, RecordError>)> = match claim_check {
        // Reading is parsing alone: done in place, without a future per record.
        None => event
            .records
            .into_iter()
            .map(|record| {
                (
                    message_id(&record),
                    xray_header(&record),
                    read_plain(record),
                )
            })
            .collect(),
        Some(_) => {
            futures::stream::iter(event.records)
                .map(|record| async move {
                    let id = message_id(&record);
                    let xray = xray_header(&record);
                    let span = tracing::info_span!("sqs_record", message_id = %id);
                    let result = read_record(record, claim_check).instrument(span).await;
                    (id, xray, result)
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
                tracing::info_span!("sqs_record", message_id = %id).in_scope(
                    || tracing::error!(error = %e, "record cannot be read; returned to the queue"),
                );
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
    let failures: Vec<Vec<String>> = futures::stream::iter(groups)
        .map(|group| async move {
            let mut failed = Vec::new();
            for readable in group {
                let id = readable.id.clone();
                if run_envelope(readable, claim_check, handler).await.is_err() {
                    failed.push(id);
                }
            }
            failed
        })
        .buffered(concurrency)
        .collect()
        .await;
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
