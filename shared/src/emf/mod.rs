//! CloudWatch metrics in Embedded Metric Format, emitted by the router for every function.
//!
//! The router and the claim check count what passes through them on the [`metrics`] facade;
//! [`metrics_cloudwatch_embedded`] turns the counts into EMF documents, and
//! [`Router::run`](crate::Router::run) writes them to stdout after each invocation, where
//! Lambda's log stream carries them to CloudWatch: no network call, no code in the function.
//!
//! | Metric | Unit | Dimensions |
//! |---|---|---|
//! | `RecordsProcessed`, `RecordsFailed` | Count | Function, Pattern (and the same per EventType) |
//! | `RecordsRetried` (an SQS record received before) | Count | Function, Pattern |
//! | `DuplicatesAbsorbed` (an idempotency hit) | Count | Function, Pattern (and per EventType) |
//! | `UnknownType` | Count | Function, Pattern |
//! | `RecordsSkipped` (a stream record its reader declares skipped) | Count | Function, Pattern (and per Skip label) |
//! | `EventAge` (now − the envelope's `time`) | Milliseconds | Function, Pattern (and per EventType) |
//! | `BatchSize` | Count | Function, Pattern |
//! | `ClaimChecksOffloaded`, `ClaimChecksRedeemed` | Count | Function, Pattern |
//! | `ClaimCheckBytesOffloaded`, `ClaimCheckBytesRedeemed` | Bytes | Function, Pattern |
//!
//! The outbox relay counts the same way (records, batch size, event age; no EventType, as
//! it forwards what producers wrote), and the HTTP front door counts its requests.
//!
//! Settings, read once: the namespace from `POWERTOOLS_METRICS_NAMESPACE` (Powertools'
//! name for it, default `eventkit`), the Pattern dimension from `EVENTKIT_PATTERN`, the
//! Function dimension from `AWS_LAMBDA_FUNCTION_NAME`; `POWERTOOLS_METRICS_DISABLED=true`
//! turns emission off. EventType values are the types a function has handlers for, never
//! what a producer sent, so a foreign producer cannot grow the number of metrics.
//!
//! Counts become an EMF document with the function's dimensions, which the specification
//! checker ([`spec`]) reads back as CloudWatch would.
//!
//! ```
//! use eventkit::emf::{self, spec};
//!
//! // Lambda sets the function name; the namespace is Powertools' setting.
//! std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "shop-orders");
//! std::env::set_var("POWERTOOLS_METRICS_NAMESPACE", "Shop");
//! # std::env::remove_var("EVENTKIT_PATTERN");
//! # std::env::remove_var("POWERTOOLS_METRICS_DISABLED");
//! assert!(emf::init().is_some());
//! emf::records(3, 1); // what a function that is not a router counts itself
//! let documents = String::from_utf8(emf::take()).unwrap();
//! let data: Vec<spec::Datum> =
//!     documents.lines().flat_map(|line| spec::check_line(line).unwrap()).collect();
//! let processed = data.iter().find(|d| d.name == emf::RECORDS_PROCESSED).unwrap();
//! assert_eq!(processed.namespace, "Shop");
//! assert_eq!(processed.dimensions, [("Function".to_owned(), "shop-orders".to_owned())]);
//! assert_eq!(processed.values, [3.0]);
//! assert!(emf::take().is_empty(), "taking resets the counts");
//! ```

pub mod spec;

use std::io::Write;
use std::sync::{Arc, OnceLock};

use metrics::{SharedString, Unit};
use metrics_cloudwatch_embedded::Collector;

