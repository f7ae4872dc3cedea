//! One trace across hops: OpenTelemetry spans, with W3C trace context carried on the
//! envelope (`traceparent`, `tracestate`: the CloudEvents distributed tracing extension).
//!
//! * A consumer continues the trace of what it reads ([`consumer`]): the envelope's
//!   `traceparent`, else the AWS X-Ray header that came with it (`AWSTraceHeader` on an SQS
//!   message, the invocation's trace id), else a new trace. A malformed `traceparent` starts
//!   a new trace with a warning; it never fails the record.
//! * A producer stamps what it sends with the current span ([`stamped`]): the kit's
//!   EventBridge, SQS and outbox writers do it, so follow-up events join the trace.
//! * Spans are exported as `OTEL_TRACES_EXPORTER` says ([`init`]): `console` writes one
//!   OTLP/JSON document per span to stdout (CloudWatch Logs on AWS); `none`, the default,
//!   exports nothing and still propagates. Every span is recorded (no head sampling): keep
//!   or drop traces downstream.
//!
//! ```
//! use eventkit::{otel, Envelope};
//! use serde_json::json;
//!
//! let mut placed = Envelope::new("eventkit.orders", "order.placed", json!({}));
//! placed.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
//! let cx = otel::parent(&placed);
//! assert_eq!(otel::trace_id(&cx).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
//!
//! // Not W3C trace context: a new trace, not a failure.
//! placed.traceparent = Some("not-a-traceparent".into());
//! assert_eq!(otel::trace_id(&otel::parent(&placed)), None);
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::envelope::Envelope;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter};

// Call sites name it through this module, which the `otel` feature off replaces with no-ops.
pub(crate) use opentelemetry::context::FutureExt;

/// The instrumentation scope of the kit's spans.
pub const SCOPE: &str = "eventkit";

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Installs the kit's tracer as `OTEL_TRACES_EXPORTER` says: `console` (one OTLP/JSON line
/// per span on stdout) or `none` (the default: spans and propagation, no export). Another
/// value is reported and treated as `none`. Called by
/// [`crate::observability::init_tracing`]; the first call wins.
pub fn init() {
    let exporter = std::env::var("OTEL_TRACES_EXPORTER").unwrap_or_default();
    match exporter.trim() {
        "console" => install(Some(JsonLines::new(std::io::stdout()))),
        "" | "none" => install(None::<JsonLines<std::io::Stdout>>),
        other => {
            install(None::<JsonLines<std::io::Stdout>>);
            tracing::warn!(
                OTEL_TRACES_EXPORTER = other,
                "unsupported span exporter; spans are not exported (supported: console, none)"
            );
        }
    }
}

/// Installs the kit's tracer exporting to `writer` (tests capture spans this way). The
/// first call in a process wins; later calls change nothing.
pub fn init_with_writer(writer: impl Write + Send + Sync + 'static) {
    install(Some(JsonLines::new(writer)));
}

fn install<W: Write + Send + Sync + 'static>(exporter: Option<JsonLines<W>>) {
    TRACER.get_or_init(|| {
        let mut builder = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOn);
        if let Some(exporter) = exporter {
            builder = builder.with_simple_exporter(exporter);
        }
        builder.build().tracer(SCOPE)
    });
}

/// The context to continue for `envelope`: its `traceparent` when that is W3C trace
/// context, else the current context (an AWS X-Ray parent set by the caller, or nothing).
pub fn parent(envelope: &Envelope) -> Context {
    continued(
        envelope.traceparent.as_deref(),
        envelope.tracestate.as_deref(),
        Context::current,
    )
}

/// The remote context of a `traceparent` (and `tracestate`), e.g. HTTP headers; when it is
/// absent, or malformed (with a warning), `otherwise`.
pub fn continued(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
    otherwise: impl FnOnce() -> Context,
) -> Context {
    if let Some(traceparent) = traceparent {
        let cx = extract(traceparent, tracestate);
        if cx.span().span_context().is_valid() {
            return cx;
        }
        tracing::warn!(
            traceparent = %traceparent,
            "traceparent is not W3C trace context (00-<32 hex>-<16 hex>-<2 hex>); a new trace starts here"
        );
    }
    otherwise()
}

