//! Scatter-gather with completion policies. One crate, deployed as the aggregator and as
//! each supplier (`ROLE`).
//!
//! * A buyer publishes `quote.requested` (the suppliers to ask, a completion policy and a
//!   deadline). The bus fans it out to every supplier and to the aggregator.
//! * Each supplier asked answers `quote.offered` on the bus (or, invoked by the Step
//!   Functions form with `reply` = `inline`, returns the offer).
//! * The aggregator ([`aggregator`]) opens a gather in DynamoDB keyed by the correlation id
//!   and starts a timer for the deadline (a delayed message on its own queue). Each offer
//!   is added in one conditional write; when the policy is met — every supplier
//!   ([`Completion::All`]), the first N, or nothing before the deadline
//!   ([`Completion::Deadline`]) — or the deadline passes, the gather closes (one writer
//!   wins) and one `quote.aggregated` goes out, naming the suppliers that are missing. A
//!   duplicate part or a late part (after completion, or once the gather is full) is
//!   dropped with a log line; a part for a
//!   gather not opened yet is retried until it is.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventkit::envelope::stable_id;
use eventkit::idempotency::StoreError;
use eventkit::publish::{PublishError, Publisher};
use eventkit::ErrorType;
use eventkit::{Envelope, Event, Router};
use eventkit_contracts::quotes::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod aws;

/// Why a request or part was not handled.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum GatherError {
    /// The request is unusable.
    #[error("invalid quote request: {0}")]
    #[error_type("InvalidRequest")]
    Invalid(String),
    /// An offer for a gather not opened yet (the request is still on its way): retried.
    #[error("no gather is open under correlation id `{0}` yet; the offer is retried until its request arrives")]
    NotOpenYet(String),
    /// A store, bus or timer call failed; retryable.
    #[error("{0}")]
    #[error_type("TransientError")]
    Transient(String),
}

impl From<StoreError> for GatherError {
    fn from(e: StoreError) -> Self {
        GatherError::Transient(e.to_string())
    }
}

impl From<PublishError> for GatherError {
    fn from(e: PublishError) -> Self {
        GatherError::Transient(e.to_string())
    }
}

/// A gather as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather {
    /// What is quoted.
    pub sku: String,
    /// The suppliers asked.
    pub expected: Vec<String>,
    /// The policy.
    pub completion: Completion,
    /// Epoch ms.
    pub deadline_ms: i64,
    /// Offers by supplier.
    pub parts: BTreeMap<String, QuoteOffered>,
    /// `policy` or `deadline` once closed.
    pub completed_by: Option<String>,
    /// Whether the composite result went out (a close whose publish failed is retried).
    #[serde(default)]
    pub published: bool,
}

impl Gather {
    /// Whether the policy is met by the parts held.
    pub fn policy_met(&self) -> bool {
        match &self.completion {
            Completion::All => self.expected.iter().all(|s| self.parts.contains_key(s)),
            Completion::First { n } => self.parts.len() >= *n,
            Completion::Deadline => false,
        }
    }

    /// How many parts the gather takes: once it holds this many, a further part is too
    /// late even if the close that the last one triggered has not been written yet.
    pub fn capacity(&self) -> usize {
        match &self.completion {
            Completion::First { n } => (*n).min(self.expected.len()),
            Completion::All | Completion::Deadline => self.expected.len(),
        }
    }

    /// The composite result.
    pub fn result(&self) -> QuoteAggregated {
        let mut offers: Vec<QuoteOffered> = self.parts.values().cloned().collect();
        offers.sort_by_key(|o| (o.price, o.lead_days));
        QuoteAggregated {
            sku: self.sku.clone(),
            offers,
            missing: self
                .expected
                .iter()
                .filter(|s| !self.parts.contains_key(*s))
                .cloned()
                .collect(),
            completion: self.completion.clone(),
            completed_by: self.completed_by.clone().unwrap_or_default(),
        }
    }
}

/// What adding a part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// Added; the gather as it is now.
    Added(Gather),
    /// This supplier already answered: dropped. The gather as it is (a redelivered part
    /// whose close failed finds its policy met and closes it).
    Duplicate(Gather),
    /// The gather is closed, or holds all the parts its policy takes: dropped.
    Closed,
    /// No gather under this id.
    Unknown,
}

