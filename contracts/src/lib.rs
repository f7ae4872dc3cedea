//! The business events of the kit's examples, one Rust type per event type and schema
//! version. Producers and consumers both use these definitions, so a change is made once
//! and checked once.
//!
//! Field names are snake_case on the wire. Add fields with `#[serde(default)]`; never
//! rename or retype one: a breaking change is a new `schemaversion`. A type with
//! `#[serde(deny_unknown_fields)]` (`wallet.command`) is closed: its old readers refuse an
//! added field (FORWARD breaks) and its new readers a removed one (BACKWARD breaks), so
//! only its rule says whether that is a new version. The README tabulates every change.
//!
//! [`registry`] lists every event type with its compatibility rule, producers and channels;
//! [`compat`] and [`gate`] keep the schemas committed under `events/schemas/` honest.

pub mod compat;
pub mod gate;
pub mod registry;
#[cfg(feature = "validate")]
pub mod validate;

pub mod ledger {
    //! The ledger of the point-to-point pattern.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// An entry to post.
    pub const ENTRY_POSTED: &str = "ledger.entry.posted";
    /// An account to open (entries to an account that is not open fail).
    pub const ACCOUNT_OPENED: &str = "ledger.account.opened";

    /// `ledger.account.opened`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct AccountOpened {
        /// The account.
        pub account: String,
    }

    /// `ledger.entry.posted`: a ledger entry.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct Entry {
        /// The account credited (negative amounts debit).
        pub account: String,
        /// Amount in minor units.
        pub amount: i64,
    }
}

pub mod orders {
    //! Orders, placed through the front door.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Source of order events.
    pub const SOURCE: &str = "eventkit.orders";
    /// An order was accepted.
    pub const ORDER_PLACED: &str = "order.placed";
    /// An order was cancelled before fulfilment.
    pub const ORDER_CANCELLED: &str = "order.cancelled";

    /// What kind of fulfilment an order needs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum OrderKind {
        /// Goods shipped from a warehouse.
        Physical,
        /// A download or licence.
        Digital,
        /// A recurring delivery (a kind launched before every receiver knows it).
        Subscription,
    }

    impl OrderKind {
        /// The wire name.
        pub fn as_str(self) -> &'static str {
            match self {
                OrderKind::Physical => "physical",
                OrderKind::Digital => "digital",
                OrderKind::Subscription => "subscription",
            }
        }
    }

    /// One order line.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct Line {
        /// Stock keeping unit.
        pub sku: String,
        /// How many.
        pub quantity: u32,
        /// Price of one, in minor units (cents).
        pub unit_price: i64,
    }

    /// `order.placed` (schemaversion 1).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct OrderPlaced {
        /// The order.
        pub order_id: String,
        /// Who placed it.
        pub customer: String,
        /// Fulfilment kind.
        pub kind: OrderKind,
        /// What was ordered.
        pub lines: Vec<Line>,
        /// Sum of the lines, in minor units.
        pub total: i64,
    }

    /// `order.cancelled` (schemaversion 1).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct OrderCancelled {
        /// The order.
        pub order_id: String,
        /// Why.
        pub reason: String,
    }
}

pub mod fulfilment {
    //! Fulfilment requests, sent by the sender router to one receiver's queue.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use crate::orders::{Line, OrderKind};

    /// Source of fulfilment requests.
    pub const SOURCE: &str = "eventkit.fulfilment-router";
    /// A receiver is asked to fulfil an order.
    pub const FULFILMENT_REQUESTED: &str = "fulfilment.requested";

    /// `fulfilment.requested` (schemaversion 1).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct FulfilmentRequested {
        /// The order.
        pub order_id: String,
        /// Fulfilment kind.
        pub kind: OrderKind,
        /// What to fulfil.
        pub lines: Vec<Line>,
        /// The route that chose the receiver.
        pub route: String,
    }
}

