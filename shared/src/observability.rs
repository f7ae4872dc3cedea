//! Structured JSON logs and per-event spans carrying the correlation metadata (and the
//! OpenTelemetry trace id, see [`crate::otel`]).
//!
//! Payloads are not logged: spans carry envelope attributes only, unless
//! `EVENTKIT_LOG_ENVELOPES=true` asks for every envelope whole ([`log_envelope`]).
//!
//! A log line inside an envelope's span carries its correlation metadata, never its payload.
//!
//! ```
//! use eventkit::observability::envelope_span;
//! use eventkit::Envelope;
//! use serde_json::{json, Value};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)]
//! # struct Logs(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Logs {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
//! #         self.0.lock().unwrap().write(b)
//! #     }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//!
//! // A function calls `init_tracing()` (JSON to stdout); the same format into a buffer here.
//! let logs = Logs::default();
//! let writer = logs.clone();
//! let subscriber = tracing_subscriber::fmt().json().flatten_event(true).with_current_span(true)
//!     .with_span_list(false).with_writer(move || writer.clone()).finish();
//! let placed = Envelope::new("shop", "order.placed", json!({"card": "4111 1111 1111 1111"}));
//! tracing::subscriber::with_default(subscriber, || {
//!     let _in_span = envelope_span(&placed).entered();
//!     tracing::info!("order accepted");
//! });
//! let line: Value = serde_json::from_slice(&logs.0.lock().unwrap()).unwrap();
//! assert_eq!(line["message"], "order accepted");
//! assert_eq!(line["span"]["correlation_id"], placed.correlation_id.as_str());
//! assert!(!line.to_string().contains("4111"), "payloads are not logged");
//! ```

use std::sync::OnceLock;

use serde::Serialize;
use tracing_subscriber::EnvFilter;

use crate::envelope::Envelope;

/// Installs a JSON subscriber: level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else
/// `info`. Lambda adds the timestamp and request id lines itself, so events carry the
/// current span's fields flattened in. Also installs the span exporter ([`crate::otel::init`]).
/// Safe to call twice (the second call is ignored).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                std::env::var("AWS_LAMBDA_LOG_LEVEL")
                    .unwrap_or_else(|_| "info".to_owned())
                    .to_lowercase(),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
    crate::otel::init();
}

/// A span for handling one envelope: id, type, source, correlation and causation ids.
pub fn envelope_span<T>(envelope: &Envelope<T>) -> tracing::Span {
    tracing::info_span!(
        "event",
        event_id = %envelope.id,
        event_type = %envelope.event_type,
        source = %envelope.source,
        correlation_id = %envelope.correlation_id,
        causation_id = envelope.causation_id.as_deref().unwrap_or(""),
        trace_id = tracing::field::Empty,
    )
}

/// [`envelope_span`] for an envelope read from a queue message: the message id too, so a
/// failure's log line names both the message an operator finds in the DLQ and the
/// conversation it belongs to.
pub fn record_span<T>(message_id: &str, envelope: &Envelope<T>) -> tracing::Span {
    tracing::info_span!(
        "record",
        message_id = %message_id,
        event_id = %envelope.id,
        event_type = %envelope.event_type,
        source = %envelope.source,
        correlation_id = %envelope.correlation_id,
        causation_id = envelope.causation_id.as_deref().unwrap_or(""),
    )
}

/// Which way an envelope passed a function, for [`log_envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passage {
    /// Handed to a handler (after unwrapping and claim-check redemption, once its payload
    /// fits the handler's type).
    Received,
    /// Sent to a queue, a bus or another function.
    Sent,
}

impl Passage {
    /// The log message: `envelope received` or `envelope sent`.
    pub fn message(self) -> &'static str {
        match self {
            Passage::Received => "envelope received",
            Passage::Sent => "envelope sent",
        }
    }
}

/// Whether `EVENTKIT_LOG_ENVELOPES` is `true`, read once per process.
pub fn envelopes_logged() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("EVENTKIT_LOG_ENVELOPES").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    })
}

/// Logs `envelope` whole, as the JSON it travels as (field `envelope`, message
/// [`Passage::message`]), when `EVENTKIT_LOG_ENVELOPES=true`: what Powertools'
/// `POWERTOOLS_LOGGER_LOG_EVENT` does for a raw event, per envelope and both ways. Off by
/// default, since payloads may hold personal data; test stacks turn it on so every envelope
/// can be checked against its schema where it passed.
pub fn log_envelope<T: Serialize>(passage: Passage, envelope: &Envelope<T>) {
    if envelopes_logged() {
        write_envelope(passage, envelope);
    }
}

fn write_envelope<T: Serialize>(passage: Passage, envelope: &Envelope<T>) {
    match serde_json::to_string(envelope) {
        Ok(json) => tracing::info!(envelope = %json, "{}", passage.message()),
        Err(e) => tracing::warn!(error = %e, "{} (not serialisable)", passage.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_envelope_reads_back_as_the_envelope_it_was() {
        let path = std::env::temp_dir().join(format!("envelope-log-{}", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&path).unwrap();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .without_time()
            .with_writer(file)
            .finish();
        let envelope = Envelope::new(
            "eventkit.test",
            "thing.happened",
            serde_json::json!({"n": 1}),
        )
        .with_subject("s-1");
        tracing::subscriber::with_default(subscriber, || {
            write_envelope(Passage::Sent, &envelope);
        });
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["message"], "envelope sent");
        let back: Envelope = serde_json::from_str(line["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(back, envelope);
    }
}