/// Gathers in progress and done.
#[async_trait]
pub trait Gathers: Send + Sync {
    /// Opens a gather; `false` when one exists (a redelivered request).
    async fn open(&self, id: &str, gather: &Gather) -> Result<bool, StoreError>;
    /// Adds an offer if the gather is open and the supplier has not answered.
    async fn add_part(&self, id: &str, offer: &QuoteOffered) -> Result<Added, StoreError>;
    /// Closes an open gather (one caller wins) and returns it; also returns a closed gather
    /// whose result is not published yet (its closer failed to publish). `None` otherwise.
    async fn close(&self, id: &str, completed_by: &str) -> Result<Option<Gather>, StoreError>;
    /// Records that the composite result went out.
    async fn published(&self, id: &str) -> Result<(), StoreError>;
}

/// Fires the deadline.
#[async_trait]
pub trait Timer: Send + Sync {
    /// Delivers `event` to the aggregator after `delay`.
    async fn after(&self, delay: Duration, event: &Envelope) -> Result<(), GatherError>;
}

/// The aggregator's dependencies.
pub struct Aggregator<G, T, P> {
    /// Gathers.
    pub gathers: G,
    /// The deadline timer.
    pub timer: T,
    /// The bus (composite results).
    pub bus: P,
    /// The policy when a request names none.
    pub default_completion: Completion,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `quote.requested`: open the gather, start its timer.
pub async fn open<G: Gathers, T: Timer, P>(
    a: Arc<Aggregator<G, T, P>>,
    request: Event<QuoteRequested>,
) -> Result<String, GatherError> {
    let r = &request.data;
    if r.suppliers.is_empty() || r.deadline_ms == 0 {
        return Err(GatherError::Invalid(
            "`suppliers` must name at least one and `deadline_ms` must be positive".into(),
        ));
    }
    if let Some(Completion::First { n }) = &r.completion {
        if *n == 0 || *n > r.suppliers.len() {
            return Err(GatherError::Invalid(format!(
                "first {n} of {} suppliers cannot complete",
                r.suppliers.len()
            )));
        }
    }
    let gather = Gather {
        sku: r.sku.clone(),
        expected: r.suppliers.clone(),
        completion: r
            .completion
            .clone()
            .unwrap_or_else(|| a.default_completion.clone()),
        deadline_ms: now_ms() + r.deadline_ms as i64,
        parts: BTreeMap::new(),
        completed_by: None,
        published: false,
    };
    if !a.gathers.open(&request.correlation_id, &gather).await? {
        return Ok("already open".into());
    }
    let timer = request
        .caused(AGGREGATOR, QUOTE_DEADLINE, json!({}))
        .with_id(stable_id(&[&request.correlation_id, QUOTE_DEADLINE]));
    a.timer
        .after(Duration::from_millis(r.deadline_ms), &timer)
        .await?;
    tracing::info!(gather = %request.correlation_id, suppliers = ?gather.expected, completion = ?gather.completion, "gather open");
    Ok("open".into())
}

async fn close_and_publish<G: Gathers, T, P: Publisher>(
    a: &Aggregator<G, T, P>,
    cause: &Envelope<()>,
    completed_by: &str,
) -> Result<Option<QuoteAggregated>, GatherError> {
    let Some(gather) = a.gathers.close(&cause.correlation_id, completed_by).await? else {
        return Ok(None);
    };
    let result = gather.result();
    let out = cause
        .caused(AGGREGATOR, QUOTE_AGGREGATED, json!(result))
        .with_id(stable_id(&[&cause.correlation_id, QUOTE_AGGREGATED]));
    a.bus.publish(&[out]).await?;
    a.gathers.published(&cause.correlation_id).await?;
    tracing::info!(gather = %cause.correlation_id, completed_by, offers = result.offers.len(), missing = ?result.missing, "gather complete");
    Ok(Some(result))
}

/// `quote.offered`: add the part; close the gather when its policy is met.
pub async fn part<G: Gathers, T, P: Publisher>(
    a: Arc<Aggregator<G, T, P>>,
    offer: Event<QuoteOffered>,
) -> Result<String, GatherError> {
    let o = &offer.data;
    match a.gathers.add_part(&offer.correlation_id, o).await? {
        Added::Unknown => Err(GatherError::NotOpenYet(offer.correlation_id.clone())),
        Added::Duplicate(gather) if gather.policy_met() && !gather.published => {
            // The part was added before but its close or publish failed: finish it now.
            close_and_publish(&a, &offer, "policy").await?;
            Ok("completed".into())
        }
        Added::Duplicate(_) => {
            tracing::warn!(gather = %offer.correlation_id, supplier = %o.supplier, "duplicate part dropped: this supplier already answered");
            Ok("duplicate".into())
        }
        // Closed, or full: a close whose publish failed (this very part, redelivered, or
        // another) is finished here; otherwise the part is too late.
        // Either way this part is not in the result: it came after the gather was closed,
        // or after it held all its policy takes (then, if the part that filled it has not
        // closed it yet, this invocation may be the one that does).
        Added::Closed => {
            let closed_here = close_and_publish(&a, &offer, "policy").await?.is_some();
            tracing::warn!(gather = %offer.correlation_id, supplier = %o.supplier, closed_here, "late part dropped: the gather was complete or held all its policy takes");
            Ok(if closed_here {
                "completed"
            } else {
                "after completion"
            }
            .into())
        }
        Added::Added(gather) if gather.policy_met() => {
            close_and_publish(&a, &offer, "policy").await?;
            Ok("completed".into())
        }
        Added::Added(_) => Ok("added".into()),
    }
}

/// `quote.deadline`: close whatever is still open, with what it has.
pub async fn deadline<G: Gathers, T, P: Publisher>(
    a: Arc<Aggregator<G, T, P>>,
    timer: Event<Value>,
) -> Result<String, GatherError> {
    Ok(match close_and_publish(&a, &timer, "deadline").await? {
        Some(_) => "completed at the deadline".into(),
        None => "already complete".into(),
    })
}

/// The aggregator function.
pub fn aggregator<G: Gathers + 'static, T: Timer + 'static, P: Publisher + 'static>(
    a: Aggregator<G, T, P>,
) -> Router<Aggregator<G, T, P>> {
    Router::with_state(a)
        .on(QUOTE_REQUESTED, open::<G, T, P>)
        .on(QUOTE_OFFERED, part::<G, T, P>)
        .on(QUOTE_DEADLINE, deadline::<G, T, P>)
}