pub mod customers {
    //! Customer profiles: the same fact published thin (notification) and fat (state
    //! transfer).
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Source of customer events.
    pub const SOURCE: &str = "eventkit.customers";
    /// Command: change a profile (sent to the customer service).
    pub const UPDATE_PROFILE: &str = "customer.profile.update";
    /// Query: read a profile (the notification consumer's callback).
    pub const GET_PROFILE: &str = "customer.profile.get";
    /// Notification: a profile changed; ask the source for what.
    pub const CUSTOMER_CHANGED: &str = "customer.changed";
    /// State transfer: a profile changed; here it is.
    pub const PROFILE_UPDATED: &str = "customer.profile.updated";

    /// A customer profile, as the customer service owns it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct Profile {
        /// The customer.
        pub customer_id: String,
        /// Display name.
        pub name: String,
        /// Contact address.
        pub email: String,
        /// Loyalty tier.
        pub tier: String,
        /// Incremented by every change; the ordering version of state transfer.
        pub version: i64,
    }

    /// `customer.profile.update`: the new values (the service assigns the version).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct UpdateProfile {
        /// The customer.
        pub customer_id: String,
        /// Display name.
        pub name: String,
        /// Contact address.
        pub email: String,
        /// Loyalty tier.
        pub tier: String,
    }

    /// `customer.profile.get`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct GetProfile {
        /// The customer.
        pub customer_id: String,
    }

    /// `customer.changed` (thin: identity and version only).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct CustomerChanged {
        /// The customer.
        pub customer_id: String,
        /// The version that changed.
        pub version: i64,
    }

    /// `customer.profile.updated` (fat: the whole profile).
    pub type ProfileUpdated = Profile;
}

pub mod documents {
    //! Large documents, carried by claim check.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Source of document events.
    pub const SOURCE: &str = "eventkit.documents";
    /// Command: produce a document of a given size (invokes the claim-check producer).
    pub const PRODUCE_DOCUMENT: &str = "document.produce";
    /// A document was submitted; its content is usually claim-checked.
    pub const DOCUMENT_SUBMITTED: &str = "document.submitted";

    /// `document.produce`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct ProduceDocument {
        /// The document.
        pub document_id: String,
        /// Content size in bytes.
        pub size: usize,
    }

    /// `document.submitted`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct DocumentSubmitted {
        /// The document.
        pub document_id: String,
        /// SHA-256 of `content`, hex.
        pub sha256: String,
        /// The content (text, may be many MiB).
        pub content: String,
    }
}

pub mod checkout {
    //! The checkout saga: reserve stock, charge, arrange shipping; undo what was done when a
    //! step fails. The same steps serve the orchestrated form (Step Functions task inputs)
    //! and the choreographed form (events on the bus).
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use crate::orders::Line;

    /// Source of the saga's commands from the orchestrator.
    pub const ORCHESTRATOR: &str = "eventkit.checkout-saga";

    /// Task: reserve the order's stock.
    pub const RESERVE_INVENTORY: &str = "inventory.reserve";
    /// Task (compensation): release it.
    pub const RELEASE_INVENTORY: &str = "inventory.release";
    /// Task: charge the customer.
    pub const CHARGE_PAYMENT: &str = "payment.charge";
    /// Task (compensation): refund.
    pub const REFUND_PAYMENT: &str = "payment.refund";
    /// Task: arrange shipping.
    pub const ARRANGE_SHIPPING: &str = "shipping.arrange";

    /// Choreography: a checkout starts (published by whoever takes the order).
    pub const CHECKOUT_REQUESTED: &str = "checkout.requested";
    /// Stock reserved.
    pub const INVENTORY_RESERVED: &str = "inventory.reserved";
    /// Stock not available: the checkout ends here.
    pub const INVENTORY_REJECTED: &str = "inventory.rejected";
    /// Stock released (compensation done).
    pub const INVENTORY_RELEASED: &str = "inventory.released";
    /// Customer charged.
    pub const PAYMENT_CHARGED: &str = "payment.charged";
    /// Charge declined: inventory must release.
    pub const PAYMENT_DECLINED: &str = "payment.declined";
    /// Refunded (compensation done): inventory must release.
    pub const PAYMENT_REFUNDED: &str = "payment.refunded";
    /// Shipping arranged: the checkout completed.
    pub const SHIPPING_ARRANGED: &str = "shipping.arranged";
    /// Shipping impossible: payment must refund.
    pub const SHIPPING_FAILED: &str = "shipping.failed";

