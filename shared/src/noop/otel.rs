//! The `otel` feature off: the crate's trace hooks, compiled to nothing. Envelopes keep the
//! `traceparent` they arrived with (a forwarder passes it on); no span starts, none is
//! exported, and no X-Ray header is derived.

// Each hook is called only from the modules and adapters whose features are on.
#![allow(dead_code)]

use std::borrow::Cow;
use std::fmt;

use crate::envelope::Envelope;

/// Stands in for an OpenTelemetry context: there is never a span.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Context;

/// `.with_context(cx)` leaves the future as it is.
pub(crate) trait FutureExt: Sized {
    fn with_context(self, _cx: Context) -> Self {
        self
    }
}

impl<F: std::future::Future> FutureExt for F {}

pub(crate) fn init() {}

pub(crate) fn xray_context(_header: Option<&str>) -> Context {
    Context
}

pub(crate) fn to_xray(_traceparent: &str) -> Option<String> {
    None
}

pub(crate) fn trace_id(_cx: &Context) -> Option<String> {
    None
}

pub(crate) fn stamp<T>(_envelope: &mut Envelope<T>, _cx: &Context) {}

pub(crate) fn stamped(envelope: &Envelope) -> Cow<'_, Envelope> {
    Cow::Borrowed(envelope)
}

pub(crate) fn consumer(_envelope: &Envelope) -> Context {
    Context
}

pub(crate) fn producer(_envelope: &Envelope) -> Context {
    Context
}

pub(crate) fn finish(_cx: &Context, _error: Option<&dyn fmt::Display>) {}

pub(crate) fn server(
    _method: &str,
    _route: &str,
    _path: &str,
    _traceparent: Option<&str>,
    _tracestate: Option<&str>,
    _xray: Option<&str>,
) -> Context {
    Context
}

pub(crate) fn http_finish(_cx: &Context, _status: u16, _error: Option<&dyn fmt::Display>) {}
