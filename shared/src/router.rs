//! The record router: one Lambda function, several event types, each dispatched to a typed
//! handler, from whichever source invoked the function.
//!
//! ```
//! use std::sync::Arc;
//! use eventkit::router::Router;
//! use eventkit::Envelope;
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize)]
//! struct OrderPlaced { order_id: String, total: i64 }
//!
//! struct Shop { name: &'static str }
//!
//! async fn placed(shop: Arc<Shop>, event: Envelope<OrderPlaced>) -> Result<String, lambda_runtime::Error> {
//!     let order = event.data.expect("typed payload");
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
//!   handler gets the whole envelope, typed.
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
//! Handlers return `Result<R, E>` with `E: Into<lambda_runtime::Diagnostic>`: the
//! diagnostic's `error_type` is what a Step Functions `Retry`/`Catch` matches on, so name
//! error types after what happened (`PaymentDeclined`, `TransientError`).

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
use opentelemetry::context::FutureExt as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::batch::{process_queue, BatchOptions, QueueBatch, QueueRecord};
use crate::claim_check::{ClaimCheck, ClaimCheckError};
use crate::envelope::{Envelope, EnvelopeError};
use crate::idempotency::{
    Completion, Idempotency, IdempotencyConfig, IdempotencyError, IdempotencyStore, Outcome,
};
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

