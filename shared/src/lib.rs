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
//! * [`batch`] — SQS partial batch responses.
//! * [`publish`] — the publishing port (an EventBridge bus, or memory in tests).
//! * [`outbox`] — the transactional outbox's stream relay.
//! * [`observability`] — JSON logs and per-event spans.
//! * [`otel`] — one trace across hops: OpenTelemetry spans, W3C trace context on the
//!   envelope, AWS X-Ray headers bridged.
//! * [`emf`] — CloudWatch metrics (Embedded Metric Format) every router function emits.
//! * [`config`] — required and optional settings from the environment, read at init.
//! * [`aws`] — the AWS adapters behind the ports above (DynamoDB, S3, EventBridge, SQS).
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

pub mod aws;
pub mod batch;
pub mod claim_check;
pub mod config;
pub mod emf;
pub mod envelope;
pub mod fault;
pub mod idempotency;
pub mod observability;
pub mod otel;
pub mod outbox;
pub mod publish;
pub mod router;
pub mod stream;
pub mod unwrap;

pub use envelope::{Envelope, EnvelopeError};
pub use router::Router;
