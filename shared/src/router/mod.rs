//! The record router: one Lambda function, several event types, each dispatched to a typed
//! handler, from whichever source invoked the function.
//!
//! ```
//! use std::sync::Arc;
//! use eventkit::router::Router;
//! use eventkit::{Envelope, Event};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize)]
//! struct OrderPlaced { order_id: String, total: i64 }
//!
//! struct Shop { name: &'static str }
//!
//! // The payload arrives typed; the envelope's attributes are the event's (`event.id`).
//! async fn placed(shop: Arc<Shop>, event: Event<OrderPlaced>) -> Result<String, lambda_runtime::Error> {
//!     let order = &event.data;
//!     Ok(format!("{} accepted {} for {}", shop.name, order.order_id, order.total))
//! }
//!
//! # tokio_test(async {
//! let router = Router::with_state(Shop { name: "eventkit" }).on("order.placed", placed);
//! let event = Envelope::new("shop", "order.placed", json!({"order_id": "o-1", "total": 5}));
//! // An envelope as a Step Functions task input or a direct invoke; SQS batches,
//! // EventBridge events and DynamoDB stream batches go through the same `handle`.
//! let answer = router.handle(serde_json::to_value(&event).unwrap(), None).await.unwrap();
//! assert_eq!(answer, json!("eventkit accepted o-1 for 5"));
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! * **Dispatch** by `type`, and by `schemaversion` where a handler asks
//!   ([`Router::on_version`]); the payload is deserialised into the handler's type and the
//!   handler gets it as an [`Event<T>`]: `data: T`, present, and the envelope's attributes
//!   (`Event<Option<T>>` where the payload may be absent; a handler taking `Envelope<T>`
//!   gets the envelope itself, with `data: Some`).
//! * **Sources** ([`Router::handle`] tells them apart): an SQS batch (partial batch
//!   response, FIFO rules and claim-check redemption as in [`crate::batch`]), an
//!   EventBridge event invoked directly (a rule's Lambda target), a DynamoDB Streams batch
//!   (records stop at the first failure so nothing is skipped), and a bare envelope (a Step
//!   Functions task input or a direct invoke), whose handler's output is the answer.
//! * **Idempotency** per handler by one call: [`Router::idempotent`] (on the envelope id) or
//!   [`Router::idempotent_on`] (a JSON pointer into the envelope); with
//!   [`Router::on_completing`], a handler writes its idempotency record in the same DynamoDB
//!   transaction as its effect, so a crash between the two cannot apply it twice.
//! * **Unknown types** fail the record by default, with a reason naming the type and what
//!   to check ([`UnknownType`]).
//!
//! Handlers return `Result<R, E>` with `E:` [`ErrorType`] (derive it on the error enum):
//! the `error_type` is what a Step Functions `Retry`/`Catch` matches on, what Lambda
//! reports and what the failure log and metrics carry, so name error types after what
//! happened (`PaymentDeclined`, `TransientError`).
//!
//! One file per concern: `builder.rs` registers handlers and settings ([`Router::on`],
//! [`Router::idempotent`], [`Router::validate`]); `handler.rs` is what a handler takes
//! ([`Event`], [`FromEnvelope`]); `dispatch.rs` takes one envelope to its handler
//! ([`Router::dispatch`]); `sources.rs` tells the sources apart ([`classify`]) and answers
//! each as it expects ([`Router::handle`]); `run.rs` is the Lambda loop ([`Router::run`]);
//! `error.rs` is [`RouteError`].

mod builder;
mod dispatch;
mod error;
mod handler;
mod run;
mod sources;
#[cfg(test)]
mod tests;

pub use error::RouteError;
pub use handler::{Event, FromEnvelope};
pub use run::remaining_time;
pub use sources::{classify, Source};

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::batch::{process_queue, BatchOptions, QueueBatch, QueueRecord};
use crate::claim_check::{ClaimCheck, ClaimCheckError};
use crate::envelope::{Envelope, EnvelopeError};
use crate::error::ErrorType;
use crate::idempotency::{
    Completion, Idempotency, IdempotencyConfig, IdempotencyError, IdempotencyStore, Outcome,
};
use crate::otel::FutureExt as _;
use crate::stream::{Deadline, Read, StreamReader, StreamRecordError};
use crate::{emf, fault, observability, otel};

type SharedIdempotency = Idempotency<Arc<dyn IdempotencyStore>>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// A route's handler behind the typing of its payload; the [`Completion`] is passed to
/// handlers registered with [`Router::on_completing`] and dropped for the others.
type Call<S> = Arc<
    dyn Fn(Arc<S>, Envelope, Option<Completion>) -> BoxFuture<Result<Value, RouteError>>
        + Send
        + Sync,
>;

/// What to do with an envelope whose type (or schema version) no handler takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownType {
    /// Fail the record: it returns to its queue and reaches the DLQ, with a logged reason
    /// naming the type and the rule to check. The default: nothing is acknowledged unseen.
    #[default]
    Fail,
    /// Acknowledge it with a warning (a function subscribed to a broad pattern on purpose).
    Skip,
}

/// Where an idempotent handler takes its key from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    EnvelopeId,
    Pointer(String),
}

struct Route<S> {
    event_type: String,
    /// `event_type` as a metric label, built once.
    metric_type: Option<emf::Label>,
    version: Option<String>,
    call: Call<S>,
    idempotency: Option<(KeySource, Arc<SharedIdempotency>)>,
}

/// Dispatches envelopes to typed handlers. `S` is the state every handler receives (clients,
/// table names, configuration), built once per execution environment.
pub struct Router<S = ()> {
    state: Arc<S>,
    routes: Vec<Route<S>>,
    unknown: UnknownType,
    claim_check: Option<ClaimCheck>,
    batch: BatchOptions,
    store: Option<Arc<dyn IdempotencyStore>>,
    function_name: String,
    stream: StreamReader,
    problems: Vec<String>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|r| &r.event_type)
                    .collect::<Vec<_>>(),
            )
            .field("unknown", &self.unknown)
            .finish_non_exhaustive()
    }
}

impl Router<()> {
    /// A router whose handlers need no state.
    pub fn new() -> Self {
        Router::with_state(())
    }
}

impl Default for Router<()> {
    fn default() -> Self {
        Router::new()
    }
}
