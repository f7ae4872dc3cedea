//! Fault injection for the deployed-stack tests, in **debug builds only**: an envelope
//! carrying the extension `eventkitfault` makes the router kill its own process, or hold,
//! around the handler, so a test can crash a real Lambda process at a chosen point of an
//! idempotent record. A release build (`cargo lambda build --release`, `sam build`) has none
//! of this code: the handler runs alone.
//!
//! Values of `eventkitfault`:
//! - `abort-before-handler`: after the idempotency record is claimed (`INPROGRESS`), before
//!   the handler runs; the process aborts, as one killed mid-record would.
//! - `abort-after-handler`: after the handler returned (its effect applied; with
//!   [`crate::Router::on_completing`] its record committed with it), before the answer.
//! - `hold-<ms>`: sleeps that long after the claim, holding the record `INPROGRESS`.
//! - `panic-in-handler`: panics where the handler would run, every time (a poison record).
//!
//! An abort happens once per envelope id on a host (a marker file in the temp directory),
//! so the redelivery that follows runs normally.
//!
//! An envelope naming `hold-100` makes the router hold its handler back 100 ms (this is a
//! debug build, as doctests are; a release build ignores the extension).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use eventkit::{fault, Envelope, Event, Router};
//! use serde_json::{json, Value};
//!
//! # tokio_test(async {
//! let router = Router::new().on("order.placed", |_, event: Event<Value>| async move {
//!     Ok::<_, lambda_runtime::Error>(event.data["order"].clone())
//! });
//! let mut placed = Envelope::new("shop", "order.placed", json!({"order": 42}));
//! placed.extensions.insert(fault::EXTENSION.into(), json!("hold-100"));
//! let started = Instant::now();
//! assert_eq!(router.dispatch(placed, None).await.unwrap(), json!(42));
//! assert!(started.elapsed() >= Duration::from_millis(100));
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::future::Future;

use crate::Envelope;

/// The extension attribute that names a fault.
pub const EXTENSION: &str = "eventkitfault";

/// The fault an envelope names (always none in a release build).
#[derive(Clone, Debug, Default)]
pub(crate) struct Fault {
    #[cfg(debug_assertions)]
    named: Option<(String, String)>,
}

/// Reads `envelope`'s fault, before the envelope moves into its handler.
pub(crate) fn of(envelope: &Envelope) -> Fault {
    #[cfg(debug_assertions)]
    {
        let named = envelope.extensions.get(EXTENSION).and_then(|v| v.as_str());
        Fault {
            named: named.map(|f| (f.to_owned(), envelope.id.clone())),
        }
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = envelope;
        Fault::default()
    }
}

impl Fault {
    /// Runs `handler` with this fault around it.
    pub(crate) async fn around<T>(self, handler: impl Future<Output = T>) -> T {
        #[cfg(debug_assertions)]
        if let Some((fault, id)) = &self.named {
            match fault.as_str() {
                "abort-before-handler" => abort_once(id, "before the handler"),
                "panic-in-handler" => panic!("fault injected: the handler panicked"),
                hold if hold.starts_with("hold-") => {
                    if let Ok(ms) = hold["hold-".len()..].parse::<u64>() {
                        tracing::warn!(ms, "fault injected: holding the record in progress");
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                }
                _ => {}
            }
            let output = handler.await;
            if fault == "abort-after-handler" {
                abort_once(id, "after the handler");
            }
            return output;
        }
        handler.await
    }
}

/// Aborts the process unless this envelope id already aborted one on this host.
#[cfg(debug_assertions)]
fn abort_once(id: &str, when: &str) {
    let name: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let marker = std::env::temp_dir().join(format!("eventkitfault-{name}"));
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok();
    if first {
        tracing::warn!(when, "fault injected: aborting the process");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panic_fault_panics_in_place_of_the_handler() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let outcome = tokio::spawn(of(&envelope(Some("panic-in-handler"))).around(async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }))
        .await;
        assert!(outcome.unwrap_err().is_panic());
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    fn envelope(fault: Option<&str>) -> Envelope {
        let mut e = Envelope::new("test", "t", json!({}));
        if let Some(f) = fault {
            e.extensions.insert(EXTENSION.into(), json!(f));
        }
        e
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_delays_the_handler_and_other_values_do_not() {
        let start = tokio::time::Instant::now();
        assert_eq!(
            of(&envelope(Some("hold-1500"))).around(async { 1 }).await,
            1
        );
        assert_eq!(start.elapsed(), Duration::from_millis(1500));

        let start = tokio::time::Instant::now();
        for fault in [None, Some("hold-soon"), Some("abort-later"), Some("")] {
            assert_eq!(of(&envelope(fault)).around(async { 2 }).await, 2);
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "unknown faults are ignored"
        );
    }
}