/// Why a record was not handled. Each variant's message names what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The event is not any shape the router reads.
    #[error("unrecognised event: {0}; expected an SQS batch, a DynamoDB stream batch, an EventBridge event or a CloudEvents envelope")]
    UnrecognisedEvent(String),
    /// The envelope is invalid.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// No handler takes this type.
    #[error("no handler for event type `{event_type}`; this function handles {handled}; check the rule or subscription that routes `{event_type}` here, or register a handler")]
    UnknownType {
        /// The type received.
        event_type: String,
        /// The types this router handles.
        handled: String,
    },
    /// Handlers take this type, but not this schema version.
    #[error("event type `{event_type}` has no handler for schemaversion `{version}` (handled: {handled}); upgrade this consumer or have the producer send a handled version")]
    UnknownVersion {
        /// The type received.
        event_type: String,
        /// Its schema version.
        version: String,
        /// The versions handled.
        handled: String,
    },
    /// The payload does not deserialise into the handler's type.
    #[error("payload of `{event_type}` does not match `{expected}`: {source}")]
    Payload {
        /// The type received.
        event_type: String,
        /// The handler's payload type.
        expected: &'static str,
        /// Why.
        #[source]
        source: EnvelopeError,
    },
    /// A stream record not declared skipped could not be read.
    #[error(transparent)]
    Stream(#[from] StreamRecordError),
    /// The claim-checked payload could not be redeemed.
    #[error(transparent)]
    ClaimCheck(#[from] ClaimCheckError),
    /// The idempotency layer refused or failed (in progress elsewhere, key missing, store
    /// down); the message says which.
    #[error("{0}")]
    Idempotency(
        String,
        #[source] Option<Box<dyn std::error::Error + Send + Sync>>,
    ),
    /// The router is misconfigured (found at start-up by [`Router::validate`]).
    #[error("router configuration: {0}")]
    Config(String),
    /// The handler failed.
    #[error("{}: {}", .0.error_type, .0.error_message)]
    Handler(Diagnostic),
}

impl RouteError {
    /// The error type a Step Functions `Retry`/`Catch` or a Lambda destination sees.
    pub fn error_type(&self) -> &str {
        match self {
            RouteError::UnrecognisedEvent(_) => "UnrecognisedEvent",
            RouteError::Envelope(_) => "InvalidEnvelope",
            RouteError::UnknownType { .. } => "UnknownEventType",
            RouteError::UnknownVersion { .. } => "UnknownSchemaVersion",
            RouteError::Payload { .. } => "PayloadMismatch",
            RouteError::Stream(_) => "UnreadableStreamRecord",
            RouteError::ClaimCheck(e) if e.is_retryable() => "TransientError",
            RouteError::ClaimCheck(_) => "ClaimCheckError",
            RouteError::Idempotency(..) => "IdempotencyError",
            RouteError::Config(_) => "RouterConfigError",
            RouteError::Handler(d) => &d.error_type,
        }
    }
}

impl From<RouteError> for Diagnostic {
    fn from(e: RouteError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
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
    metric_type: Option<metrics::SharedString>,
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

impl<S: Send + Sync + 'static> Router<S> {
    /// A router handing `state` to every handler.
    pub fn with_state(state: S) -> Self {
        Router {
            state: Arc::new(state),
            routes: Vec::new(),
            unknown: UnknownType::Fail,
            claim_check: None,
            batch: BatchOptions::default(),
            store: None,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "test-func".to_owned()),
            stream: StreamReader::outbox(),
            problems: Vec::new(),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Handles `event_type` (any schema version) with `handler`.
    pub fn on<T, R, E, F, Fut>(self, event_type: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        F: Fn(Arc<S>, Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.add(event_type, None, handler)
    }

    /// Handles `event_type` at exactly `schemaversion` with `handler`; other versions of
    /// the type go to their own handlers (or the versionless one).
    pub fn on_version<T, R, E, F, Fut>(self, event_type: &str, version: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        F: Fn(Arc<S>, Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.add(event_type, Some(version.to_owned()), handler)
    }

    /// Handles `event_type` with a handler that commits its idempotency record with its
    /// effect: made idempotent on the envelope id (set [`Router::idempotency_store`]
    /// first), it receives the [`Completion`] to put in its own `TransactWriteItems`
    /// (`aws::dynamodb::completion_write`) and calls [`Completion::committed`] once that
    /// transaction succeeds. A crash after the commit leaves a `COMPLETED` record (the
    /// retry replays); a crash before it leaves no effect (the retry applies it once).
    pub fn on_completing<T, R, E, F, Fut>(self, event_type: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        F: Fn(Arc<S>, Envelope<T>, Completion) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call = move |state, envelope, completion: Option<Completion>| {
            let handler = handler.clone();
            async move {
                let Some(completion) = completion else {
                    return Err(RouteError::Config(
                        "a completing handler ran without its idempotency record".into(),
                    ));
                };
                handler(state, envelope, completion)
                    .await
                    .map_err(|e| RouteError::Handler(e.into()))
            }
        };
        self.add_call(event_type, None, call).idempotent()
    }

    fn add<T, R, E, F, Fut>(self, event_type: &str, version: Option<String>, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: Into<Diagnostic> + Send + 'static,
        F: Fn(Arc<S>, Envelope<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let call = move |state, envelope, _: Option<Completion>| {
            let running = handler(state, envelope);
            async move { running.await.map_err(|e| RouteError::Handler(e.into())) }
        };
        self.add_call(event_type, version, call)
    }

    fn add_call<T, R, F, Fut>(
        mut self,
        event_type: &str,
        version: Option<String>,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(Arc<S>, Envelope<T>, Option<Completion>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, RouteError>> + Send + 'static,
    {
        if self
            .routes
            .iter()
            .any(|r| r.event_type == event_type && r.version == version)
        {
            self.problems.push(format!(
                "two handlers for `{event_type}`{}",
                version
                    .as_deref()
                    .map(|v| format!(" schemaversion `{v}`"))
                    .unwrap_or_default()
            ));
        }
        let call: Call<S> = Arc::new(move |state, envelope, completion| {
            let event_type = envelope.event_type.clone();
            let typed = match typed_envelope::<T>(envelope) {
                Ok(typed) => typed,
                Err(source) => {
                    return Box::pin(std::future::ready(Err(RouteError::Payload {
                        event_type,
                        expected: std::any::type_name::<T>(),
                        source,
                    })))
                }
            };
            let running = handler(state, typed, completion);
            Box::pin(async move {
                let output = running.await?;
                serde_json::to_value(output).map_err(|e| {
                    RouteError::Handler(Diagnostic {
                        error_type: "OutputNotJson".into(),
                        error_message: format!("the handler's output is not JSON: {e}"),
                    })
                })
            })
        });
        self.routes.push(Route {
            event_type: event_type.to_owned(),
            metric_type: emf::type_label(event_type),
            version,
            call,
            idempotency: None,
        });
        self
    }

    /// The idempotency table idempotent handlers use (set before [`Router::idempotent`]).
    pub fn idempotency_store(mut self, store: impl IdempotencyStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Makes the handler registered last idempotent on the envelope id: a redelivered or
    /// replayed envelope gets the first run's stored output, and the handler does not run.
    pub fn idempotent(self) -> Self {
        self.make_idempotent(KeySource::EnvelopeId, None)
    }

    /// Makes the handler registered last idempotent on the value at a JSON pointer into the
    /// envelope (`/subject`, `/data/orderId`): for producers that send one fact under several
    /// envelope ids.
    pub fn idempotent_on(self, pointer: &str) -> Self {
        self.make_idempotent(KeySource::Pointer(pointer.to_owned()), None)
    }

    /// [`Router::idempotent`] with explicit settings (expiry, key prefix, payload validation,
    /// local cache).
    pub fn idempotent_with(self, config: IdempotencyConfig) -> Self {
        let key = match &config.key_pointer {
            Some(p) => KeySource::Pointer(p.clone()),
            None => KeySource::EnvelopeId,
        };
        self.make_idempotent(key, Some(config))
    }

    fn make_idempotent(mut self, key: KeySource, config: Option<IdempotencyConfig>) -> Self {
        let Some(store) = self.store.clone() else {
            self.problems.push(
                "idempotent() was called before idempotency_store(): set the table first".into(),
            );
            return self;
        };
        let function = self.function_name.clone();
        let Some(route) = self.routes.last_mut() else {
            self.problems
                .push("idempotent() was called before any handler was registered".into());
            return self;
        };
        let mut config = config.unwrap_or_else(|| {
            let mut c = IdempotencyConfig::for_handler(&route.event_type);
            c.key_prefix = format!("{function}.{}", route.event_type);
            c
        });
        // The pointer is applied by the router to the envelope's JSON form.
        config.key_pointer = match &key {
            KeySource::Pointer(p) => Some(p.clone()),
            KeySource::EnvelopeId => None,
        };
        route.idempotency = Some((key, Arc::new(Idempotency::new(store, config))));
        self
    }

    /// What to do with an unknown type (default: fail the record).
    pub fn on_unknown(mut self, policy: UnknownType) -> Self {
        self.unknown = policy;
        self
    }

    /// Redeem claim-checked payloads (SQS Extended Client bodies and `dataref`) with this.
    pub fn claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// SQS batch settings (concurrency, FIFO behaviour).
    pub fn batch_options(mut self, options: BatchOptions) -> Self {
        self.batch = options;
        self
    }

    /// How envelopes are read from DynamoDB stream records, and which records are skipped
    /// on purpose (default: [`StreamReader::outbox`]). A record neither skipped nor read
    /// fails the batch at that record.
    pub fn stream_reader(mut self, reader: StreamReader) -> Self {
        self.stream = reader;
        self
    }

    /// The configuration problems found while building (duplicate handlers, idempotency
    /// without a table). [`Router::run`] refuses to start with any.
    pub fn validate(&self) -> Result<(), RouteError> {
        if self.routes.is_empty() {
            return Err(RouteError::Config("no handler is registered".into()));
        }
        match self.problems.as_slice() {
            [] => Ok(()),
            problems => Err(RouteError::Config(problems.join("; "))),
        }
    }

    /// The event types (and versions) handled, for messages and logs.
    pub fn handled(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| match &r.version {
                Some(v) => format!("{}@{v}", r.event_type),
                None => r.event_type.clone(),
            })
            .collect()
    }

    fn handled_list(&self) -> String {
        let list = self.handled();
        if list.is_empty() {
            "nothing".to_owned()
        } else {
            list.iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    fn find(&self, envelope: &Envelope) -> Result<&Route<S>, RouteError> {
        let same_type = || {
            self.routes
                .iter()
                .filter(|r| r.event_type == envelope.event_type)
        };
        if let Some(route) = same_type()
            .find(|r| r.version.as_deref() == Some(envelope.schemaversion.as_str()))
            .or_else(|| same_type().find(|r| r.version.is_none()))
        {
            return Ok(route);
        }
        let versions: BTreeSet<&str> = same_type().filter_map(|r| r.version.as_deref()).collect();
        if versions.is_empty() {
            Err(RouteError::UnknownType {
                event_type: envelope.event_type.clone(),
                handled: self.handled_list(),
            })
        } else {
            Err(RouteError::UnknownVersion {
                event_type: envelope.event_type.clone(),
                version: envelope.schemaversion.clone(),
                handled: versions.into_iter().collect::<Vec<_>>().join(", "),
            })
        }
    }

    /// [`Router::dispatch`], logging a failure in the envelope's span (sources whose
    /// failure is not logged by the batch: EventBridge, task inputs, streams).
    async fn dispatch_logged(
        &self,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let span = observability::envelope_span(&envelope);
        let result = self.dispatch(envelope, remaining).await;
        if let Err(e) = &result {
            span.in_scope(
                || tracing::error!(error = %e, error_type = e.error_type(), "event failed"),
            );
        }
        result
    }

    /// Dispatches one envelope (already redeemed) to its handler; the handler's output, or
    /// `null` for a skipped unknown type.
    pub async fn dispatch(
        &self,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let cx = otel::consumer(&envelope);
        let span = observability::envelope_span(&envelope);
        if let Some(trace_id) = otel::trace_id(&cx) {
            span.record("trace_id", trace_id);
        }
        let age = emf::age_ms(envelope.time);
        let result = async {
            let route = match self.find(&envelope) {
                Ok(route) => route,
                Err(e @ (RouteError::UnknownType { .. } | RouteError::UnknownVersion { .. })) => {
                    emf::unknown_type();
                    if self.unknown == UnknownType::Skip {
                        tracing::warn!(reason = %e, "skipped: no handler (UnknownType::Skip)");
                        return Ok(Value::Null);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let result = self.call(route, envelope, remaining).await;
            emf::dispatched(route.metric_type.as_ref(), result.is_ok(), age);
            result
        }
        .instrument(span)
        .with_context(cx.clone())
        .await;
        otel::finish(
            &cx,
            result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
        );
        result
    }

    /// Runs a route's handler, through its idempotency when it has one.
    async fn call(
        &self,
        route: &Route<S>,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        match &route.idempotency {
            None => {
                fault::of(&envelope)
                    .around((route.call)(self.state.clone(), envelope, None))
                    .await
            }
            // Boxed: the idempotent run's state (the store's SDK calls) is kilobytes, and
            // every record's future, idempotent or not, would otherwise be as large.
            Some((key, idempotency)) => {
                Box::pin(self.call_idempotent(route, key, idempotency, envelope, remaining)).await
            }
        }
    }

    async fn call_idempotent(
        &self,
        route: &Route<S>,
        key: &KeySource,
        idempotency: &SharedIdempotency,
        envelope: Envelope,
        remaining: Option<Duration>,
    ) -> Result<Value, RouteError> {
        let state = self.state.clone();
        let call = route.call.clone();
        // The fault hook (debug builds) runs inside the idempotent run: after the claim.
        let outcome = match key {
            KeySource::EnvelopeId => {
                let fault = fault::of(&envelope);
                let run =
                    |completion| fault.around(call(state, envelope.clone(), Some(completion)));
                idempotency
                    .run_envelope_completing(&envelope, remaining, run)
                    .await
            }
            KeySource::Pointer(_) => {
                let value = serde_json::to_value(&envelope)
                    .map_err(|e| RouteError::Envelope(EnvelopeError::Payload(e)))?;
                let fault = fault::of(&envelope);
                let run = || fault.around(call(state, envelope.clone(), None));
                idempotency.run(&value, remaining, run).await
            }
        };
        match outcome {
            Ok(Outcome::Executed(output)) => Ok(output),
            Ok(Outcome::Replayed(output)) => {
                tracing::info!("duplicate absorbed: replayed the stored result");
                emf::duplicate_absorbed(route.metric_type.as_ref());
                Ok(output)
            }
            Err(IdempotencyError::Handler(e)) => Err(e),
            Err(other) => Err(idempotency_failure(other)),
        }
    }

    async fn redeem(&self, envelope: &mut Envelope) -> Result<(), RouteError> {
        match &self.claim_check {
            Some(cc) => {
                cc.redeem(envelope).await?;
                Ok(())
            }
            None if envelope.dataref.is_some() => Err(RouteError::Config(
                "envelope is claim-checked (`dataref`) but no claim check is configured; call Router::claim_check".into(),
            )),
            None => Ok(()),
        }
    }

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

    /// Runs the function: validates the configuration (an init error names the problem),
    /// then serves invocations with [`Router::handle_json`] until the runtime stops.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        self.validate()?;
        emf::init();
        tracing::info!(handles = %self.handled_list(), "router ready");
        let router = Arc::new(self);
        lambda_runtime::run(lambda_runtime::service_fn(
            // The payload as text: an SQS batch is then parsed once, not into a `Value` first.
            move |event: lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>| {
                let router = router.clone();
                async move {
                    let remaining = remaining_time(event.context.deadline);
                    // The invocation's X-Ray trace: the parent of an event that carries none.
                    let xray = otel::xray_context(event.context.xray_trace_id.as_deref());
                    let result = router
                        .handle_json(event.payload.get(), remaining)
                        .with_context(xray)
                        .await;
                    // After every invocation, so a frozen or reclaimed sandbox loses none.
                    emf::flush_invocation(&event.context.request_id);
                    result.map_err(Diagnostic::from)
                }
            },
        ))
        .await
    }
}

fn to_json(response: impl Serialize) -> Value {
    // Batch responses are plain structs of strings: serialising them cannot fail.
    serde_json::to_value(response).unwrap_or(Value::Null)
}

fn idempotency_failure<E>(e: IdempotencyError<E>) -> RouteError {
    let message = match &e {
        IdempotencyError::KeyMissing { pointer } => format!(
            "idempotency key not found at JSON pointer `{pointer}`; the producer must set it"
        ),
        IdempotencyError::AlreadyInProgress { key } => format!(
            "idempotency key `{key}` is being processed by another invocation; retried later"
        ),
        IdempotencyError::PayloadMismatch { key } => {
            format!("idempotency key `{key}` was already used with a different payload")
        }
        IdempotencyError::Response { key, source } => {
            format!("idempotency record `{key}` holds an unreadable result: {source}")
        }
        IdempotencyError::Store(s) => {
            return RouteError::Idempotency(
                s.to_string(),
                Some(Box::new(StoreFailure(s.to_string()))),
            )
        }
        IdempotencyError::Handler(_) => "handler failed".to_owned(),
    };
    RouteError::Idempotency(message, None)
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StoreFailure(String);

/// The time left before the invocation's deadline (epoch milliseconds).
pub fn remaining_time(deadline_ms: u64) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    deadline_ms.checked_sub(now).map(Duration::from_millis)
}

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

/// The envelope with its payload typed: `data`, JSON `data_base64`, or `null` when absent
/// (so `Option<T>` and `()` payloads accept an event without data).
fn typed_envelope<T: DeserializeOwned>(
    mut envelope: Envelope,
) -> Result<Envelope<T>, EnvelopeError> {
    let data: T = if envelope.data.is_some() || envelope.data_base64.is_some() {
        envelope.data_as()?
    } else if envelope.dataref.is_some() {
        return Err(EnvelopeError::InvalidField {
            field: "dataref".into(),
            reason: "payload is claim-checked and was not redeemed".into(),
        });
    } else {
        T::deserialize(Value::Null).map_err(|_| EnvelopeError::MissingField("data"))?
    };
    envelope.data = Some(Value::Null);
    envelope.data_base64 = None;
    envelope.map_data(|_| Ok::<T, EnvelopeError>(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::MemoryIdempotencyStore;
    use serde::Deserialize;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Deserialize)]
    struct Placed {
        order: String,
        total: i64,
    }

    #[derive(Debug, Deserialize)]
    struct PlacedV2 {
        order: String,
        amount: Amount,
    }

    #[derive(Debug, Deserialize)]
    struct Amount {
        minor: i64,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("order {0} declined")]
    struct Declined(String);

    impl From<Declined> for Diagnostic {
        fn from(e: Declined) -> Diagnostic {
            Diagnostic {
                error_type: "PaymentDeclined".into(),
                error_message: e.to_string(),
            }
        }
    }

    #[derive(Default)]
    struct Counter {
        runs: AtomicUsize,
    }

    async fn placed(state: Arc<Counter>, e: Envelope<Placed>) -> Result<Value, Declined> {
        state.runs.fetch_add(1, Ordering::SeqCst);
        let p = e.data.unwrap();
        if p.total < 0 {
            return Err(Declined(p.order));
        }
        Ok(json!({"v": 1, "order": p.order, "correlation": e.correlation_id}))
    }

    async fn placed_v2(_: Arc<Counter>, e: Envelope<PlacedV2>) -> Result<Value, Declined> {
        let p = e.data.unwrap();
        Ok(json!({"v": 2, "order": p.order, "total": p.amount.minor}))
    }

    fn router() -> Router<Counter> {
        Router::with_state(Counter::default())
            .on("order.placed", placed)
            .on_version("order.placed", "2", placed_v2)
    }

    fn envelope(event_type: &str, data: Value) -> Envelope {
        Envelope::new("shop", event_type, data)
    }

    fn sqs(bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "attributes": {}, "messageAttributes": {}}))
            .collect();
        json!({ "Records": records })
    }

    fn failed(response: &Value) -> Vec<String> {
        response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn dispatches_by_type_and_schema_version_with_the_payload_typed() {
        let r = router();
        let v1 = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let out = r.dispatch(v1.clone(), None).await.unwrap();
        assert_eq!(
            out,
            json!({"v": 1, "order": "o-1", "correlation": v1.correlation_id})
        );
        let v2 = envelope(
            "order.placed",
            json!({"order": "o-2", "amount": {"minor": 7}}),
        )
        .with_schema_version("2");
        assert_eq!(
            r.dispatch(v2, None).await.unwrap(),
            json!({"v": 2, "order": "o-2", "total": 7})
        );
        // A version without its own handler goes to the versionless one.
        let v3 =
            envelope("order.placed", json!({"order": "o-3", "total": 1})).with_schema_version("3");
        assert_eq!(r.dispatch(v3, None).await.unwrap()["v"], 1);
    }

    #[tokio::test]
    async fn a_version_no_handler_takes_is_refused_with_the_versions_handled() {
        let r = Router::with_state(Counter::default()).on_version("order.placed", "2", placed_v2);
        let e = envelope("order.placed", json!({})).with_schema_version("1");
        let err = r.dispatch(e, None).await.unwrap_err();
        assert!(matches!(err, RouteError::UnknownVersion { .. }), "{err}");
        assert!(
            err.to_string().contains("schemaversion `1`") && err.to_string().contains("handled: 2"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unknown_types_fail_by_default_and_can_be_skipped() {
        let e = envelope("order.voided", json!({}));
        let err = router().dispatch(e.clone(), None).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`order.voided`") && text.contains("check the rule"),
            "{text}"
        );
        assert!(
            text.contains("`order.placed`"),
            "names what it handles: {text}"
        );
        assert_eq!(Diagnostic::from(err).error_type, "UnknownEventType");
        let skipping = router().on_unknown(UnknownType::Skip);
        assert_eq!(skipping.dispatch(e, None).await.unwrap(), Value::Null);
    }

    #[tokio::test]
    async fn a_payload_that_does_not_fit_the_handler_type_names_both() {
        let e = envelope("order.placed", json!({"order": 5}));
        let err = router().dispatch(e, None).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("payload of `order.placed` does not match") && text.contains("Placed"),
            "{text}"
        );
        assert_eq!(err.error_type(), "PayloadMismatch");
    }

    #[tokio::test]
    async fn handler_errors_keep_their_error_type() {
        let e = envelope("order.placed", json!({"order": "o-9", "total": -1}));
        let err = router()
            .handle(serde_json::to_value(&e).unwrap(), None)
            .await
            .unwrap_err();
        let d = Diagnostic::from(err);
        assert_eq!(d.error_type, "PaymentDeclined");
        assert!(
            d.error_message.contains("order o-9 declined"),
            "{}",
            d.error_message
        );
    }

    #[tokio::test]
    async fn sqs_batches_report_only_the_failed_records() {
        let good = envelope("order.placed", json!({"order": "o-1", "total": 5})).to_json();
        let unknown = envelope("order.voided", json!({})).to_json();
        let mismatch = envelope("order.placed", json!({"order": 1})).to_json();
        let declined = envelope("order.placed", json!({"order": "o-2", "total": -5})).to_json();
        let event = sqs(&[good, "not json".into(), unknown, mismatch, declined]);
        let out = router().handle(event, None).await.unwrap();
        assert_eq!(failed(&out), vec!["m1", "m2", "m3", "m4"]);
    }

    #[tokio::test]
    async fn eventbridge_events_are_unwrapped_and_foreign_ones_wrapped() {
        let e = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let eb = json!({"version": "0", "id": "eb-1", "detail-type": "order.placed", "source": "shop",
            "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": e});
        assert_eq!(router().handle(eb, None).await.unwrap()["order"], "o-1");
        let s3 = json!({"version": "0", "id": "eb-2", "detail-type": "Object Created", "source": "aws.s3",
            "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {"bucket": {"name": "b"}}});
        let r = Router::new().on(
            "Object Created",
            |_: Arc<()>, e: Envelope<Value>| async move {
                Ok::<_, lambda_runtime::Error>(e.data.unwrap()["bucket"]["name"].clone())
            },
        );
        assert_eq!(r.handle(s3, None).await.unwrap(), json!("b"));
    }

    #[tokio::test]
    async fn idempotent_handlers_run_once_per_envelope_id() {
        let r = Router::with_state(Counter::default())
            .idempotency_store(MemoryIdempotencyStore::default())
            .on("order.placed", placed)
            .idempotent();
        r.validate().unwrap();
        let e = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let first = r.dispatch(e.clone(), None).await.unwrap();
        let again = r.dispatch(e.clone(), None).await.unwrap();
        assert_eq!(first, again, "the duplicate gets the first run's output");
        assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
        // Same fact, new envelope id: a different key, so it runs.
        let other = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        r.dispatch(other, None).await.unwrap();
        assert_eq!(r.state().runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn idempotent_on_a_pointer_dedupes_one_fact_under_several_ids() {
        let r = Router::with_state(Counter::default())
            .idempotency_store(MemoryIdempotencyStore::default())
            .on("order.placed", placed)
            .idempotent_on("/data/order");
        for _ in 0..3 {
            let e = envelope("order.placed", json!({"order": "o-7", "total": 5}));
            r.dispatch(e, None).await.unwrap();
        }
        assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
        let missing = envelope("order.placed", json!({"total": 5}));
        let err = r.dispatch(missing, None).await.unwrap_err();
        assert!(err.to_string().contains("/data/order"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_idempotent_handler_runs_again_on_retry() {
        let r = Router::with_state(Counter::default())
            .idempotency_store(MemoryIdempotencyStore::default())
            .on("order.placed", placed)
            .idempotent();
        let e = envelope("order.placed", json!({"order": "o-1", "total": -1}));
        assert!(r.dispatch(e.clone(), None).await.is_err());
        assert!(r.dispatch(e, None).await.is_err());
        assert_eq!(r.state().runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn misconfiguration_is_found_before_the_first_event() {
        let no_store = router().idempotent();
        assert!(no_store
            .validate()
            .unwrap_err()
            .to_string()
            .contains("idempotency_store"));
        let twice = router().on("order.placed", placed);
        assert!(twice
            .validate()
            .unwrap_err()
            .to_string()
            .contains("two handlers for `order.placed`"));
        let empty = Router::new();
        assert!(empty.validate().is_err());
    }

    #[tokio::test]
    async fn stream_batches_stop_at_the_first_failure_and_report_it() {
        let item = |e: &Envelope, seq: &str| {
            json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "dynamodb": {"SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                    "Keys": {"pk": {"S": e.id}}, "NewImage": {"pk": {"S": e.id}, "envelope": {"S": e.to_json()}}}})
        };
        let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let bad = envelope("order.placed", json!({"order": "o-2", "total": -5}));
        let later = envelope("order.placed", json!({"order": "o-3", "total": 5}));
        let modify = json!({"eventID": "x", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"SequenceNumber": "150", "SizeBytes": 1, "Keys": {}, "NewImage": {}}});
        let event =
            json!({"Records": [item(&ok, "100"), modify, item(&bad, "200"), item(&later, "300")]});
        let r = router();
        let out = r.handle(event, None).await.unwrap();
        assert_eq!(failed(&out), vec!["200"]);
        assert_eq!(
            r.state().runs.load(Ordering::SeqCst),
            2,
            "o-3 is not attempted after o-2 failed"
        );
    }

    fn stream_item(e: &Envelope, seq: &str) -> Value {
        json!({"eventID": seq, "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"SequenceNumber": seq, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE",
                "Keys": {"pk": {"S": e.id}}, "NewImage": {"pk": {"S": e.id}, "envelope": {"S": e.to_json()}}}})
    }

    #[tokio::test]
    async fn an_insert_the_reader_cannot_read_fails_the_batch_there_instead_of_being_skipped() {
        let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let later = envelope("order.placed", json!({"order": "o-3", "total": 5}));
        let mut missing = stream_item(&ok, "200");
        missing["dynamodb"]["NewImage"]
            .as_object_mut()
            .unwrap()
            .remove("envelope");
        let mut binary = stream_item(&ok, "200");
        binary["dynamodb"]["NewImage"]["envelope"] = json!({"B": "e30="});
        for (odd, names) in [
            (missing, "no attribute `envelope`"),
            (binary, "is a binary (B)"),
        ] {
            let r = router();
            let event =
                json!({"Records": [stream_item(&ok, "100"), odd, stream_item(&later, "300")]});
            let out = r.handle(event, None).await.unwrap();
            assert_eq!(failed(&out), vec!["200"], "{names}");
            assert_eq!(r.state().runs.load(Ordering::SeqCst), 1);
        }
        let mut binary = stream_item(&ok, "200");
        binary["dynamodb"]["NewImage"]["envelope"] = json!({"B": "e30="});
        let record: aws_lambda_events::event::dynamodb::EventRecord =
            serde_json::from_value(binary).unwrap();
        let Read::Envelope(Err(e)) = StreamReader::outbox().read(&record) else {
            panic!("read")
        };
        assert_eq!(e.error_type(), "UnreadableStreamRecord");
    }

    #[tokio::test]
    async fn a_stream_reader_that_declares_nothing_skipped_fails_at_a_modify() {
        let ok = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let mut modify = stream_item(&ok, "150");
        modify["eventName"] = json!("MODIFY");
        let event = json!({"Records": [stream_item(&ok, "100"), modify]});
        let strict = router().stream_reader(StreamReader::new(crate::stream::outbox_envelope));
        assert_eq!(
            failed(&strict.handle(event.clone(), None).await.unwrap()),
            vec!["150"]
        );
        assert!(failed(&router().handle(event, None).await.unwrap()).is_empty());
    }

    async fn slow_placed(_: Arc<Counter>, _: Envelope<Placed>) -> Result<Value, Declined> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(Value::Null)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_batch_stops_before_the_deadline_and_reports_the_first_record_not_handled() {
        let r = Router::with_state(Counter::default()).on("order.placed", slow_placed);
        let records: Vec<Value> = (0..10)
            .map(|i| {
                stream_item(
                    &envelope("order.placed", json!({"order": "o", "total": i})),
                    &format!("{}", 100 + i),
                )
            })
            .collect();
        // 2 s a record, 7 s left: the reserve keeps 0.7 s, so 3 records fit.
        let started = tokio::time::Instant::now();
        let out = r
            .handle(json!({"Records": records}), Some(Duration::from_secs(7)))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(7));
        assert_eq!(failed(&out), vec!["103"]);
    }

    #[tokio::test]
    async fn foreign_cloudevents_without_time_or_with_base64_data_are_accepted() {
        // {"order":"o-5","total":3}
        let e = json!({"specversion": "1.0", "id": "f-1", "source": "/elsewhere", "type": "order.placed",
            "datacontenttype": "application/json", "data_base64": "eyJvcmRlciI6Im8tNSIsInRvdGFsIjozfQ=="});
        assert_eq!(router().handle(e, None).await.unwrap()["order"], "o-5");
    }

    /// `Router::run` hands the router the event's text: every shape answers as through a
    /// `Value`, and text that is not JSON is named.
    #[tokio::test]
    async fn the_text_path_answers_as_the_value_path() {
        let good = envelope("order.placed", json!({"order": "o-1", "total": 5}));
        let declined = envelope("order.placed", json!({"order": "o-2", "total": -5}));
        // `detail-type` present but null still marks an EventBridge event.
        let null_type = json!({"detail-type": null, "detail": good}).to_string();
        let stream = json!({"Records": [{"eventID": "1", "eventName": "INSERT",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"SequenceNumber": "1", "SizeBytes": 1, "Keys": {},
                "NewImage": {"envelope": {"S": declined.to_json()}}}}]});
        let events = [
            sqs(&[
                good.to_json(),
                "not json".into(),
                declined.to_json(),
                null_type,
            ]),
            json!({"Records": []}),
            stream,
            json!({"version": "0", "id": "eb-1", "detail-type": "order.placed", "source": "shop",
                "time": "2026-01-01T00:00:00Z", "detail": good}),
            serde_json::to_value(&good).unwrap(),
            json!({"hello": 1}),
            json!({"Records": [{"eventSource": "aws:kinesis"}]}),
            json!({"Records": [{"eventSource": "aws:sqs", "body": 5}]}),
            json!({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": 5}]}),
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}),
        ];
        // serde's reader adds where in the text it failed; a `Value` has no position.
        let unplaced = |e: RouteError| {
            let e = e.to_string();
            let Some(at) = e.find(" at line ") else {
                return e;
            };
            let end = e[at..].find(';').map_or(e.len(), |i| at + i);
            format!("{}{}", &e[..at], &e[end..])
        };
        for event in events {
            let as_text = router().handle_json(&event.to_string(), None).await;
            let as_value = router().handle(event.clone(), None).await;
            assert_eq!(
                as_text.map_err(unplaced),
                as_value.map_err(unplaced),
                "{event}"
            );
        }
        assert_eq!(
            failed(
                &router()
                    .handle_json(&sqs(&[good.to_json()]).to_string(), None)
                    .await
                    .unwrap()
            ),
            Vec::<String>::new()
        );
        let err = router()
            .handle_json("{\"Records\": [", None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[tokio::test]
    async fn shapes_it_cannot_read_are_named() {
        let err = router()
            .handle(json!({"hello": 1}), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("\"hello\""), "{err}");
        let err = router()
            .handle(json!({"Records": [{"eventSource": "aws:kinesis"}]}), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("aws:kinesis"), "{err}");
    }
}
