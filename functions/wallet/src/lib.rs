//! An event-sourced wallet: the aggregate decides, `cqrs-es` persists its events (on
//! DynamoDB through `dynamo-es`, with optimistic concurrency), and the event table's
//! stream is the outbox: [`stored_envelope`] turns each stored event into a kit envelope
//! whose id is stable per (wallet, sequence), so a redelivered stream record publishes the
//! same envelope again and idempotent consumers absorb it.
//!
//! Events evolve through upcasters ([`upcasters`]): `wallet.opened` 1.0 had no currency
//! (every wallet was in euros); 2.0 has one. Code reads only 2.0.

use std::collections::HashMap;
use std::sync::LazyLock;

use aws_lambda_events::event::dynamodb::EventRecord;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{
    EventUpcaster, SemanticVersion, SemanticVersionEventUpcaster, SerializedEvent,
};
use cqrs_es::{Aggregate, DomainEvent};
use eventkit::envelope::stable_id;
use eventkit::router::RouteError;
use eventkit::stream::{attribute_type, inserted_image, StreamReader};
use eventkit::{Envelope, EnvelopeError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod commands;
pub mod dynamodb;
pub mod views;

pub use eventkit_contracts::wallets::{
    SOURCE, WALLET_CLOSED as CLOSED, WALLET_CREDITED as CREDITED, WALLET_DEBITED as DEBITED,
    WALLET_OPENED as OPENED,
};

/// Metadata keys a command's events carry (the command envelope's conversation).
pub const META_CORRELATION: &str = "correlationid";
/// The command envelope's id.
pub const META_CAUSATION: &str = "causationid";
/// When the command was decided (RFC 3339).
pub const META_TIME: &str = "time";
/// The command's W3C trace context.
pub const META_TRACEPARENT: &str = "traceparent";

/// Where a wallet is in its life.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not opened yet.
    #[default]
    New,
    /// Takes credits and debits.
    Open,
    /// Takes nothing more.
    Closed,
}

/// The aggregate: what the commands are decided on.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wallet {
    /// Its owner.
    pub customer: String,
    /// Minor units (cents).
    pub balance: i64,
    /// ISO 4217.
    pub currency: String,
    /// Its status.
    pub status: Status,
}

pub use eventkit_contracts::wallets::WalletCommand;

/// What happened to a wallet (the stored and published events). Movements carry the
/// balance after them, so a read model sets it rather than recomputes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WalletEvent {
    /// `wallet.opened` 2.0 (1.0 is upcast).
    Opened {
        /// The owner.
        customer: String,
        /// ISO 4217 code.
        currency: String,
    },
    /// `wallet.credited` 1.0.
    Credited {
        /// Minor units.
        amount: i64,
        /// The balance after it.
        balance: i64,
        /// The caller's reference.
        reference: Option<String>,
    },
    /// `wallet.debited` 1.0.
    Debited {
        /// Minor units.
        amount: i64,
        /// The balance after it.
        balance: i64,
        /// The caller's reference.
        reference: Option<String>,
    },
    /// `wallet.closed` 1.0.
    Closed {},
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> String {
        match self {
            WalletEvent::Opened { .. } => OPENED,
            WalletEvent::Credited { .. } => CREDITED,
            WalletEvent::Debited { .. } => DEBITED,
            WalletEvent::Closed {} => CLOSED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            WalletEvent::Opened { .. } => "2.0",
            _ => "1.0",
        }
        .to_owned()
    }
}

/// Why a command was refused. Each names what is wrong and what the caller can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// Opened twice.
    #[error("wallet is already open; send credit, debit or close instead")]
    AlreadyOpen,
    /// A command for a wallet never opened.
    #[error("wallet does not exist; send `open` first")]
    NotOpen,
    /// A command after `close`.
    #[error("wallet is closed; it takes no more commands")]
    Closed,
    /// Zero or negative amount.
    #[error("amount must be a positive number of minor units, got {0}")]
    BadAmount(i64),
    /// More than the balance.
    #[error("insufficient funds: balance {balance}, debit {amount}")]
    InsufficientFunds {
        /// The balance.
        balance: i64,
        /// The debit asked for.
        amount: i64,
    },
    /// Closing with money left.
    #[error("balance is {0}; debit it to zero before closing")]
    NotEmpty(i64),
    /// Not a three-letter code.
    #[error("currency `{0}` is not an ISO 4217 code (three capital letters)")]
    BadCurrency(String),
}

impl Wallet {
    fn open(&self) -> Result<(), WalletError> {
        match self.status {
            Status::Open => Ok(()),
            Status::New => Err(WalletError::NotOpen),
            Status::Closed => Err(WalletError::Closed),
        }
    }