/// A supplier's settings.
#[derive(Debug, Clone)]
pub struct Supplier<P> {
    /// Its name.
    pub name: String,
    /// Price per unit, minor units.
    pub unit_price: i64,
    /// Days to deliver.
    pub lead_days: u32,
    /// How long it takes to answer.
    pub delay: Duration,
    /// Never answers (a supplier that died).
    pub silent: bool,
    /// The bus.
    pub bus: P,
}

/// `quote.requested` at a supplier: answer it if asked.
pub async fn quote<P: Publisher>(
    s: Arc<Supplier<P>>,
    request: Event<QuoteRequested>,
) -> Result<Value, GatherError> {
    let r = &request.data;
    if !r.suppliers.contains(&s.name) {
        return Ok(Value::Null);
    }
    if s.silent {
        tracing::info!(supplier = %s.name, "silent by design: no offer");
        // Invoked inline (Step Functions), hang past the task's timeout; on the bus, just
        // never answer.
        if request.extensions.get("reply").and_then(Value::as_str) == Some("inline") {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        return Ok(Value::Null);
    }
    tokio::time::sleep(s.delay).await;
    let offer = QuoteOffered {
        supplier: s.name.clone(),
        price: s.unit_price * i64::from(r.quantity),
        lead_days: s.lead_days,
    };
    if request.extensions.get("reply").and_then(Value::as_str) == Some("inline") {
        return Ok(json!(offer));
    }
    let out = request
        .caused(
            format!("eventkit.supplier.{}", s.name),
            QUOTE_OFFERED,
            json!(offer),
        )
        .with_id(stable_id(&[&request.id, QUOTE_OFFERED, &s.name]));
    s.bus.publish(&[out]).await?;
    tracing::info!(supplier = %s.name, price = offer.price, "offered");
    Ok(json!(offer))
}

/// A supplier function.
pub fn supplier<P: Publisher + 'static>(s: Supplier<P>) -> Router<Supplier<P>> {
    Router::with_state(s).on(QUOTE_REQUESTED, quote::<P>)
}

#[cfg(test)]
mod tests;