fn extract(traceparent: &str, tracestate: Option<&str>) -> Context {
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier)
}

/// A context whose remote parent is the X-Ray trace header's (`Root=1-…;Parent=…`), or an
/// empty one when the header is absent or unreadable.
pub fn xray_context(header: Option<&str>) -> Context {
    match header.and_then(from_xray) {
        Some(sc) => Context::new().with_remote_span_context(sc),
        None => Context::new(),
    }
}

/// Reads an AWS X-Ray trace header: `Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=1`.
/// The W3C trace id is the root's 32 hex digits; the parent is the X-Ray segment.
pub fn from_xray(header: &str) -> Option<SpanContext> {
    let mut root = None;
    let mut parent = None;
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v),
            Some(("Parent", v)) => parent = Some(v),
            _ => {}
        }
    }
    let mut pieces = root?.split('-');
    let (version, time, rest) = (pieces.next()?, pieces.next()?, pieces.next()?);
    if version != "1" || time.len() != 8 || rest.len() != 24 || pieces.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(&format!("{time}{rest}")).ok()?;
    let parent = parent?;
    if parent.len() != 16 {
        return None;
    }
    let span_id = SpanId::from_hex(parent).ok()?;
    let sc = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// The AWS X-Ray trace header for a W3C `traceparent` (`00-<32 hex>-<16 hex>-<flags>`):
/// `Root=1-<first 8 hex>-<other 24>;Parent=<16 hex>;Sampled=<0|1>`, the inverse of
/// [`from_xray`], so X-Ray and the W3C context name one trace. `None` for anything else.
pub fn to_xray(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if version != "00"
        || parts.next().is_some()
        || !hex(trace, 32)
        || !hex(parent, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1;
    Some(format!(
        "Root=1-{}-{};Parent={parent};Sampled={sampled}",
        &trace[..8],
        &trace[8..]
    ))
}

/// The trace id of the context's span, as 32 hex digits; `None` when it has none.
pub fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The W3C `traceparent` of the context's span; `None` when it has none.
pub fn traceparent(cx: &Context) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Sets `envelope`'s trace context to the context's span, when it has one.
pub fn stamp<T>(envelope: &mut Envelope<T>, cx: &Context) {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    if let Some(traceparent) = carrier.remove("traceparent") {
        envelope.traceparent = Some(traceparent);
        envelope.tracestate = carrier.remove("tracestate").filter(|s| !s.is_empty());
    }
}

/// `envelope` as it should leave this process: stamped with the current span when one of
/// this process's spans is current, else unchanged (a forwarder keeps the sender's).
pub fn stamped(envelope: &Envelope) -> Cow<'_, Envelope> {
    let cx = Context::current();
    if !is_local(&cx) {
        return Cow::Borrowed(envelope);
    }
    let mut owned = envelope.clone();
    stamp(&mut owned, &cx);
    Cow::Owned(owned)
}

/// [`stamped`] in place, for an envelope with a typed payload.
pub fn stamp_current<T>(envelope: &mut Envelope<T>) {
    let cx = Context::current();
    if is_local(&cx) {
        stamp(envelope, &cx);
    }
}

fn is_local(cx: &Context) -> bool {
    cx.has_active_span() && !cx.span().span_context().is_remote()
}

fn envelope_attributes(envelope: &Envelope, operation: &'static str) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("cloudevents.event_id", envelope.id.clone()),
        KeyValue::new("cloudevents.event_type", envelope.event_type.clone()),
        KeyValue::new("cloudevents.event_source", envelope.source.clone()),
        KeyValue::new("eventkit.correlation_id", envelope.correlation_id.clone()),
    ];
    if let Some(causation) = &envelope.causation_id {
        attributes.push(KeyValue::new("eventkit.causation_id", causation.clone()));
    }
    attributes
}