    /// The events `command` yields on this state, or why it is refused. Pure: the
    /// aggregate's decision, tested without a store.
    pub fn decide(&self, command: WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        let positive = |amount: i64| {
            if amount > 0 {
                Ok(amount)
            } else {
                Err(WalletError::BadAmount(amount))
            }
        };
        Ok(vec![match command {
            WalletCommand::Open { customer, currency } => {
                if self.status != Status::New {
                    return Err(WalletError::AlreadyOpen);
                }
                if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
                    return Err(WalletError::BadCurrency(currency));
                }
                WalletEvent::Opened { customer, currency }
            }
            WalletCommand::Credit { amount, reference } => {
                self.open()?;
                let amount = positive(amount)?;
                WalletEvent::Credited {
                    amount,
                    balance: self.balance + amount,
                    reference,
                }
            }
            WalletCommand::Debit { amount, reference } => {
                self.open()?;
                let amount = positive(amount)?;
                if amount > self.balance {
                    return Err(WalletError::InsufficientFunds {
                        balance: self.balance,
                        amount,
                    });
                }
                WalletEvent::Debited {
                    amount,
                    balance: self.balance - amount,
                    reference,
                }
            }
            WalletCommand::Close => {
                self.open()?;
                if self.balance != 0 {
                    return Err(WalletError::NotEmpty(self.balance));
                }
                WalletEvent::Closed {}
            }
        }])
    }
}

impl Aggregate for Wallet {
    const TYPE: &'static str = "wallet";
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;
    type Services = ();

    async fn handle(
        &mut self,
        command: WalletCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), WalletError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: WalletEvent) {
        match event {
            WalletEvent::Opened { customer, currency } => {
                self.customer = customer;
                self.currency = currency;
                self.status = Status::Open;
            }
            WalletEvent::Credited { amount, .. } => self.balance += amount,
            WalletEvent::Debited { amount, .. } => self.balance -= amount,
            WalletEvent::Closed {} => self.status = Status::Closed,
        }
    }
}

/// Wallets opened before currencies were kept were all in euros.
pub const V1_CURRENCY: &str = "EUR";

/// `wallet.opened` 1.0 → 2.0: add the currency 1.0 left implicit.
fn opened_v1_to_v2(mut payload: Value) -> Value {
    if let Some(fields) = payload.get_mut("Opened").and_then(Value::as_object_mut) {
        fields
            .entry("currency")
            .or_insert_with(|| Value::String(V1_CURRENCY.to_owned()));
    }
    payload
}

/// Every upcaster, oldest first: the event store, the relay and a rebuild read through
/// them, so stored history of any version reaches code as the current version.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        OPENED,
        "2.0",
        Box::new(opened_v1_to_v2),
    ))]
}

/// A stored version as `cqrs-es` compares them (`2.0` is `2.0.0`, as upcasters write it).
fn version(text: &str) -> Option<SemanticVersion> {
    text.parse().ok()
}

/// `event` through `upcasters`, as the store reads it.
pub fn upcast(upcasters: &[Box<dyn EventUpcaster>], mut event: SerializedEvent) -> SerializedEvent {
    for u in upcasters {
        if u.can_upcast(&event.event_type, &event.event_version) {
            event = u.upcast(event);
        }
    }
    event
}

