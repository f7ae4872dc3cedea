//! The catalogue of every event type the kit's functions exchange: its payload type, its
//! schema version, the compatibility rule its changes must keep, who produces it and
//! where it is put. This list is the one place a rule is configured; the schemas under
//! `events/schemas/`, the AsyncAPI document and the catalogue page are generated from it
//! and from the template (which says who receives what, through its rules and queues).
//!
//! Producers and channels are the template's logical ids, checked against it when the
//! AsyncAPI document is generated. `client` is any caller outside the stack (the demo,
//! `eventkit publish`, a test); a channel `invoke:<Function>` is a direct invocation.

use schemars::transform::RecursiveTransform;
use schemars::{generate::SchemaSettings, JsonSchema, Schema};
use serde::Serialize;
use serde_json::Value;

use crate::compat::integer_width;

use crate::{checkout, customers, documents, fulfilment, ledger, orders, quotes, stock, wallets};

/// Which changes to an event type's schema are allowed within one schema version.
///
/// Named as schema registries name them: BACKWARD means consumers on the new schema read
/// data written with the old one (the consumer owns the change: a command's handler);
/// FORWARD means consumers still on the old schema read data written with the new one
/// (the producer owns it: an event); FULL is both (an event replayed from an archive into
/// consumers of any age).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Rule {
    /// New readers, old data.
    Backward,
    /// Old readers, new data.
    Forward,
    /// Both.
    Full,
}

impl Rule {
    /// Whether the rule requires new readers to read old data.
    pub fn backward(self) -> bool {
        matches!(self, Rule::Backward | Rule::Full)
    }
    /// Whether the rule requires old readers to read new data.
    pub fn forward(self) -> bool {
        matches!(self, Rule::Forward | Rule::Full)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rule::Backward => "BACKWARD",
            Rule::Forward => "FORWARD",
            Rule::Full => "FULL",
        })
    }
}

/// One event type at one schema version.
#[derive(Debug, Clone, Serialize)]
pub struct EventContract {
    /// The envelope's `type`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// The envelope's `schemaversion`.
    pub version: &'static str,
    /// The envelope's `source` values it comes with (empty: any, as from a client).
    pub sources: &'static [&'static str],
    /// One line for people.
    pub summary: &'static str,
    /// The compatibility rule changes keep.
    pub rule: Rule,
    /// Who sends it (template logical ids, or `client`).
    pub producers: &'static [&'static str],
    /// Where they put it: `bus`, a queue's logical id, or `invoke:<Function>`.
    pub channels: &'static [&'static str],
    /// The Rust type of its payload.
    pub rust_type: &'static str,
    #[serde(skip)]
    schema: fn() -> Schema,
    #[serde(skip)]
    read: fn(&str) -> Result<(), serde_json::Error>,
}

impl EventContract {
    /// The payload's JSON Schema (draft 2020-12, self-contained).
    pub fn schema(&self) -> Schema {
        (self.schema)()
    }

    /// Reads `json` as its payload type does (serde, as its consumers read it): `Err` says
    /// why they would refuse it.
    pub fn read(&self, json: &str) -> Result<(), serde_json::Error> {
        (self.read)(json)
    }

    /// Where its schema is committed, relative to `events/schemas/`.
    pub fn schema_file(&self) -> String {
        format!("{}/v{}.schema.json", self.event_type, self.version)
    }
}

/// A self-contained draft 2020-12 schema of `T`: sub-schemas inlined, so each file stands
/// alone (in the AsyncAPI document too) and the compatibility checker needs no resolver.
///
/// Every integer carries its Rust width as `minimum`/`maximum` (see [`integer_bounds`]), so
/// a validator in any language refuses what the Rust reader refuses.
pub fn schema_of<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .with_transform(RecursiveTransform(integer_bounds))
        .into_generator()
        .into_root_schema_for::<T>()
}