/// Starts the span of processing `envelope` (kind consumer), continuing [`parent`]; returns
/// the context to run the handler in. End it with [`finish`].
pub fn consumer(envelope: &Envelope) -> Context {
    envelope_span(envelope, "process", SpanKind::Consumer)
}

/// Starts the span of sending `envelope` on (kind producer), continuing [`parent`]; a
/// forwarder (the outbox relay) stamps the envelope with it. End it with [`finish`].
pub fn producer(envelope: &Envelope) -> Context {
    envelope_span(envelope, "send", SpanKind::Producer)
}

/// A span named `<operation> <type>` (messaging conventions), continuing the envelope's trace.
fn envelope_span(envelope: &Envelope, operation: &'static str, kind: SpanKind) -> Context {
    let parent = parent(envelope);
    if TRACER.get().is_none() {
        return parent;
    }
    start(
        format!("{operation} {}", envelope.event_type),
        kind,
        envelope_attributes(envelope, operation),
        &parent,
    )
}

/// Starts a span named `name` of `kind` under `parent`; without an installed tracer the
/// parent comes back unchanged.
pub fn start(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: &Context,
) -> Context {
    match TRACER.get() {
        None => parent.clone(),
        Some(tracer) => {
            let span = tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(attributes)
                .start_with_context(tracer, parent);
            parent.with_span(span)
        }
    }
}

/// Ends the context's span: an error status with `error`'s text, else OK.
pub fn finish(cx: &Context, error: Option<&dyn fmt::Display>) {
    if !has_own_span(cx) {
        return;
    }
    let span = cx.span();
    match error {
        Some(e) => span.set_status(Status::error(e.to_string())),
        None => span.set_status(Status::Ok),
    }
    span.end();
}

fn has_own_span(cx: &Context) -> bool {
    is_local(cx) && TRACER.get().is_some()
}

/// Adds an attribute to the context's span.
pub fn set_attribute(cx: &Context, attribute: KeyValue) {
    if has_own_span(cx) {
        cx.span().set_attribute(attribute);
    }
}

/// Starts the server span of an HTTP request, `<METHOD> <route>` (HTTP semantic
/// conventions), continuing the caller's `traceparent` (and `tracestate`), else the
/// invocation's X-Ray trace, else a new trace. End it with [`http_finish`].
pub fn server(
    method: &str,
    route: &str,
    path: &str,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
    xray: Option<&str>,
) -> Context {
    let parent = continued(traceparent, tracestate, || xray_context(xray));
    if TRACER.get().is_none() {
        return parent;
    }
    start(
        format!("{method} {route}"),
        SpanKind::Server,
        vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("url.path", path.to_owned()),
        ],
        &parent,
    )
}

/// Ends an HTTP server span with its response status (an error status with `error`).
pub fn http_finish(cx: &Context, status: u16, error: Option<&dyn fmt::Display>) {
    set_attribute(
        cx,
        KeyValue::new("http.response.status_code", i64::from(status)),
    );
    finish(cx, error);
}

/// Writes each span as one OTLP/JSON `ExportTraceServiceRequest` line: the resource's
/// `service.name` is the Lambda function (or `OTEL_SERVICE_NAME`).
pub struct JsonLines<W> {
    writer: Mutex<W>,
    /// Everything before the span: resource and scope, escaped once.
    prefix: Vec<u8>,
}

impl<W> JsonLines<W> {
    /// An exporter writing to `writer`.
    pub fn new(writer: W) -> Self {
        let service = std::env::var("OTEL_SERVICE_NAME")
            .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_else(|_| "unknown_service".to_owned());
        let mut prefix = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"#.to_vec();
        json_str(&mut prefix, &service);
        prefix.extend_from_slice(br#"}}]},"scopeSpans":[{"scope":{"name":"#);
        json_str(&mut prefix, SCOPE);
        prefix.extend_from_slice(br#"},"spans":["#);
        JsonLines {
            writer: Mutex::new(writer),
            prefix,
        }
    }
}

impl<W> fmt::Debug for JsonLines<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines").finish_non_exhaustive()
    }
}