/// A stored event from the event table's item (`dynamo-es` layout) in DynamoDB JSON, as
/// the stream shows it.
pub fn stored_event(image: &Value) -> Result<SerializedEvent, EnvelopeError> {
    let invalid = |field: &str, reason: String| EnvelopeError::InvalidField {
        field: format!("event store item `{field}`"),
        reason,
    };
    // What is there instead, for the error: "missing" or "a binary (B)".
    let found = |field: &str| match image.get(field) {
        None => "missing".to_owned(),
        Some(v) => attribute_type(v),
    };
    let string = |field: &str| {
        image
            .pointer(&format!("/{field}/S"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(field, format!("{}, expected a string (S)", found(field))))
    };
    let blob = |field: &str| -> Result<Value, EnvelopeError> {
        let text = image
            .pointer(&format!("/{field}/B"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(field, format!("{}, expected a binary (B)", found(field))))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| invalid(field, format!("not base64: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| invalid(field, format!("not JSON: {e}")))
    };
    let sequence = image
        .pointer("/AggregateIdSequence/N")
        .and_then(Value::as_str)
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            let found = found("AggregateIdSequence");
            invalid(
                "AggregateIdSequence",
                format!("{found}, expected a number (N)"),
            )
        })?;
    let metadata = blob("Metadata")?;
    if !metadata
        .as_object()
        .is_some_and(|m| m.values().all(Value::is_string))
    {
        return Err(invalid("Metadata", "not a map of strings".into()));
    }
    Ok(SerializedEvent {
        aggregate_id: string("AggregateId")?,
        sequence,
        aggregate_type: string("AggregateType")?,
        event_type: string("EventType")?,
        event_version: string("EventVersion")?,
        payload: blob("Payload")?,
        metadata,
    })
}

/// The envelope a stored event is published as: id stable per (wallet, sequence), the
/// wallet as subject and partition key, `sequence` for in-order consumers, `data` the
/// event's fields at the current version, conversation and trace from the command.
/// An event no code reads (unknown type or version) is an error naming it: the relay
/// stops that shard there rather than skip it.
pub fn envelope_of(event: SerializedEvent) -> Result<Envelope, EnvelopeError> {
    let typed: WalletEvent = serde_json::from_value(event.payload.clone()).map_err(|e| {
        EnvelopeError::InvalidField {
            field: "data".into(),
            reason: format!(
                "stored event `{}` {} of wallet `{}` (sequence {}) is not one this code reads: {e}; add an upcaster",
                event.event_type, event.event_version, event.aggregate_id, event.sequence
            ),
        }
    })?;
    if typed.event_type() != event.event_type
        || version(&typed.event_version()) != version(&event.event_version)
    {
        return Err(EnvelopeError::InvalidField {
            field: "type".into(),
            reason: format!(
                "stored event says `{}` {}, its payload reads as `{}` {}; add an upcaster",
                event.event_type,
                event.event_version,
                typed.event_type(),
                typed.event_version()
            ),
        });
    }
    let fields = match event.payload {
        Value::Object(mut outer) if outer.len() == 1 => outer
            .values_mut()
            .next()
            .map(Value::take)
            .unwrap_or_default(),
        other => other,
    };
    let sequence = event.sequence.to_string();
    let meta = |key: &str| event.metadata.get(key).and_then(Value::as_str);
    let mut envelope = Envelope::new(SOURCE, &event.event_type, fields)
        .with_id(stable_id(&[Wallet::TYPE, &event.aggregate_id, &sequence]))
        .with_subject(&event.aggregate_id)
        .with_partition_key(&event.aggregate_id)
        .with_schema_version(
            event
                .event_version
                .split('.')
                .next()
                .unwrap_or("1")
                .to_owned(),
        );
    envelope.time = match meta(META_TIME) {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| EnvelopeError::InvalidField {
                    field: "time".into(),
                    reason: format!("stored metadata time `{t}` is not RFC 3339: {e}"),
                })?
                .with_timezone(&Utc),
        ),
        // Stored before the kit kept the time: the event says nothing of when.
        None => None,
    };
    if let Some(c) = meta(META_CORRELATION) {
        envelope.correlation_id = c.to_owned();
    }
    envelope.causation_id = meta(META_CAUSATION).map(str::to_owned);
    envelope.traceparent = meta(META_TRACEPARENT).map(str::to_owned);
    envelope
        .extensions
        .insert("sequence".into(), Value::String(sequence));
    envelope.validate()?;
    Ok(envelope)
}

/// The relay's stream extractor: an `INSERT` of the event table as its envelope (through
/// the upcasters). Any other record is an error unless the reader skips it ([`reader`]).
pub fn stored_envelope(record: &EventRecord) -> Result<Envelope, RouteError> {
    // Built once: the relay reads every record through them.
    static UPCASTERS: LazyLock<Vec<Box<dyn EventUpcaster>>> = LazyLock::new(upcasters);
    let image = inserted_image(record)?;
    Ok(stored_event(&image)
        .map(|e| upcast(&UPCASTERS, e))
        .and_then(envelope_of)?)
}

/// The relay's reader of the event table's stream: stored events are never changed or
/// deleted by the kit, so a `MODIFY` or `REMOVE` (an operator's repair) carries no event
/// and is skipped, counted; every `INSERT` is an event or fails the batch there.
pub fn reader() -> StreamReader {
    StreamReader::new(stored_envelope)
        .skip_modify()
        .skip_remove()
}

/// The metadata a command's events are stored with: its envelope's conversation, time
/// and trace.
pub fn metadata_of<T>(command: &Envelope<T>) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        (META_CORRELATION.to_owned(), command.correlation_id.clone()),
        (META_CAUSATION.to_owned(), command.id.clone()),
    ]);
    if let Some(t) = command.time {
        metadata.insert(
            META_TIME.to_owned(),
            t.to_rfc3339_opts(SecondsFormat::Micros, true),
        );
    }
    if let Some(tp) = &command.traceparent {
        metadata.insert(META_TRACEPARENT.to_owned(), tp.clone());
    }
    metadata
}

#[cfg(test)]
mod tests;