    /// The checkout every step and event carries.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct Checkout {
        /// The order.
        pub order_id: String,
        /// Who pays.
        pub customer: String,
        /// What is bought.
        pub lines: Vec<Line>,
        /// Amount to charge, minor units.
        pub total: i64,
        /// Injected faults, by step (`reserve`, `charge`, `ship`, `release`, `refund`):
        /// `reject` (a business refusal), `transient:N` (the first N attempts fail with a
        /// transient error), `always` (every attempt fails transiently). For tests and demos.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub faults: BTreeMap<String, String>,
    }

    /// Why a step refused (the `reason` of a failure event).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct StepFailed {
        /// The checkout.
        #[serde(flatten)]
        pub checkout: Checkout,
        /// What went wrong.
        pub reason: String,
    }

    /// What a step (or compensation) did, answered to the orchestrator.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct StepResult {
        /// The step.
        pub step: String,
        /// The state it left its service in (`RESERVED`, `CHARGED`, `RELEASED`, ...).
        pub status: String,
        /// Whether this call changed it (false: it already was so, a replay).
        pub changed: bool,
    }
}

pub mod stock {
    //! Stock checks, over correlated request/reply.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Command to the requester: ask the responder, give up after `timeout_ms`.
    pub const START_CHECK: &str = "stock.check.start";
    /// Query to the requester: what became of a check.
    pub const CHECK_RESULT: &str = "stock.check.result";
    /// The request, on the responder's queue (with `replyto` or `tasktoken`).
    pub const CHECK_REQUESTED: &str = "stock.check.requested";
    /// The reply, on the requester's reply queue.
    pub const CHECK_REPLIED: &str = "stock.check.replied";
    /// Source of requests.
    pub const REQUESTER: &str = "eventkit.stock-requester";
    /// Source of replies.
    pub const RESPONDER: &str = "eventkit.stock-responder";

    /// `stock.check.start`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct StartCheck {
        /// What to check.
        pub sku: String,
        /// How many are needed.
        pub quantity: u32,
        /// How long to wait for the reply.
        pub timeout_ms: u64,
    }

    /// `stock.check.requested`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct CheckRequested {
        /// What to check.
        pub sku: String,
        /// How many are needed.
        pub quantity: u32,
    }

    /// `stock.check.replied`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct CheckReplied {
        /// What was checked.
        pub sku: String,
        /// Units on hand.
        pub on_hand: u32,
        /// Whether the requested quantity is available.
        pub available: bool,
    }

    /// `stock.check.result`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct CheckResultQuery {
        /// The check (its correlation id).
        pub request_id: String,
    }

    /// What became of a check: the requester's typed answer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "outcome", rename_all = "snake_case")]
    pub enum CheckResult {
        /// The reply arrived in time.
        Answered {
            /// The reply.
            reply: CheckReplied,
        },
        /// Still waiting, before the deadline.
        Pending {
            /// Epoch ms.
            deadline_ms: i64,
        },
        /// No reply before the deadline (a late reply is dropped).
        TimedOut {
            /// Epoch ms.
            deadline_ms: i64,
        },
        /// No such check.
        Unknown,
    }
}

pub mod quotes {
    //! Supplier quotes, over scatter-gather.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// A quote request, fanned out to the suppliers on the bus.
    pub const QUOTE_REQUESTED: &str = "quote.requested";
    /// One supplier's offer.
    pub const QUOTE_OFFERED: &str = "quote.offered";
    /// The aggregator's timer: the request's deadline passed.
    pub const QUOTE_DEADLINE: &str = "quote.deadline";
    /// The composite result.
    pub const QUOTE_AGGREGATED: &str = "quote.aggregated";
    /// Source of requests.
    pub const BUYER: &str = "eventkit.buyer";
    /// Source of composite results.
    pub const AGGREGATOR: &str = "eventkit.quote-aggregator";