impl<W: Write + Send + Sync> SpanExporter for JsonLines<W> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut lines = Vec::with_capacity(1024 * batch.len());
        for span in &batch {
            lines.extend_from_slice(&self.prefix);
            write_span(&mut lines, span);
            lines.extend_from_slice(b"]}]}]}\n");
        }
        // One write per batch, so a line never interleaves with a log line.
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .write_all(&lines)
            .and_then(|()| writer.flush())
            .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))
    }
}

/// `s` as a JSON string (quoted, escaped).
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn kind_number(kind: &SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// One OTLP/JSON span: ids in hex, times as nanosecond strings, enums as numbers. Written
/// straight into the buffer: the exporter runs once per record.
fn write_span(out: &mut Vec<u8>, span: &SpanData) {
    // Writes into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"traceId":"{}","spanId":"{}","#,
        span.span_context.trace_id(),
        span.span_context.span_id()
    );
    if span.parent_span_id != SpanId::INVALID {
        let _ = write!(out, r#""parentSpanId":"{}","#, span.parent_span_id);
    }
    out.extend_from_slice(br#""name":"#);
    json_str(out, &span.name);
    let _ = write!(
        out,
        r#","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":["#,
        kind_number(&span.span_kind),
        nanos(span.start_time),
        nanos(span.end_time)
    );
    for (i, kv) in span.attributes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"key":"#);
        json_str(out, kv.key.as_str());
        out.extend_from_slice(br#","value":{"#);
        match &kv.value {
            Value::Bool(b) => {
                let _ = write!(out, r#""boolValue":{b}"#);
            }
            Value::I64(i) => {
                let _ = write!(out, r#""intValue":"{i}""#);
            }
            Value::F64(f) if f.is_finite() => {
                let _ = write!(out, r#""doubleValue":{f}"#);
            }
            Value::String(s) => {
                out.extend_from_slice(br#""stringValue":"#);
                json_str(out, s.as_str());
            }
            other => {
                out.extend_from_slice(br#""stringValue":"#);
                json_str(out, &other.to_string());
            }
        }
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(br#"],"status":"#);
    match &span.status {
        Status::Unset => out.extend_from_slice(b"{}"),
        Status::Ok => out.extend_from_slice(br#"{"code":1}"#),
        Status::Error { description } => {
            out.extend_from_slice(br#"{"code":2,"message":"#);
            json_str(out, description);
            out.push(b'}');
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_traceparent_becomes_the_xray_header_that_reads_back_as_it() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let header = to_xray(tp).unwrap();
        assert_eq!(
            header,
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
        );
        let sc = from_xray(&header).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
        assert!(
            to_xray("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
                .unwrap()
                .ends_with("Sampled=0")
        );
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033zz-01",
        ] {
            assert_eq!(to_xray(bad), None, "{bad}");
        }
    }

    #[test]
    fn xray_headers_become_w3c_parents() {
        // The example in the X-Ray developer guide.
        let sc =
            from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(sc.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(sc.is_remote());
        for bad in [
            "",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3f;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a99427279z;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
        ] {
            assert!(from_xray(bad).is_none(), "{bad} read as a parent");
        }
        assert_eq!(
            trace_id(&xray_context(Some(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
            )))
            .as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        let mut e = Envelope::new("s", "t", json!({}));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            e.traceparent = Some(bad.to_owned());
            assert_eq!(trace_id(&parent(&e)), None, "{bad} continued");
        }
        e.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        e.tracestate = Some("congo=t61rcWkgMzE".into());
        let cx = parent(&e);
        let mut next = Envelope::new("s", "u", json!({}));
        stamp(&mut next, &cx);
        assert_eq!(next.traceparent, e.traceparent);
        assert_eq!(next.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    }
}
