//! Structured JSON logs and per-event spans carrying the correlation metadata (and the
//! OpenTelemetry trace id, see [`crate::otel`]).
//!
//! Payloads are never logged: spans carry envelope attributes only.

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