/// Records the router answered for without error.
pub const RECORDS_PROCESSED: &str = "RecordsProcessed";
/// Records returned to their source (failed, or not attempted after a failure in order).
pub const RECORDS_FAILED: &str = "RecordsFailed";
/// SQS records that had been received before (`ApproximateReceiveCount` > 1).
pub const RECORDS_RETRIED: &str = "RecordsRetried";
/// Idempotency hits: a duplicate answered from its stored result.
pub const DUPLICATES_ABSORBED: &str = "DuplicatesAbsorbed";
/// Envelopes of a type (or version) the function has no handler for.
pub const UNKNOWN_TYPE: &str = "UnknownType";
/// Stream records skipped as their reader declares ([`crate::stream::StreamReader`]).
pub const RECORDS_SKIPPED: &str = "RecordsSkipped";
/// The label that becomes the Skip dimension: the declared rule's label.
pub const SKIP: &str = "Skip";
/// Milliseconds from the envelope's `time` to its dispatch.
pub const EVENT_AGE: &str = "EventAge";
/// Records in one SQS or DynamoDB Streams batch.
pub const BATCH_SIZE: &str = "BatchSize";
/// Payloads moved to S3 by the claim check.
pub const CLAIM_CHECKS_OFFLOADED: &str = "ClaimChecksOffloaded";
/// Bytes moved to S3 by the claim check.
pub const CLAIM_CHECK_BYTES_OFFLOADED: &str = "ClaimCheckBytesOffloaded";
/// Payloads brought back from S3 by the claim check.
pub const CLAIM_CHECKS_REDEEMED: &str = "ClaimChecksRedeemed";
/// Bytes brought back from S3 by the claim check.
pub const CLAIM_CHECK_BYTES_REDEEMED: &str = "ClaimCheckBytesRedeemed";

/// The label that becomes the EventType dimension.
pub const EVENT_TYPE: &str = "EventType";
/// The namespace when `POWERTOOLS_METRICS_NAMESPACE` is unset or unusable.
pub const DEFAULT_NAMESPACE: &str = "eventkit";

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// The settings metrics are emitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// CloudWatch namespace.
    pub namespace: String,
    /// Dimensions on every metric, in order (Function, Pattern).
    pub dimensions: Vec<(String, String)>,
    /// Whether metrics are emitted at all.
    pub enabled: bool,
}

impl Settings {
    /// Reads the settings from the environment; unusable values are sanitised or dropped
    /// with a warning, never an error (metrics must not cost a record).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Settings::from_env`] over any lookup (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let enabled = !lookup("POWERTOOLS_METRICS_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let namespace = match lookup("POWERTOOLS_METRICS_NAMESPACE") {
            None => DEFAULT_NAMESPACE.to_owned(),
            Some(raw) => sanitise_namespace(&raw).unwrap_or_else(|| {
                tracing::warn!(namespace = %raw, default = DEFAULT_NAMESPACE, "POWERTOOLS_METRICS_NAMESPACE is not a CloudWatch namespace (1-255 of A-Z a-z 0-9 . - _ / # : and space); using the default");
                DEFAULT_NAMESPACE.to_owned()
            }),
        };
        let mut dimensions = Vec::new();
        for (dimension, variable) in [
            ("Function", "AWS_LAMBDA_FUNCTION_NAME"),
            ("Pattern", "EVENTKIT_PATTERN"),
        ] {
            let raw = lookup(variable).unwrap_or_default();
            match sanitise_dimension_value(&raw) {
                Some(value) => dimensions.push((dimension.to_owned(), value)),
                None => tracing::warn!(
                    variable,
                    "{dimension} dimension dropped: {variable} is unset or has no printable character"
                ),
            }
        }
        Self {
            namespace,
            dimensions,
            enabled,
        }
    }
}

/// A CloudWatch namespace: characters outside `A-Z a-z 0-9 . - _ / # :` and space become
/// `_`, cut to 255; `None` when nothing printable is left or it starts with `AWS/`
/// (reserved for AWS).
pub fn sanitise_namespace(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_/#: ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(255)
        .collect();
    let usable = cleaned.chars().any(|c| c.is_ascii_alphanumeric()) && !cleaned.starts_with("AWS/");
    usable.then_some(cleaned)
}

/// A dimension value: control characters removed, cut to 1024 characters; `None` when
/// nothing but whitespace is left (CloudWatch refuses such a value).
pub fn sanitise_dimension_value(raw: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).take(1024).collect();
    let cleaned = cleaned.trim().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Installs the EMF recorder as the process's [`metrics`] recorder, once; later calls return
/// the first result. `None` when metrics are disabled or another recorder was installed
/// first (then that one gets the counts).
pub fn init() -> Option<&'static Collector> {
    *COLLECTOR.get_or_init(|| install(Settings::from_env()))
}

