//! Correlated request/reply over messaging, in two forms. One crate, deployed as the
//! requester and as the responder (`ROLE`).
//!
//! * **Queues**: the requester ([`requester`]) opens a pending request in DynamoDB keyed by
//!   the request's correlation id, with a deadline, and sends `stock.check.requested`
//!   carrying its reply address (`replyto`, an envelope extension). The responder replies
//!   there. The requester matches each reply to its pending request in one conditional
//!   write; a reply that is late, a duplicate, or for no pending request is dropped with a
//!   log line. `stock.check.result` answers what became of a check, a typed
//!   [`CheckResult`]: `answered`, `pending`, or `timed_out` once the deadline passed.
//! * **Step Functions**: a state machine sends the request with `.waitForTaskToken`; the
//!   request carries the task token (`tasktoken`) and the responder answers with
//!   `SendTaskSuccess`/`SendTaskFailure`; the state's `TimeoutSeconds` ends a silent
//!   responder's wait.
//!
//! The responder's stock comes from `STOCK` (JSON, sku -> units). For tests and demos,
//! SKUs starting `silent-` get no reply, `slow-<ms>-` a reply after that delay, `dup-` the
//! same reply twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventkit::envelope::stable_id;
use eventkit::idempotency::StoreError;
use eventkit::publish::{QueueSender, SendError};
use eventkit::ErrorType;
use eventkit::{Event, Router};
use eventkit_contracts::stock::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod aws;

/// Why a request or reply failed.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum ReplyError {
    /// The input is unusable.
    #[error("invalid request: {0}")]
    #[error_type("InvalidRequest")]
    Invalid(String),
    /// A check is already pending under this correlation id.
    #[error("a stock check is already pending under correlation id `{0}`; start each check in its own conversation")]
    AlreadyPending(String),
    /// The reply address is not one this responder may send to.
    #[error("reply address `{0}` is not allowed (REPLY_QUEUES); a requester must reply through a queue the responder knows")]
    ReplyAddressNotAllowed(String),
    /// The request has nowhere to reply to.
    #[error("request `{0}` carries neither `replyto` nor `tasktoken`: there is nowhere to reply")]
    NoReplyAddress(String),
    /// A store, queue or Step Functions call failed; retryable.
    #[error("{0}")]
    #[error_type("TransientError")]
    Transient(String),
}

impl From<StoreError> for ReplyError {
    fn from(e: StoreError) -> Self {
        ReplyError::Transient(e.to_string())
    }
}

impl From<SendError> for ReplyError {
    fn from(e: SendError) -> Self {
        ReplyError::Transient(e.to_string())
    }
}

/// A pending request as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    /// Epoch ms after which replies are late.
    pub deadline_ms: i64,
    /// The reply, once answered in time.
    pub reply: Option<CheckReplied>,
}

/// How a reply matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// It answered its pending request.
    Answered,
    /// The request was already answered: a duplicate, dropped.
    Duplicate,
    /// The deadline had passed: late, dropped.
    Late,
    /// No request is pending under its correlation id: dropped.
    Unknown,
}

/// The requester's table of pending requests (`pk` = correlation id).
#[async_trait]
pub trait PendingRequests: Send + Sync {
    /// Opens a request; `false` when one is already pending under `id`.
    async fn open(&self, id: &str, deadline_ms: i64) -> Result<bool, StoreError>;
    /// Records `reply` if `id` is pending and its deadline is after `now_ms`, in one
    /// conditional write; says how it matched.
    async fn answer(
        &self,
        id: &str,
        reply: &CheckReplied,
        now_ms: i64,
    ) -> Result<Matched, StoreError>;
    /// The request.
    async fn get(&self, id: &str) -> Result<Option<PendingRecord>, StoreError>;
}

/// Answers Step Functions tasks.
#[async_trait]
pub trait TaskTokens: Send + Sync {
    /// `SendTaskSuccess`.
    async fn succeed(&self, token: &str, output: &Value) -> Result<(), ReplyError>;
    /// `SendTaskFailure`.
    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), ReplyError>;
}

/// The requester's dependencies.
pub struct Requester<P, Q> {
    /// Pending requests.
    pub pending: P,
    /// Sends requests.
    pub queues: Q,
    /// The responder's queue.
    pub requests_queue: String,
    /// Where replies come back (the `replyto` the requests carry).
    pub reply_queue: String,
}

