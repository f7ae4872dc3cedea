//! Why a record was not handled: [`RouteError`], its error types, and how idempotency
//! failures read.

use super::*;

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

impl ErrorType for RouteError {
    fn error_type(&self) -> &str {
        RouteError::error_type(self)
    }

    fn error_message(&self) -> String {
        self.to_string()
    }
}

/// What `lambda_runtime` reports when the whole invocation fails.
impl From<RouteError> for Diagnostic {
    fn from(e: RouteError) -> Diagnostic {
        e.into_diagnostic()
    }
}

pub(super) fn idempotency_failure<E>(e: IdempotencyError<E>) -> RouteError {
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