/// Writes an integer's width as standard keywords. `schemars` names it only as a `format`
/// (`uint32`, `int64`), which standard validators ignore, and bounds only some widths; a
/// consumer validating with the schema would take `4294967296` for a `u32` that serde
/// refuses. A `minimum`/`maximum` already tighter (`NonZeroU32`'s 1) is kept.
///
/// The 64-bit bounds are exact (`9223372036854775807`, `18446744073709551615`): Python,
/// Java, Go and Rust validators compare them exactly. JavaScript reads every JSON number
/// as a double, which rounds them (and any value past 2^53) to the nearest double, so a
/// JavaScript validator cannot tell a value from its neighbours there; nothing can, that
/// reads numbers so. 128-bit widths keep what `schemars` writes.
pub fn integer_bounds(schema: &mut Schema) {
    let Some(width) = schema
        .get("format")
        .and_then(Value::as_str)
        .and_then(integer_width)
    else {
        return;
    };
    let is_integer = match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    if !is_integer {
        return;
    }
    let number = |i: i128| -> Value {
        u64::try_from(i)
            .map(Value::from)
            .or_else(|_| i64::try_from(i).map(Value::from))
            .expect("a width's bound fits i64 or u64")
    };
    let existing = |v: Option<&Value>| -> Option<i128> {
        let v = v?;
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
    };
    if let Some(min) = width.min {
        match existing(schema.get("minimum")) {
            Some(m) if m >= min => {}
            // A fractional bound is left as written.
            None if schema.get("minimum").is_some() => {}
            _ => {
                schema.insert("minimum".into(), number(min));
            }
        }
    }
    if let Some(max) = width.max {
        match existing(schema.get("maximum")) {
            Some(m) if m <= max => {}
            None if schema.get("maximum").is_some() => {}
            _ => {
                schema.insert("maximum".into(), number(max));
            }
        }
    }
}

macro_rules! contract {
    ($ty:ty, $event_type:expr, $version:literal, $rule:ident, $summary:literal,
     sources: [$($source:expr),*], producers: [$($producer:literal),*],
     channels: [$($channel:literal),*]) => {
        EventContract {
            event_type: $event_type,
            version: $version,
            sources: &[$($source),*],
            summary: $summary,
            rule: Rule::$rule,
            producers: &[$($producer),*],
            channels: &[$($channel),*],
            rust_type: stringify!($ty),
            schema: schema_of::<$ty>,
            read: |json| serde_json::from_str::<$ty>(json).map(drop),
        }
    };
}