    /// When the gather is complete.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum Completion {
        /// Every supplier asked has answered (or the deadline passed).
        All,
        /// The first `n` offers (or the deadline passed).
        First {
            /// How many.
            n: usize,
        },
        /// Whatever has arrived at the deadline.
        Deadline,
    }

    /// `quote.requested`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct QuoteRequested {
        /// What to quote.
        pub sku: String,
        /// How many.
        pub quantity: u32,
        /// The suppliers asked.
        pub suppliers: Vec<String>,
        /// When the gather completes (default: the aggregator's configuration).
        #[serde(default)]
        pub completion: Option<Completion>,
        /// Milliseconds after which the gather completes with what it has.
        pub deadline_ms: u64,
    }

    /// `quote.offered`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct QuoteOffered {
        /// Who offers.
        pub supplier: String,
        /// Total price, minor units.
        pub price: i64,
        /// Days to deliver.
        pub lead_days: u32,
    }

    /// `quote.deadline`: nothing but the envelope (its correlation id names the gather).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct QuoteDeadline {}

    /// `quote.aggregated`: one composite result that names what is missing.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub struct QuoteAggregated {
        /// What was quoted.
        pub sku: String,
        /// The offers received, cheapest first.
        pub offers: Vec<QuoteOffered>,
        /// Suppliers asked that did not answer in time.
        pub missing: Vec<String>,
        /// The policy that completed it.
        pub completion: Completion,
        /// Why it completed: `policy` (the policy was met) or `deadline`.
        pub completed_by: String,
    }
}

pub mod wallets {
    //! The event-sourced wallet: its command and the events its event store publishes.
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// The wallets' events' source.
    pub const SOURCE: &str = "eventkit.wallets";
    /// A command for one wallet (`subject` = the wallet id).
    pub const WALLET_COMMAND: &str = "wallet.command";
    /// A wallet was opened.
    pub const WALLET_OPENED: &str = "wallet.opened";
    /// Money came in.
    pub const WALLET_CREDITED: &str = "wallet.credited";
    /// Money went out.
    pub const WALLET_DEBITED: &str = "wallet.debited";
    /// A wallet takes no more movements.
    pub const WALLET_CLOSED: &str = "wallet.closed";

    /// `wallet.command`: what a wallet is asked to do.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
    pub enum WalletCommand {
        /// Open it for a customer.
        Open {
            /// The owner.
            customer: String,
            /// ISO 4217 code.
            currency: String,
        },
        /// Add money.
        Credit {
            /// Minor units, positive.
            amount: i64,
            /// The caller's reference (a payment id).
            reference: Option<String>,
        },
        /// Take money out.
        Debit {
            /// Minor units, positive, at most the balance.
            amount: i64,
            /// The caller's reference.
            reference: Option<String>,
        },
        /// Close it (the balance must be zero).
        Close,
    }

    /// `wallet.opened` (version 2; version 1, never published, had no currency).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct WalletOpened {
        /// The owner.
        pub customer: String,
        /// ISO 4217 code.
        pub currency: String,
    }

    /// `wallet.credited` and `wallet.debited`: a movement and the balance after it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct WalletMovement {
        /// Minor units.
        pub amount: i64,
        /// The balance after it.
        pub balance: i64,
        /// The caller's reference.
        pub reference: Option<String>,
    }

    /// `wallet.closed`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct WalletClosed {}
}

#[cfg(test)]
mod tests {
    use super::orders::*;
    use serde_json::json;

    #[test]
    fn order_placed_is_snake_case_on_the_wire() {
        let placed = OrderPlaced {
            order_id: "o-1".into(),
            customer: "c-1".into(),
            kind: OrderKind::Digital,
            lines: vec![Line {
                sku: "ebook".into(),
                quantity: 1,
                unit_price: 900,
            }],
            total: 900,
        };
        let wire = serde_json::to_value(&placed).unwrap();
        assert_eq!(wire["kind"], json!("digital"));
        assert_eq!(wire["lines"][0]["unit_price"], json!(900));
        assert_eq!(serde_json::from_value::<OrderPlaced>(wire).unwrap(), placed);
    }
}