fn install(settings: Settings) -> Option<&'static Collector> {
    if !settings.enabled {
        tracing::info!("metrics disabled (POWERTOOLS_METRICS_DISABLED=true)");
        return None;
    }
    let mut builder =
        metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(settings.namespace);
    for (name, value) in settings.dimensions {
        builder = builder.with_dimension(name, value);
    }
    match builder.init() {
        Ok(collector) => {
            describe();
            Some(collector)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics not emitted: a metrics recorder is already installed");
            None
        }
    }
}

fn describe() {
    for name in [
        RECORDS_PROCESSED,
        RECORDS_FAILED,
        RECORDS_RETRIED,
        DUPLICATES_ABSORBED,
        UNKNOWN_TYPE,
        RECORDS_SKIPPED,
        CLAIM_CHECKS_OFFLOADED,
        CLAIM_CHECKS_REDEEMED,
    ] {
        metrics::describe_counter!(name, Unit::Count, "");
    }
    metrics::describe_histogram!(EVENT_AGE, Unit::Milliseconds, "");
    metrics::describe_histogram!(BATCH_SIZE, Unit::Count, "");
    metrics::describe_counter!(CLAIM_CHECK_BYTES_OFFLOADED, Unit::Bytes, "");
    metrics::describe_counter!(CLAIM_CHECK_BYTES_REDEEMED, Unit::Bytes, "");
}

/// [`flush`] for one Lambda invocation: its documents carry `function_request_id` (as
/// Powertools' do), so a log search finds the metrics of one invocation.
pub fn flush_invocation(request_id: &str) {
    if let Some(Some(collector)) = COLLECTOR.get() {
        collector.set_property("function_request_id", request_id);
    }
    flush();
}

/// Writes what was counted since the last flush as EMF documents, one per line, to stdout
/// in one write (so no log line lands inside one). A no-op when metrics are off.
pub fn flush() {
    let documents = take();
    if !documents.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&documents).and_then(|()| out.flush());
    }
}

/// What was counted since the last flush, as EMF documents one per line, and resets the
/// counts; empty when metrics are off or nothing was counted.
pub fn take() -> Vec<u8> {
    let Some(Some(collector)) = COLLECTOR.get() else {
        return Vec::new();
    };
    let mut buffer = Vec::new();
    if let Err(e) = collector.flush(&mut buffer) {
        tracing::warn!(error = %e, "metrics could not be serialised; this invocation's counts are lost");
        return Vec::new();
    }
    buffer
}

/// An EventType label as the router keeps it per route (the `emf` feature off, a unit).
pub(crate) type Label = SharedString;

/// The EventType label for a handled type, or none if the format would refuse it. Built
/// once per route (sanitising and allocating per record would sit on the hot path);
/// cloning it is a reference count.
pub(crate) fn type_label(event_type: &str) -> Option<SharedString> {
    sanitise_dimension_value(event_type).map(|v| SharedString::from(Arc::<str>::from(v)))
}

/// One envelope dispatched: its outcome per type (label from [`type_label`]) and overall,
/// and its age.
pub(crate) fn dispatched(event_type: Option<&SharedString>, ok: bool, age_ms: Option<f64>) {
    let name = if ok {
        RECORDS_PROCESSED
    } else {
        RECORDS_FAILED
    };
    if let Some(label) = event_type {
        metrics::counter!(name, EVENT_TYPE => label.clone()).increment(1);
        if let Some(age) = age_ms {
            metrics::histogram!(EVENT_AGE, EVENT_TYPE => label.clone()).record(age);
        }
    }
    if let Some(age) = age_ms {
        metrics::histogram!(EVENT_AGE).record(age);
    }
}

/// Adds to the overall outcome counters (`RecordsProcessed`, `RecordsFailed`). The router
/// counts its records itself, the HTTP entry (`http::Api`) each request; a function that
/// is neither counts its work here and calls [`flush`] after each invocation.
pub fn records(processed: u64, failed: u64) {
    if processed > 0 {
        metrics::counter!(RECORDS_PROCESSED).increment(processed);
    }
    if failed > 0 {
        metrics::counter!(RECORDS_FAILED).increment(failed);
    }
}

