//! The read models (CQRS), each fed by the bus and shaped for its reader:
//!
//! * **summary** — one item per wallet (owner, currency, balance, status), applied in
//!   per-wallet sequence: a duplicate is absorbed, an event ahead of its predecessor is
//!   retried until the gap fills.
//! * **statement** — one line per movement, keyed by (wallet, sequence): a duplicate is
//!   absorbed by the key, and the order of arrival does not matter.
//!
//! Both are pure over their stores; [`rebuild_summary`] replays stored history into a
//! fresh summary table.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::persist::SerializedEvent;
use eventkit::idempotency::ordering::{
    envelope_version, InSequence, OrderingError, SequencedStore,
};
use eventkit::idempotency::StoreError;
use eventkit::ErrorType;
use eventkit::{Envelope, EnvelopeError, Event, Router};
use serde_json::{json, Map, Value};

use crate::{upcast, upcasters, WalletEvent, CLOSED, CREDITED, DEBITED, OPENED};

/// Which read model a deployment maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Balance and status per wallet.
    Summary,
    /// Movements per wallet.
    Statement,
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum ViewError {
    /// Not a wallet event this code reads.
    #[error(transparent)]
    #[error_type("UnreadableEvent")]
    Envelope(#[from] EnvelopeError),
    /// No `sequence`.
    #[error(transparent)]
    #[error_type("Unorderable")]
    Ordering(#[from] OrderingError),
    /// Ahead of its predecessor.
    #[error("wallet `{wallet}`: event {sequence} arrived before {expected}; it is retried until the gap fills")]
    OutOfOrder {
        /// The wallet.
        wallet: String,
        /// The event's sequence.
        sequence: i64,
        /// The sequence expected next.
        expected: i64,
    },
    /// The table failed; retryable.
    #[error(transparent)]
    #[error_type("TransientError")]
    Store(#[from] StoreError),
}

/// The event a published envelope carries (its type names the variant, `data` its fields).
pub fn event_of(envelope: &Envelope) -> Result<WalletEvent, EnvelopeError> {
    wallet_event(envelope, envelope.data.clone())
}

/// The event of `envelope`'s type with `data` as its fields (none: a variant without).
fn wallet_event<T>(
    envelope: &Envelope<T>,
    data: Option<Value>,
) -> Result<WalletEvent, EnvelopeError> {
    let variant = match envelope.event_type.as_str() {
        OPENED => "Opened",
        CREDITED => "Credited",
        DEBITED => "Debited",
        CLOSED => "Closed",
        other => {
            return Err(EnvelopeError::InvalidField {
                field: "type".into(),
                reason: format!("`{other}` is not a wallet event"),
            })
        }
    };
    let data = data.unwrap_or_else(|| json!({}));
    serde_json::from_value(json!({ variant: data })).map_err(|e| EnvelopeError::InvalidField {
        field: "data".into(),
        reason: format!("{} {}: {e}", envelope.event_type, envelope.id),
    })
}

/// What the summary item becomes after `event` (top-level attributes to set).
pub fn summary_changes(event: &WalletEvent) -> Map<String, Value> {
    let value = match event {
        WalletEvent::Opened { customer, currency } => {
            json!({"customer": customer, "currency": currency, "balance": 0, "status": "open"})
        }
        WalletEvent::Credited { balance, .. } | WalletEvent::Debited { balance, .. } => {
            json!({"balance": balance})
        }
        WalletEvent::Closed {} => json!({"status": "closed"}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The statement line of a movement (`None` for opening and closing).
pub fn statement_line(event: &WalletEvent) -> Option<Map<String, Value>> {
    let (kind, amount, balance, reference) = match event {
        WalletEvent::Credited {
            amount,
            balance,
            reference,
        } => ("credit", *amount, balance, reference),
        WalletEvent::Debited {
            amount,
            balance,
            reference,
        } => ("debit", -amount, balance, reference),
        _ => return None,
    };
    match json!({"kind": kind, "amount": amount, "balance": balance, "reference": reference}) {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A statement: lines keyed by (wallet, sequence).
#[async_trait]
pub trait StatementStore: Send + Sync {
    /// Adds a line unless one is there for this sequence; `false` when it was (a duplicate).
    async fn add_line(
        &self,
        wallet: &str,
        sequence: i64,
        event_id: &str,
        line: &Map<String, Value>,
    ) -> Result<bool, StoreError>;
}

/// In-memory [`StatementStore`] (unit tests).
#[derive(Debug, Default)]
pub struct MemoryStatement(pub std::sync::Mutex<std::collections::BTreeMap<(String, i64), Value>>);

#[async_trait]
impl StatementStore for MemoryStatement {
    async fn add_line(
        &self,
        wallet: &str,
        sequence: i64,
        event_id: &str,
        line: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (wallet.to_owned(), sequence);
        if lines.contains_key(&key) {
            return Ok(false);
        }
        let mut line = line.clone();
        line.insert("event_id".into(), json!(event_id));
        lines.insert(key, Value::Object(line));
        Ok(true)
    }
}

/// The projection functions' state.
pub struct Views<Q, L> {
    /// The summary table.
    pub summary: Q,
    /// The statement table.
    pub statement: L,
}

/// Applies one event to the summary, in its wallet's sequence.
pub async fn apply_summary<Q: SequencedStore>(
    summary: &Q,
    wallet: &str,
    sequence: i64,
    event_id: &str,
    event: &WalletEvent,
) -> Result<InSequence, ViewError> {
    match summary
        .apply_in_sequence(wallet, sequence, event_id, &summary_changes(event))
        .await?
    {
        InSequence::Gap { current } => Err(ViewError::OutOfOrder {
            wallet: wallet.to_owned(),
            sequence,
            expected: current + 1,
        }),
        other => Ok(other),
    }
}

fn wallet_of<T>(envelope: &Envelope<T>) -> Result<&str, EnvelopeError> {
    envelope
        .subject
        .as_deref()
        .ok_or(EnvelopeError::MissingField("subject"))
}

async fn to_summary<Q: SequencedStore, L>(
    views: Arc<Views<Q, L>>,
    event: Event<Option<Value>>,
) -> Result<(), ViewError> {
    let (data, envelope) = event.into_parts();
    let event = wallet_event(&envelope, data)?;
    let sequence = envelope_version(&envelope)?;
    let wallet = wallet_of(&envelope)?;
    let outcome = apply_summary(&views.summary, wallet, sequence, &envelope.id, &event).await?;
    tracing::info!(wallet, sequence, outcome = %outcome, "wallet summary");
    Ok(())
}

async fn to_statement<Q, L: StatementStore>(
    views: Arc<Views<Q, L>>,
    event: Event<Option<Value>>,
) -> Result<(), ViewError> {
    let (data, envelope) = event.into_parts();
    let event = wallet_event(&envelope, data)?;
    let sequence = envelope_version(&envelope)?;
    let wallet = wallet_of(&envelope)?;
    if let Some(line) = statement_line(&event) {
        let added = views
            .statement
            .add_line(wallet, sequence, &envelope.id, &line)
            .await?;
        tracing::info!(wallet, sequence, added, "wallet statement");
    }
    Ok(())
}

/// The projection function for `view`. Both are idempotent by construction (sequence or
/// key), so no idempotency record is kept. They read the current versions only: a version
/// they do not know fails to the DLQ rather than being misread.
pub fn router<Q: SequencedStore + 'static, L: StatementStore + 'static>(
    view: View,
    views: Views<Q, L>,
) -> Router<Views<Q, L>> {
    let router = Router::with_state(views);
    let types = [
        (OPENED, "2"),
        (CREDITED, "1"),
        (DEBITED, "1"),
        (CLOSED, "1"),
    ];
    types
        .into_iter()
        .fold(router, |router, (event_type, version)| match view {
            View::Summary => router.on_version(event_type, version, to_summary::<Q, L>),
            View::Statement => router.on_version(event_type, version, to_statement::<Q, L>),
        })
}

/// Replays stored events (any order, any version) into `summary`: upcast, sorted by
/// wallet and sequence, applied in sequence. Returns how many were applied.
pub async fn rebuild_summary<Q: SequencedStore>(
    summary: &Q,
    stored: Vec<SerializedEvent>,
) -> Result<usize, ViewError> {
    let upcasters = upcasters();
    let mut events: Vec<SerializedEvent> =
        stored.into_iter().map(|e| upcast(&upcasters, e)).collect();
    events.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    let mut applied = 0;
    for stored in events {
        let sequence = stored.sequence as i64;
        let wallet = stored.aggregate_id.clone();
        let envelope = crate::envelope_of(stored)?;
        let event = event_of(&envelope)?;
        if apply_summary(summary, &wallet, sequence, &envelope.id, &event).await?
            == InSequence::Applied
        {
            applied += 1;
        }
    }
    Ok(applied)
}

/// The wallet as it was after `sequence` (the temporal query): stored events folded up
/// to it, through the upcasters.
pub fn as_of(
    stored: Vec<SerializedEvent>,
    sequence: usize,
) -> Result<crate::Wallet, EnvelopeError> {
    use cqrs_es::Aggregate as _;
    let upcasters = upcasters();
    let mut events: Vec<SerializedEvent> = stored
        .into_iter()
        .filter(|e| e.sequence <= sequence)
        .map(|e| upcast(&upcasters, e))
        .collect();
    events.sort_by_key(|e| e.sequence);
    let mut wallet = crate::Wallet::default();
    for e in events {
        let event: WalletEvent =
            serde_json::from_value(e.payload).map_err(|err| EnvelopeError::InvalidField {
                field: "data".into(),
                reason: format!("stored event {} of `{}`: {err}", e.sequence, e.aggregate_id),
            })?;
        wallet.apply(event);
    }
    Ok(wallet)
}