/// The responder's dependencies.
pub struct Responder<Q, T> {
    /// Sends replies.
    pub queues: Q,
    /// Answers Step Functions tasks.
    pub tasks: T,
    /// Units on hand per SKU.
    pub stock: HashMap<String, u32>,
    /// Queues replies may go to.
    pub reply_queues: Vec<String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `stock.check.start`: open the pending request, send it; answers the request id (the
/// correlation id every message of this check carries) and the deadline.
pub async fn start<P: PendingRequests, Q: QueueSender>(
    r: Arc<Requester<P, Q>>,
    command: Event<StartCheck>,
) -> Result<Value, ReplyError> {
    let start = &command.data;
    if start.sku.trim().is_empty() || start.timeout_ms == 0 {
        return Err(ReplyError::Invalid(
            "`sku` must not be empty and `timeout_ms` must be positive".into(),
        ));
    }
    let id = command.correlation_id.clone();
    let deadline_ms = now_ms() + start.timeout_ms as i64;
    if !r.pending.open(&id, deadline_ms).await? {
        return Err(ReplyError::AlreadyPending(id));
    }
    let mut request = command
        .caused(
            REQUESTER,
            CHECK_REQUESTED,
            json!(CheckRequested {
                sku: start.sku.clone(),
                quantity: start.quantity
            }),
        )
        .with_id(stable_id(&[&command.id, CHECK_REQUESTED]));
    request
        .extensions
        .insert("replyto".into(), json!(r.reply_queue));
    r.queues.send_to(&r.requests_queue, &request).await?;
    tracing::info!(request_id = %id, sku = %start.sku, deadline_ms, "request sent");
    Ok(json!({"request_id": id, "deadline_ms": deadline_ms}))
}

/// `stock.check.replied`: match the reply, or drop it with the reason.
pub async fn on_reply<P: PendingRequests, Q>(
    r: Arc<Requester<P, Q>>,
    reply: Event<CheckReplied>,
) -> Result<String, ReplyError> {
    let id = reply.correlation_id.clone();
    let matched = r.pending.answer(&id, &reply.data, now_ms()).await?;
    match matched {
        Matched::Answered => tracing::info!(request_id = %id, "reply matched its request"),
        Matched::Duplicate => {
            tracing::warn!(request_id = %id, reply_id = %reply.id, "duplicate reply dropped: the request was already answered")
        }
        Matched::Late => {
            tracing::warn!(request_id = %id, reply_id = %reply.id, "late reply dropped: the request timed out")
        }
        Matched::Unknown => {
            tracing::warn!(request_id = %id, reply_id = %reply.id, "unknown reply dropped: no request is pending under its correlation id")
        }
    }
    Ok(format!("{matched:?}"))
}

/// `stock.check.result`: what became of a check.
pub async fn result<P: PendingRequests, Q>(
    r: Arc<Requester<P, Q>>,
    query: Event<CheckResultQuery>,
) -> Result<CheckResult, ReplyError> {
    let id = query.data.request_id;
    Ok(match r.pending.get(&id).await? {
        None => CheckResult::Unknown,
        Some(PendingRecord {
            reply: Some(reply), ..
        }) => CheckResult::Answered { reply },
        Some(PendingRecord { deadline_ms, .. }) if deadline_ms <= now_ms() => {
            CheckResult::TimedOut { deadline_ms }
        }
        Some(PendingRecord { deadline_ms, .. }) => CheckResult::Pending { deadline_ms },
    })
}

/// `stock.check.requested`: answer by the reply address or the task token.
pub async fn respond<Q: QueueSender, T: TaskTokens>(
    r: Arc<Responder<Q, T>>,
    request: Event<CheckRequested>,
) -> Result<String, ReplyError> {
    let asked = &request.data;
    if asked.sku.starts_with("silent-") {
        tracing::info!(sku = %asked.sku, "silent by design: no reply");
        return Ok("silent".into());
    }
    if let Some(ms) = asked
        .sku
        .strip_prefix("slow-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|ms| ms.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let known = r.stock.get(&asked.sku).copied();
    let on_hand = known.unwrap_or(0);
    let reply = CheckReplied {
        sku: asked.sku.clone(),
        on_hand,
        available: on_hand >= asked.quantity,
    };
    let token = request.extensions.get("tasktoken").and_then(Value::as_str);
    let address = request.extensions.get("replyto").and_then(Value::as_str);
    match (token, address) {
        (Some(token), _) => {
            match known {
                Some(_) => r.tasks.succeed(token, &json!(reply)).await?,
                None => {
                    r.tasks
                        .fail(
                            token,
                            "UnknownSku",
                            &format!("no stock record for `{}`", asked.sku),
                        )
                        .await?
                }
            }
            Ok("task answered".into())
        }
        (None, Some(address)) => {
            if !r.reply_queues.iter().any(|q| q == address) {
                return Err(ReplyError::ReplyAddressNotAllowed(address.to_owned()));
            }
            let answer = request
                .caused(RESPONDER, CHECK_REPLIED, json!(reply))
                .with_id(stable_id(&[&request.id, CHECK_REPLIED]));
            let times = if asked.sku.starts_with("dup-") { 2 } else { 1 };
            for _ in 0..times {
                r.queues.send_to(address, &answer).await?;
            }
            tracing::info!(sku = %asked.sku, on_hand, times, "replied");
            Ok("replied".into())
        }
        (None, None) => Err(ReplyError::NoReplyAddress(request.id.clone())),
    }
}

/// The requester function.
pub fn requester<P: PendingRequests + 'static, Q: QueueSender + 'static>(
    r: Requester<P, Q>,
) -> Router<Requester<P, Q>> {
    Router::with_state(r)
        .on(START_CHECK, start::<P, Q>)
        .on(CHECK_REPLIED, on_reply::<P, Q>)
        .on(CHECK_RESULT, result::<P, Q>)
}

/// The responder function.
pub fn responder<Q: QueueSender + 'static, T: TaskTokens + 'static>(
    r: Responder<Q, T>,
) -> Router<Responder<Q, T>> {
    Router::with_state(r).on(CHECK_REQUESTED, respond::<Q, T>)
}

/// Parses `STOCK` (JSON object, sku -> units).
pub fn parse_stock(text: &str) -> Result<HashMap<String, u32>, ReplyError> {
    serde_json::from_str(text).map_err(|e| {
        ReplyError::Invalid(format!("STOCK is not a JSON object of sku -> units: {e}"))
    })
}

#[cfg(test)]
mod tests;