pub(crate) fn duplicate_absorbed(event_type: Option<&SharedString>) {
    if let Some(label) = event_type {
        metrics::counter!(DUPLICATES_ABSORBED, EVENT_TYPE => label.clone()).increment(1);
    }
    metrics::counter!(DUPLICATES_ABSORBED).increment(1);
}

/// A stream record skipped by the declared rule `label` (a constant of the function's
/// configuration, so the dimension's values are bounded).
pub(crate) fn skipped(label: &'static str) {
    metrics::counter!(RECORDS_SKIPPED, SKIP => label).increment(1);
    metrics::counter!(RECORDS_SKIPPED).increment(1);
}

pub(crate) fn unknown_type() {
    metrics::counter!(UNKNOWN_TYPE).increment(1);
}

pub(crate) fn batch(size: usize, retried: usize) {
    metrics::histogram!(BATCH_SIZE).record(size as f64);
    if retried > 0 {
        metrics::counter!(RECORDS_RETRIED).increment(retried as u64);
    }
}

pub(crate) fn claim_check_offloaded(bytes: usize) {
    metrics::counter!(CLAIM_CHECKS_OFFLOADED).increment(1);
    metrics::counter!(CLAIM_CHECK_BYTES_OFFLOADED).increment(bytes as u64);
}

pub(crate) fn claim_check_redeemed(bytes: usize) {
    metrics::counter!(CLAIM_CHECKS_REDEEMED).increment(1);
    metrics::counter!(CLAIM_CHECK_BYTES_REDEEMED).increment(bytes as u64);
}

/// Milliseconds since `time`, never negative (a producer's clock ahead of ours reads 0).
pub(crate) fn age_ms(time: Option<chrono::DateTime<chrono::Utc>>) -> Option<f64> {
    time.map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn settings_come_from_powertools_and_lambda_variables() {
        let s = settings(&[
            ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
            ("AWS_LAMBDA_FUNCTION_NAME", "shop-p2p-consumer"),
            ("EVENTKIT_PATTERN", "point-to-point"),
        ]);
        assert_eq!(s.namespace, "Shop");
        assert!(s.enabled);
        assert_eq!(
            s.dimensions,
            vec![
                ("Function".to_owned(), "shop-p2p-consumer".to_owned()),
                ("Pattern".to_owned(), "point-to-point".to_owned()),
            ]
        );
        assert!(!settings(&[("POWERTOOLS_METRICS_DISABLED", "TRUE")]).enabled);
        assert!(settings(&[("POWERTOOLS_METRICS_DISABLED", "false")]).enabled);
    }

    #[test]
    fn unusable_settings_are_sanitised_or_dropped_not_fatal() {
        let s = settings(&[
            ("POWERTOOLS_METRICS_NAMESPACE", "AWS/Lambda"),
            ("AWS_LAMBDA_FUNCTION_NAME", "fn\u{0}-a\n"),
            ("EVENTKIT_PATTERN", " \t "),
        ]);
        assert_eq!(s.namespace, DEFAULT_NAMESPACE, "AWS/ is reserved");
        assert_eq!(
            s.dimensions,
            vec![("Function".to_owned(), "fn-a".to_owned())],
            "control characters removed; a blank Pattern dropped"
        );
        assert_eq!(sanitise_namespace("my app!").as_deref(), Some("my app_"));
        assert_eq!(sanitise_namespace("!!!"), None);
        assert_eq!(sanitise_namespace(&"n".repeat(300)).unwrap().len(), 255);
        assert_eq!(
            sanitise_dimension_value(&"é".repeat(2000))
                .unwrap()
                .chars()
                .count(),
            1024
        );
    }

    #[test]
    fn an_event_age_is_never_negative() {
        let future = chrono::Utc::now() + chrono::Duration::seconds(30);
        assert_eq!(age_ms(Some(future)), Some(0.0));
        let past = chrono::Utc::now() - chrono::Duration::seconds(2);
        assert!(age_ms(Some(past)).unwrap() >= 2000.0);
        assert_eq!(age_ms(None), None);
    }
}
