//! The kit's shared crate: what every event-driven Lambda in it stands on.
//!
//! * [`envelope`] — one event type, CloudEvents 1.0 on the wire, routing metadata apart
//!   from payload, correlation and causation carried from cause to effect.
//! * [`unwrap`] — envelopes out of EventBridge events and SQS records.
//! * [`idempotency`] — at-most-once handlers on DynamoDB, Powertools-compatible records;
//!   ordered application for state-transfer consumers.
//! * [`claim_check`] — large payloads to S3, wire-compatible with the SQS Extended Client.
//! * [`router`] — one function, several event types: typed handlers, dispatched from an SQS
//!   batch, an EventBridge event, a DynamoDB stream batch or a Step Functions task input.
//! * [`http`] — the HTTP entry: API Gateway and function URL requests with typed bodies,
//!   problem+json errors, idempotency by a header, a span and metrics per request.
//! * [`batch`] — SQS partial batch responses.
//! * [`publish`] — the publishing port (an EventBridge bus, or memory in tests).
//! * [`outbox`] — the transactional outbox's stream relay.
//! * [`observability`] — JSON logs and per-event spans.
//! * [`otel`] — one trace across hops: OpenTelemetry spans, W3C trace context on the
//!   envelope, AWS X-Ray headers bridged.
//! * [`emf`] — CloudWatch metrics (Embedded Metric Format) every router function emits.
//! * [`error`] — [`ErrorType`]: each error's type named once (derive it), for Step
//!   Functions' `Retry`/`Catch`, Lambda's error report, the failure log and the metrics.
//! * [`config`] — required and optional settings from the environment, read at init.
//! * [`aws`] — the AWS adapters behind the ports above (DynamoDB, S3, EventBridge, SQS).
//!
//! # Features
//!
//! All on by default. Each adapter and observability part is a feature of its own, so a
//! function compiles only the SDKs it calls: an SQS consumer keeping its idempotency on
//! DynamoDB takes `default-features = false, features = ["sqs", "dynamodb"]` and compiles
//! neither the S3 nor the EventBridge SDK. The rest (envelope, router, batch, idempotency
//! and its memory store, unwrap, publish port and memory publisher, claim check behind its
//! store trait, stream, outbox relay, config, error, fault, JSON logs) is always there.
//!
//! | feature | adds |
//! |---|---|
//! | `sqs` | `aws::sqs`: queue sender and SQS client (`aws-sdk-sqs`) |
//! | `eventbridge` | `aws::eventbridge`: the bus publisher (`aws-sdk-eventbridge`) |
//! | `dynamodb` | `aws::dynamodb`: idempotency store, outbox writes (`aws-sdk-dynamodb`) |
//! | `s3` | `aws::s3`: the claim check's payload store; `aws::claim_check_from_env` (`aws-sdk-s3`) |
//! | `otel` | `otel`: spans, W3C trace context stamped and continued, X-Ray bridged (`opentelemetry`) |
//! | `emf` | `emf`: the router's CloudWatch metrics (`metrics`, `metrics_cloudwatch_embedded`) |
//! | `http` | `http`: the HTTP entry, API Gateway and function URLs (`lambda_http`) |
//!
//! Any adapter feature brings `aws` with `aws::load_config` (`aws-config`). With `otel`
//! off, envelopes keep the trace context they arrived with but no span starts; with `emf`
//! off, nothing is counted or written. Either way the code compiles and runs, without them.
//!
//! ```
//! use eventkit::envelope::Envelope;
//! use serde_json::json;
//!
//! let placed = Envelope::new("eventkit.orders", "order.placed", json!({"order": 42}));
//! let paid = placed.caused("eventkit.payments", "payment.taken", json!({"order": 42}));
//! assert_eq!(paid.correlation_id, placed.correlation_id);
//! assert_eq!(paid.causation_id.as_deref(), Some(placed.id.as_str()));
//! let wire = paid.to_json();
//! assert_eq!(Envelope::from_json(&wire).unwrap(), paid);
//! ```

// docs.rs builds with every feature and marks what each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(
    feature = "sqs",
    feature = "eventbridge",
    feature = "dynamodb",
    feature = "s3"
))]
pub mod aws;
pub mod batch;
pub mod claim_check;
pub mod config;
#[cfg(feature = "emf")]
pub mod emf;
// Without the feature, the router's and claim check's metric calls land on no-ops.
#[cfg(not(feature = "emf"))]
#[path = "noop/emf.rs"]
mod emf;
pub mod envelope;
pub mod error;
pub mod fault;
#[cfg(feature = "http")]
pub mod http;
pub mod idempotency;
pub mod observability;
#[cfg(feature = "otel")]
pub mod otel;
// Without the feature, spans and trace propagation land on no-ops.
#[cfg(not(feature = "otel"))]
#[path = "noop/otel.rs"]
mod otel;
pub mod outbox;
pub mod publish;
pub mod router;
pub mod stream;
pub mod unwrap;

// The derive's expansion names `::eventkit::ErrorType`, also inside this crate's tests.
extern crate self as eventkit;

pub use envelope::{Envelope, EnvelopeError};
pub use error::ErrorType;
/// `#[derive(ErrorType)]`: see [`error`].
pub use eventkit_macros::ErrorType;
pub use router::{Event, Router};

// The crate's front page (crates.io shows it): its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
