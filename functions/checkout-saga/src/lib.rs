//! The checkout saga's three participants. One crate, deployed once per service
//! (`SERVICE` = `inventory`, `payment` or `shipping`), each with its own table. Every step
//! and compensation is a guarded state transition of the order in that table
//! (`NONE -> RESERVED -> RELEASED`, `NONE -> CHARGED -> REFUNDED`, `NONE -> ARRANGED`), so
//! a retried or replayed call changes nothing twice: idempotent on (order, step).
//!
//! * **Orchestrated**: the state machine invokes a step with an envelope of the step's type
//!   (`inventory.reserve`, ...) and gets a [`StepResult`]; a refusal is an error whose type
//!   the state machine catches (`InventoryUnavailable`, `PaymentDeclined`,
//!   `ShippingUnavailable`), a transient failure one it retries (`TransientError`).
//! * **Choreographed**: each service reacts to the previous service's event on the bus and
//!   publishes the next one, or the one that makes the others compensate.
//!
//! Faults for tests and demos come in the checkout itself (`faults`): `reject`,
//! `transient:N`, `always`.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::envelope::stable_id;
use eventkit::idempotency::StoreError;
use eventkit::publish::{PublishError, Publisher};
use eventkit::ErrorType;
use eventkit::{Event, Router};
use eventkit_contracts::checkout::*;
use serde_json::json;

pub mod dynamodb;

/// Which participant a deployment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Reserves and releases stock.
    Inventory,
    /// Charges and refunds.
    Payment,
    /// Arranges shipping.
    Shipping,
}

impl Service {
    /// The source of the events this service publishes.
    pub fn source(self) -> &'static str {
        match self {
            Service::Inventory => "eventkit.inventory",
            Service::Payment => "eventkit.payments",
            Service::Shipping => "eventkit.shipping",
        }
    }
}

impl std::str::FromStr for Service {
    type Err = SagaError;
    fn from_str(s: &str) -> Result<Service, SagaError> {
        match s {
            "inventory" => Ok(Service::Inventory),
            "payment" => Ok(Service::Payment),
            "shipping" => Ok(Service::Shipping),
            other => Err(SagaError::Invalid(format!(
                "SERVICE=`{other}`; use inventory, payment or shipping"
            ))),
        }
    }
}

/// A step: its name (the fault key), the transition it makes, and its refusal.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// `reserve`, `release`, `charge`, `refund`, `ship`.
    pub name: &'static str,
    /// The status it starts from (`NONE`: the order is new to this service).
    pub from: &'static str,
    /// The status it leaves.
    pub to: &'static str,
}

/// Reserve stock.
pub const RESERVE: Step = Step {
    name: "reserve",
    from: "NONE",
    to: "RESERVED",
};
/// Release it (compensation).
pub const RELEASE: Step = Step {
    name: "release",
    from: "RESERVED",
    to: "RELEASED",
};
/// Charge.
pub const CHARGE: Step = Step {
    name: "charge",
    from: "NONE",
    to: "CHARGED",
};
/// Refund (compensation).
pub const REFUND: Step = Step {
    name: "refund",
    from: "CHARGED",
    to: "REFUNDED",
};
/// Arrange shipping.
pub const SHIP: Step = Step {
    name: "ship",
    from: "NONE",
    to: "ARRANGED",
};

/// Why a step did not happen. The variant is the error type the orchestrator sees.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum SagaError {
    /// No stock (business refusal; nothing to undo).
    #[error("order `{0}`: no stock to reserve")]
    InventoryUnavailable(String),
    /// The charge was declined (business refusal).
    #[error("order `{0}`: payment declined")]
    PaymentDeclined(String),
    /// Shipping is impossible (business refusal).
    #[error("order `{0}`: shipping cannot be arranged")]
    ShippingUnavailable(String),
    /// A dependency failed; the same call may succeed later.
    #[error("order `{order_id}`: {step} failed transiently ({why}); retry")]
    #[error_type("TransientError")]
    Transient {
        /// The order.
        order_id: String,
        /// The step.
        step: &'static str,
        /// Why.
        why: String,
    },
    /// The order is in a state this step cannot start from.
    #[error("order `{order_id}`: cannot {step} from status {current}; a new checkout needs a new order id")]
    WrongState {
        /// The order.
        order_id: String,
        /// The step.
        step: &'static str,
        /// Where the order is.
        current: String,
    },
    /// The step was done before and the order has moved on since: the trigger is a late
    /// duplicate (a redelivery after a timeout). A choreographed reaction acknowledges it.
    #[error("order `{order_id}`: {step} was done before and the order has moved on to {current}; a late duplicate, nothing to do")]
    AlreadyPassed {
        /// The order.
        order_id: String,
        /// The step.
        step: &'static str,
        /// Where the order is.
        current: String,
    },
    /// The input is unusable.
    #[error("invalid checkout: {0}")]
    #[error_type("InvalidCheckout")]
    Invalid(String),
}

impl From<StoreError> for SagaError {
    fn from(e: StoreError) -> SagaError {
        SagaError::Transient {
            order_id: String::new(),
            step: "store",
            why: e.to_string(),
        }
    }
}