/// Every event type, in catalogue order.
pub fn catalogue() -> Vec<EventContract> {
    use checkout::*;
    vec![
        // Point-to-point.
        contract!(ledger::AccountOpened, ledger::ACCOUNT_OPENED, "1", Forward,
            "An account is opened; entries to it can be posted.",
            sources: ["eventkit.demo"], producers: ["client"], channels: ["bus"]),
        contract!(ledger::Entry, ledger::ENTRY_POSTED, "1", Forward,
            "An entry to post to an account, once.",
            sources: ["eventkit.demo"], producers: ["client"], channels: ["bus"]),
        // Orders: the front door's outbox, relayed to the bus; archived and replayed.
        contract!(orders::OrderPlaced, orders::ORDER_PLACED, "1", Full,
            "An order was accepted (replayed from the archive into consumers of any age).",
            sources: [orders::SOURCE], producers: ["OutboxRelayFunction"], channels: ["bus"]),
        contract!(orders::OrderCancelled, orders::ORDER_CANCELLED, "1", Full,
            "An order was cancelled before fulfilment.",
            sources: [orders::SOURCE], producers: ["OutboxRelayFunction"], channels: ["bus"]),
        contract!(fulfilment::FulfilmentRequested, fulfilment::FULFILMENT_REQUESTED, "1", Forward,
            "A receiver is asked to fulfil an order; the sender router chose it.",
            sources: [fulfilment::SOURCE], producers: ["SenderRouterFunction"],
            channels: ["WarehouseQueue", "DownloadsQueue"]),
        // Customers: notification and state transfer.
        contract!(customers::UpdateProfile, customers::UPDATE_PROFILE, "1", Backward,
            "Command: change a customer's profile.",
            sources: [], producers: ["client"],
            channels: ["invoke:CustomerServiceFunction"]),
        contract!(customers::GetProfile, customers::GET_PROFILE, "1", Backward,
            "Query: read a profile (the notification consumer's callback).",
            sources: [], producers: ["client", "CustomerNotificationFunction"],
            channels: ["invoke:CustomerServiceFunction"]),
        contract!(customers::CustomerChanged, customers::CUSTOMER_CHANGED, "1", Forward,
            "Notification: a profile changed; ask the source for what.",
            sources: [customers::SOURCE], producers: ["CustomerServiceFunction"], channels: ["bus"]),
        contract!(customers::ProfileUpdated, customers::PROFILE_UPDATED, "1", Forward,
            "State transfer: a profile changed, here is all of it.",
            sources: [customers::SOURCE], producers: ["CustomerServiceFunction"], channels: ["bus"]),
        // Claim check.
        contract!(documents::ProduceDocument, documents::PRODUCE_DOCUMENT, "1", Backward,
            "Command: produce a document of a given size.",
            sources: [], producers: ["client"],
            channels: ["invoke:ClaimCheckProducerFunction"]),
        contract!(documents::DocumentSubmitted, documents::DOCUMENT_SUBMITTED, "1", Forward,
            "A document was submitted; its content usually travels by claim check.",
            sources: [documents::SOURCE], producers: ["ClaimCheckProducerFunction"], channels: ["bus"]),
        // The orchestrated saga's tasks.
        contract!(Checkout, RESERVE_INVENTORY, "1", Backward, "Task: reserve the order's stock.",
            sources: [ORCHESTRATOR], producers: ["CheckoutSagaStateMachine"],
            channels: ["invoke:InventoryFunction"]),
        contract!(Checkout, RELEASE_INVENTORY, "1", Backward, "Compensation: release the stock.",
            sources: [ORCHESTRATOR], producers: ["CheckoutSagaStateMachine"],
            channels: ["invoke:InventoryFunction"]),
        contract!(Checkout, CHARGE_PAYMENT, "1", Backward, "Task: charge the customer.",
            sources: [ORCHESTRATOR], producers: ["CheckoutSagaStateMachine"],
            channels: ["invoke:PaymentFunction"]),
        contract!(Checkout, REFUND_PAYMENT, "1", Backward, "Compensation: refund the charge.",
            sources: [ORCHESTRATOR], producers: ["CheckoutSagaStateMachine"],
            channels: ["invoke:PaymentFunction"]),
        contract!(Checkout, ARRANGE_SHIPPING, "1", Backward, "Task: arrange shipping.",
            sources: [ORCHESTRATOR], producers: ["CheckoutSagaStateMachine"],
            channels: ["invoke:ShippingFunction"]),
        // The choreographed saga.
        contract!(Checkout, CHECKOUT_REQUESTED, "1", Full, "A checkout starts.",
            sources: [], producers: ["client"], channels: ["bus"]),
        contract!(Checkout, INVENTORY_RESERVED, "1", Full, "Stock reserved.",
            sources: ["eventkit.inventory"], producers: ["InventoryFunction"], channels: ["bus"]),
        contract!(StepFailed, INVENTORY_REJECTED, "1", Full, "Stock not available: the checkout ends.",
            sources: ["eventkit.inventory"], producers: ["InventoryFunction"], channels: ["bus"]),
        contract!(Checkout, INVENTORY_RELEASED, "1", Full, "Stock released (compensation done).",
            sources: ["eventkit.inventory"], producers: ["InventoryFunction"], channels: ["bus"]),
        contract!(Checkout, PAYMENT_CHARGED, "1", Full, "Customer charged.",
            sources: ["eventkit.payments"], producers: ["PaymentFunction"], channels: ["bus"]),
        contract!(StepFailed, PAYMENT_DECLINED, "1", Full, "Charge declined: inventory releases.",
            sources: ["eventkit.payments"], producers: ["PaymentFunction"], channels: ["bus"]),
        contract!(Checkout, PAYMENT_REFUNDED, "1", Full, "Refunded (compensation done): inventory releases.",
            sources: ["eventkit.payments"], producers: ["PaymentFunction"], channels: ["bus"]),
        contract!(Checkout, SHIPPING_ARRANGED, "1", Full, "Shipping arranged: the checkout completed.",
            sources: ["eventkit.shipping"], producers: ["ShippingFunction"], channels: ["bus"]),
        contract!(StepFailed, SHIPPING_FAILED, "1", Full, "Shipping impossible: payment refunds.",
            sources: ["eventkit.shipping"], producers: ["ShippingFunction"], channels: ["bus"]),
        // Request/reply.
        contract!(stock::StartCheck, stock::START_CHECK, "1", Backward,
            "Command: ask the responder, give up after a timeout.",
            sources: [], producers: ["client"],
            channels: ["invoke:StockRequesterFunction"]),
        contract!(stock::CheckResultQuery, stock::CHECK_RESULT, "1", Backward,
            "Query: what became of a check.",
            sources: [], producers: ["client"],
            channels: ["invoke:StockRequesterFunction"]),
        contract!(stock::CheckRequested, stock::CHECK_REQUESTED, "1", Full,
            "The request, with the address (or task token) to reply to.",
            sources: [stock::REQUESTER, "eventkit.workflows"],
            producers: ["StockRequesterFunction", "StockCheckStateMachine"],
            channels: ["StockRequestsQueue"]),
        contract!(stock::CheckReplied, stock::CHECK_REPLIED, "1", Full,
            "The reply, correlated with its request.",
            sources: [stock::RESPONDER], producers: ["StockResponderFunction"],
            channels: ["StockRepliesQueue"]),
        // Scatter-gather.
        contract!(quotes::QuoteRequested, quotes::QUOTE_REQUESTED, "1", Full,
            "A quote request, fanned out to the suppliers and the aggregator.",
            sources: [], producers: ["client", "QuoteGatherStateMachine"],
            channels: ["bus", "invoke:SupplierAFunction", "invoke:SupplierBFunction",
                "invoke:SupplierCFunction"]),
        contract!(quotes::QuoteOffered, quotes::QUOTE_OFFERED, "1", Full,
            "One supplier's offer.",
            sources: ["eventkit.supplier.a", "eventkit.supplier.b", "eventkit.supplier.c"],
            producers: ["SupplierAFunction", "SupplierBFunction", "SupplierCFunction"],
            channels: ["bus"]),
        contract!(quotes::QuoteDeadline, quotes::QUOTE_DEADLINE, "1", Full,
            "The aggregator's own timer: a request's deadline passed.",
            sources: [quotes::AGGREGATOR], producers: ["AggregatorFunction"],
            channels: ["AggregatorQueue"]),
        contract!(quotes::QuoteAggregated, quotes::QUOTE_AGGREGATED, "1", Full,
            "The composite result, naming the suppliers that did not answer.",
            sources: [quotes::AGGREGATOR], producers: ["AggregatorFunction"], channels: ["bus"]),
        // Event sourcing: commands by queue; the event store's stream relayed to the bus.
        contract!(wallets::WalletCommand, wallets::WALLET_COMMAND, "1", Backward,
            "A command for one wallet; the aggregate decides.",
            sources: [], producers: ["client"], channels: ["WalletCommandsQueue"]),
        contract!(wallets::WalletOpened, wallets::WALLET_OPENED, "2", Forward,
            "A wallet was opened (stored 1.0 events are upcast before they are published).",
            sources: [wallets::SOURCE], producers: ["WalletRelayFunction"], channels: ["bus"]),
        contract!(wallets::WalletMovement, wallets::WALLET_CREDITED, "1", Forward,
            "Money came in; the balance after it.",
            sources: [wallets::SOURCE], producers: ["WalletRelayFunction"], channels: ["bus"]),
        contract!(wallets::WalletMovement, wallets::WALLET_DEBITED, "1", Forward,
            "Money went out; the balance after it.",
            sources: [wallets::SOURCE], producers: ["WalletRelayFunction"], channels: ["bus"]),
        contract!(wallets::WalletClosed, wallets::WALLET_CLOSED, "1", Forward,
            "The wallet takes no more movements.",
            sources: [wallets::SOURCE], producers: ["WalletRelayFunction"], channels: ["bus"]),
    ]
}

/// The contract of `event_type` at `version`, if the catalogue has it.
pub fn find(event_type: &str, version: &str) -> Option<EventContract> {
    catalogue()
        .into_iter()
        .find(|c| c.event_type == event_type && c.version == version)
}
