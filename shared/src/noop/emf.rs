//! The `emf` feature off: the crate's metric hooks, compiled to nothing (no recorder, no
//! EMF documents on stdout).

// Each hook is called only from the modules whose features are on.
#![allow(dead_code)]

/// Stands in for an EventType label: there is never one.
pub(crate) type Label = ();

pub(crate) fn init() {}

pub(crate) fn flush_invocation(_request_id: &str) {}

pub(crate) fn type_label(_event_type: &str) -> Option<Label> {
    None
}

pub(crate) fn dispatched(_event_type: Option<&Label>, _ok: bool, _age_ms: Option<f64>) {}

pub(crate) fn records(_processed: u64, _failed: u64) {}

pub(crate) fn duplicate_absorbed(_event_type: Option<&Label>) {}

pub(crate) fn skipped(_label: &'static str) {}

pub(crate) fn unknown_type() {}

pub(crate) fn batch(_size: usize, _retried: usize) {}

pub(crate) fn claim_check_offloaded(_bytes: usize) {}

pub(crate) fn claim_check_redeemed(_bytes: usize) {}

/// No age is measured: nothing would record it.
pub(crate) fn age_ms(_time: Option<chrono::DateTime<chrono::Utc>>) -> Option<f64> {
    None
}