impl From<PublishError> for SagaError {
    fn from(e: PublishError) -> SagaError {
        SagaError::Transient {
            order_id: String::new(),
            step: "publish",
            why: e.to_string(),
        }
    }
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// It moved the order (and counted it).
    Changed,
    /// The order was already at the target status: nothing to do.
    Already,
    /// The order reached the target status before and has since moved on (to this status,
    /// by a compensation): a late duplicate of the step; nothing to do or announce.
    Passed(String),
    /// The order is elsewhere (`NONE` when this service never saw it).
    Blocked(String),
}

/// A service's table of orders.
#[async_trait]
pub trait Orders: Send + Sync {
    /// Moves `order_id` from `from` to `to` and counts it, in one conditional write.
    async fn transition(
        &self,
        order_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Transition, StoreError>;
    /// Counts an attempt at `step` and returns how many there were (for `transient:N`).
    async fn attempt(&self, order_id: &str, step: &str) -> Result<u32, StoreError>;
}

/// A participant's dependencies.
pub struct Participant<O, P> {
    /// Which service.
    pub service: Service,
    /// Its orders table.
    pub orders: O,
    /// The bus (choreography).
    pub bus: P,
}

fn refusal(step: Step, order_id: &str) -> SagaError {
    match step.name {
        "reserve" => SagaError::InventoryUnavailable(order_id.to_owned()),
        "charge" => SagaError::PaymentDeclined(order_id.to_owned()),
        _ => SagaError::ShippingUnavailable(order_id.to_owned()),
    }
}

/// Runs a step on a checkout: the injected fault if any, then the transition.
pub async fn run_step<O: Orders>(
    orders: &O,
    step: Step,
    checkout: &Checkout,
) -> Result<StepResult, SagaError> {
    let order_id = checkout.order_id.as_str();
    if order_id.trim().is_empty() {
        return Err(SagaError::Invalid("`order_id` must not be empty".into()));
    }
    let transient = |why: String| SagaError::Transient {
        order_id: order_id.to_owned(),
        step: step.name,
        why,
    };
    match checkout.faults.get(step.name).map(String::as_str) {
        None => {}
        Some("reject") if matches!(step.name, "reserve" | "charge" | "ship") => {
            return Err(refusal(step, order_id))
        }
        Some("always") => return Err(transient("injected: always fails".into())),
        Some(fault) if fault.starts_with("transient:") => {
            let failures: u32 = fault["transient:".len()..].parse().map_err(|_| {
                SagaError::Invalid(format!(
                    "fault `{fault}` for {}: use transient:N",
                    step.name
                ))
            })?;
            let attempt = orders
                .attempt(order_id, step.name)
                .await
                .map_err(|e| transient(e.to_string()))?;
            if attempt <= failures {
                return Err(transient(format!(
                    "injected: attempt {attempt} of {failures} failing"
                )));
            }
        }
        Some(other) => {
            return Err(SagaError::Invalid(format!(
                "unknown fault `{other}` for {}; use reject, transient:N or always",
                step.name
            )))
        }
    }
    let outcome = orders
        .transition(order_id, step.from, step.to)
        .await
        .map_err(|e| transient(e.to_string()))?;
    let result = |status: &str, changed| StepResult {
        step: step.name.to_owned(),
        status: status.to_owned(),
        changed,
    };
    match outcome {
        Transition::Changed => Ok(result(step.to, true)),
        Transition::Already => Ok(result(step.to, false)),
        // A compensation of something that never happened: nothing to undo.
        Transition::Blocked(current)
            if current == "NONE" && matches!(step.name, "release" | "refund") =>
        {
            Ok(result("NONE", false))
        }
        Transition::Passed(current) => Err(SagaError::AlreadyPassed {
            order_id: order_id.to_owned(),
            step: step.name,
            current,
        }),
        Transition::Blocked(current) => Err(SagaError::WrongState {
            order_id: order_id.to_owned(),
            step: step.name,
            current,
        }),
    }
}

/// An orchestrated step: the task input is an envelope whose type names the step.
async fn task<O: Orders, P>(
    step: Step,
    participant: Arc<Participant<O, P>>,
    event: Event<Checkout>,
) -> Result<StepResult, SagaError> {
    let checkout = event.data;
    let result = run_step(&participant.orders, step, &checkout).await?;
    tracing::info!(order_id = %checkout.order_id, step = step.name, status = %result.status, changed = result.changed, "orchestrated step");
    Ok(result)
}

/// A choreographed step: run it, then publish `success` or, on a business refusal,
/// `failure` (with the reason). Transient errors fail the record, which is retried.
async fn react<O: Orders, P: Publisher>(
    step: Step,
    success: &'static str,
    failure: Option<&'static str>,
    participant: Arc<Participant<O, P>>,
    event: Event<Checkout>,
) -> Result<StepResult, SagaError> {
    let (checkout, event) = event.into_parts();
    let (next, result) = match run_step(&participant.orders, step, &checkout).await {
        Ok(result) => (success, Ok(result)),
        // What this step announced has already moved the saga on (its compensation ran):
        // announcing it again could restart work downstream.
        Err(SagaError::AlreadyPassed { current, .. }) => {
            tracing::info!(order_id = %checkout.order_id, step = step.name, %current, "late duplicate acknowledged: the order has moved on");
            return Ok(StepResult {
                step: step.name.to_owned(),
                status: current,
                changed: false,
            });
        }
        Err(
            e @ (SagaError::InventoryUnavailable(_)
            | SagaError::PaymentDeclined(_)
            | SagaError::ShippingUnavailable(_)),
        ) => {
            let Some(failure) = failure else {
                return Err(e);
            };
            (failure, Err(e))
        }
        Err(e) => return Err(e),
    };
    let data = match &result {
        Ok(_) => json!(checkout),
        Err(e) => json!(StepFailed {
            checkout: checkout.clone(),
            reason: e.to_string()
        }),
    };
    // Derived from the cause: a retried reaction publishes the same envelope again.
    let outgoing = event
        .caused(participant.service.source(), next, data)
        .with_id(stable_id(&[&event.id, next]))
        .with_subject(&checkout.order_id)
        .with_partition_key(&checkout.order_id);
    participant.bus.publish(&[outgoing]).await?;
    tracing::info!(order_id = %checkout.order_id, step = step.name, published = next, "choreographed step");
    Ok(result.unwrap_or(StepResult {
        step: step.name.to_owned(),
        status: "REFUSED".into(),
        changed: false,
    }))
}

macro_rules! handler {
    (task $step:expr) => {
        |p: Arc<Participant<O, P>>, e: Event<Checkout>| task($step, p, e)
    };
    (react $step:expr, $ok:expr, $fail:expr) => {
        |p: Arc<Participant<O, P>>, e: Event<Checkout>| react($step, $ok, $fail, p, e)
    };
}

/// The function for one participant: its orchestrated steps and its choreography.
pub fn router<O: Orders + 'static, P: Publisher + 'static>(
    participant: Participant<O, P>,
) -> Router<Participant<O, P>> {
    let service = participant.service;
    let r = Router::with_state(participant);
    match service {
        Service::Inventory => r
            .on(RESERVE_INVENTORY, handler!(task RESERVE))
            .on(RELEASE_INVENTORY, handler!(task RELEASE))
            .on(
                CHECKOUT_REQUESTED,
                handler!(react RESERVE, INVENTORY_RESERVED, Some(INVENTORY_REJECTED)),
            )
            .on(
                PAYMENT_DECLINED,
                handler!(react RELEASE, INVENTORY_RELEASED, None),
            )
            .on(
                PAYMENT_REFUNDED,
                handler!(react RELEASE, INVENTORY_RELEASED, None),
            ),
        Service::Payment => r
            .on(CHARGE_PAYMENT, handler!(task CHARGE))
            .on(REFUND_PAYMENT, handler!(task REFUND))
            .on(
                INVENTORY_RESERVED,
                handler!(react CHARGE, PAYMENT_CHARGED, Some(PAYMENT_DECLINED)),
            )
            .on(
                SHIPPING_FAILED,
                handler!(react REFUND, PAYMENT_REFUNDED, None),
            ),
        Service::Shipping => r.on(ARRANGE_SHIPPING, handler!(task SHIP)).on(
            PAYMENT_CHARGED,
            handler!(react SHIP, SHIPPING_ARRANGED, Some(SHIPPING_FAILED)),
        ),
    }
}

/// An in-memory [`Orders`] (unit tests): status and counts per order.
#[derive(Debug, Default)]
pub struct MemoryOrders(pub std::sync::Mutex<std::collections::HashMap<String, MemoryOrder>>);

/// An order in [`MemoryOrders`]: its status, and counts by status reached and by attempts.
pub type MemoryOrder = (String, std::collections::HashMap<String, u32>);

#[async_trait]
impl Orders for MemoryOrders {
    async fn transition(
        &self,
        order_id: &str,
        from: &str,
        to: &str,
    ) -> Result<Transition, StoreError> {
        let mut orders = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = orders
            .entry(order_id.to_owned())
            .or_insert_with(|| ("NONE".into(), Default::default()));
        if entry.0 == to {
            return Ok(Transition::Already);
        }
        if entry.1.get(to).is_some_and(|n| *n > 0) {
            return Ok(Transition::Passed(entry.0.clone()));
        }
        if entry.0 != from {
            return Ok(Transition::Blocked(entry.0.clone()));
        }
        entry.0 = to.to_owned();
        *entry.1.entry(to.to_owned()).or_default() += 1;
        Ok(Transition::Changed)
    }

    async fn attempt(&self, order_id: &str, step: &str) -> Result<u32, StoreError> {
        let mut orders = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = orders
            .entry(order_id.to_owned())
            .or_insert_with(|| ("NONE".into(), Default::default()));
        let n = entry.1.entry(format!("attempt:{step}")).or_default();
        *n += 1;
        Ok(*n)
    }
}

#[cfg(test)]
mod tests;
