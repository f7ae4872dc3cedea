//! Dead-letter queues of a stack: which there are, what waits in them and why, and moving
//! messages back to their source queue once the fault is fixed.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use eventkit::Envelope;
use serde::Serialize;

/// Why a DLQ command failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// An SQS or CloudFormation call failed.
    #[error("{what} failed: {reason}; check AWS credentials, region and AWS_ENDPOINT_URL")]
    Aws {
        /// The call.
        what: String,
        /// What the SDK said.
        reason: String,
    },
    /// The queue named is not one of the stack's DLQs.
    #[error("`{0}` is not a dead-letter queue of this stack; `eventkit dlq list` names them")]
    UnknownQueue(String),
}

fn aws(what: impl Into<String>, e: impl std::fmt::Display) -> DlqError {
    DlqError::Aws {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// A dead-letter queue.
#[derive(Debug, Clone, Serialize)]
pub struct Dlq {
    /// Its name in the stack (logical id, or output key).
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Its ARN.
    pub arn: String,
    /// Messages waiting.
    pub depth: i64,
    /// The queues that send to it (`RedrivePolicy`), by URL: where a redrive goes.
    pub sources: Vec<String>,
}

/// A message waiting in a DLQ.
#[derive(Debug, Clone, Serialize)]
pub struct Parked {
    /// SQS message id.
    pub message_id: String,
    /// The envelope, when the body is one.
    pub event_type: Option<String>,
    /// Envelope id.
    pub id: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// How many times consumers received it.
    pub receive_count: i64,
    /// When it was first sent (kept across the move to the DLQ).
    pub sent: Option<DateTime<Utc>>,
    /// The raw body when it is not an envelope (first 200 characters).
    pub body: Option<String>,
}

/// The stack's queues (`url` by logical id) and, for each, the DLQ its `RedrivePolicy`
/// names; a queue is a DLQ when another one names it, or when its logical id says so
/// (`...DLQ`, `...Dlq`, `...FailedQueue`: target and destination DLQs have no source queue).
pub async fn find(sqs: &Client, queues: &HashMap<String, String>) -> Result<Vec<Dlq>, DlqError> {
    let mut arns = HashMap::new();
    let mut targets: HashMap<String, Vec<String>> = HashMap::new();
    let mut depths = HashMap::new();
    for (name, url) in queues {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                aws(
                    format!("GetQueueAttributes {name}"),
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
        let attrs = attrs.attributes().cloned().unwrap_or_default();
        if let Some(policy) = attrs.get(&QueueAttributeName::RedrivePolicy) {
            let policy: serde_json::Value = serde_json::from_str(policy).unwrap_or_default();
            if let Some(target) = policy["deadLetterTargetArn"].as_str() {
                targets
                    .entry(target.to_owned())
                    .or_default()
                    .push(url.clone());
            }
        }
        let depth = attrs
            .get(&QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        depths.insert(name.clone(), depth);
        arns.insert(
            name.clone(),
            attrs
                .get(&QueueAttributeName::QueueArn)
                .cloned()
                .unwrap_or_default(),
        );
    }
    let mut dlqs: Vec<Dlq> = queues
        .iter()
        .filter_map(|(name, url)| {
            let arn = arns.get(name)?.clone();
            let named = ["DLQ", "Dlq", "DlqUrl", "FailedQueue", "FailedQueueUrl"]
                .iter()
                .any(|s| name.ends_with(s));
            let sources = targets.get(&arn).cloned().unwrap_or_default();
            (named || !sources.is_empty()).then(|| Dlq {
                name: name.clone(),
                url: url.clone(),
                arn,
                depth: depths[name],
                sources,
            })
        })
        .collect();
    dlqs.sort_by(|a, b| b.depth.cmp(&a.depth).then(a.name.cmp(&b.name)));
    Ok(dlqs)
}

/// Picks one DLQ by name (case-insensitive, with or without a `Url` suffix) or URL.
pub fn pick<'a>(dlqs: &'a [Dlq], which: &str) -> Result<&'a Dlq, DlqError> {
    let wanted = which.trim_end_matches("Url").to_lowercase();
    dlqs.iter()
        .find(|d| d.url == which || d.name.trim_end_matches("Url").to_lowercase() == wanted)
        .ok_or_else(|| DlqError::UnknownQueue(which.to_owned()))
}

/// Up to `max` messages of `url`, left in the queue: each is hidden while the queue is
/// read (one receive returns at most 10), then made visible again.
pub async fn peek(sqs: &Client, url: &str, max: usize) -> Result<Vec<Parked>, DlqError> {
    let mut parked = Vec::new();
    let mut handles = Vec::new();
    while parked.len() < max {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws("ReceiveMessage", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            handles.extend(m.receipt_handle().map(str::to_owned));
            let attr =
                |a: MessageSystemAttributeName| m.attributes().and_then(|x| x.get(&a)).cloned();
            let body = m.body().unwrap_or_default();
            let envelope = eventkit::unwrap::from_sqs_body(body).ok();
            parked.push(Parked {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                event_type: envelope.as_ref().map(|e: &Envelope| e.event_type.clone()),
                id: envelope.as_ref().map(|e| e.id.clone()),
                correlation_id: envelope.as_ref().map(|e| e.correlation_id.clone()),
                receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                sent: attr(MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse().ok())
                    .and_then(DateTime::from_timestamp_millis),
                body: envelope.is_none().then(|| body.chars().take(200).collect()),
            });
        }
    }
    for handle in handles {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| {
                aws(
                    "ChangeMessageVisibility",
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
    }
    Ok(parked)
}

/// Moves every message of `dlq` back to `source` whose envelope type is `only` (all when
/// `None`); `dry_run` counts without moving. Returns how many (would have) moved.
/// `progress` is called after each message.
pub async fn redrive(
    sqs: &Client,
    dlq: &str,
    source: &str,
    only: Option<&str>,
    dry_run: bool,
    progress: impl Fn(usize),
) -> Result<usize, DlqError> {
    let mut moved = 0;
    let mut skipped = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws("ReceiveMessage", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let handle = m.receipt_handle().unwrap_or_default().to_owned();
            let matches = match only {
                None => true,
                Some(t) => eventkit::unwrap::from_sqs_body(body).is_ok_and(|e| e.event_type == t),
            };
            if !matches || dry_run {
                if matches {
                    moved += 1;
                    progress(moved);
                }
                skipped.push(handle);
                continue;
            }
            // Send first, delete after: a crash in between duplicates (the consumers are
            // idempotent), never loses.
            sqs.send_message()
                .queue_url(source)
                .message_body(body)
                .set_message_attributes(m.message_attributes().cloned())
                .send()
                .await
                .map_err(|e| aws("SendMessage", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            sqs.delete_message()
                .queue_url(dlq)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| aws("DeleteMessage", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            moved += 1;
            progress(moved);
        }
    }
    for handle in skipped {
        sqs.change_message_visibility()
            .queue_url(dlq)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| {
                aws(
                    "ChangeMessageVisibility",
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
    }
    Ok(moved)
}

/// Empties a DLQ.
pub async fn purge(sqs: &Client, url: &str) -> Result<(), DlqError> {
    sqs.purge_queue()
        .queue_url(url)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws("PurgeQueue", aws_sdk_sqs::error::DisplayErrorContext(e)))
}
