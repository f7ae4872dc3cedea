//! One business fact ("a customer's profile changed"), consumed two ways. Each is deployed
//! as its own function from this crate, on its own queue:
//!
//! * **Event notification** ([`on_changed`]): the event says only who changed; the consumer
//!   calls the source back (`customer.profile.get`, a synchronous invoke) for the profile.
//!   Loose contract, but a runtime dependency: while the source is down every record fails
//!   and waits in the queue, and every event costs a callback per consumer.
//! * **Event-carried state transfer** ([`on_profile_updated`]): the event carries the
//!   profile; the consumer keeps its replica with newer-wins per customer (the event's
//!   `sequence`), absorbing duplicates and reordering, and never calls the source.
//!
//! Both replicas have the same shape: one item per customer (`pk`, `version`, `state`).
//! The notification consumer also counts its callbacks (`pk` = `callbacks#<customer>`).

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::idempotency::ordering::{
    envelope_version, Applied, OrderingError, VersionedStateStore,
};
use eventkit::idempotency::StoreError;
use eventkit::ErrorType;
use eventkit::{Envelope, Event, Router};
use eventkit_contracts::customers::{
    CustomerChanged, Profile, ProfileUpdated, CUSTOMER_CHANGED, PROFILE_UPDATED,
};

pub mod aws;

/// Why a record was not applied.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum ViewError {
    /// The source did not answer the callback (down, throttled): the record is retried.
    #[error("the customer service did not answer the callback for `{customer_id}`: {reason}; the record is retried until it does")]
    SourceUnavailable {
        /// The customer.
        customer_id: String,
        /// What the call said.
        reason: String,
    },
    /// The event cannot be ordered.
    #[error(transparent)]
    #[error_type("Unorderable")]
    Ordering(#[from] OrderingError),
    /// The replica table failed.
    #[error(transparent)]
    #[error_type("TransientError")]
    Store(#[from] StoreError),
}

/// The source, called back by the notification consumer.
#[async_trait]
pub trait CustomerSource: Send + Sync {
    /// The current profile (the call the seeds warn about: one per event per consumer);
    /// `cause` is the event's envelope, the callback's cause.
    async fn get_profile(
        &self,
        customer_id: &str,
        cause: &Envelope<()>,
    ) -> Result<Profile, ViewError>;
}

#[async_trait]
impl CustomerSource for Box<dyn CustomerSource> {
    async fn get_profile(
        &self,
        customer_id: &str,
        cause: &Envelope<()>,
    ) -> Result<Profile, ViewError> {
        (**self).get_profile(customer_id, cause).await
    }
}

/// Counts callbacks, for the load comparison.
#[async_trait]
pub trait CallbackCounter: Send + Sync {
    /// One callback attempted for `customer_id` (answered or not).
    async fn count(&self, customer_id: &str, answered: bool) -> Result<(), StoreError>;
}

/// A consumer's dependencies.
pub struct Replica<V, S, C> {
    /// The replica: newer-wins per customer.
    pub view: V,
    /// The source (notification consumer only).
    pub source: S,
    /// The callback counter (notification consumer only).
    pub counter: C,
}

/// Notification: call the source back, then keep what it answered (newer wins: the answer
/// may already be newer than the event).
pub async fn on_changed<V: VersionedStateStore, S: CustomerSource, C: CallbackCounter>(
    replica: Arc<Replica<V, S, C>>,
    event: Event<CustomerChanged>,
) -> Result<String, ViewError> {
    let changed = &event.data;
    let answer = replica
        .source
        .get_profile(&changed.customer_id, &event)
        .await;
    replica
        .counter
        .count(&changed.customer_id, answer.is_ok())
        .await?;
    let profile = answer?;
    let state = serde_json::to_value(&profile).map_err(|e| StoreError {
        operation: "encode",
        source: Box::new(e),
    })?;
    let applied = replica
        .view
        .apply_if_newer(&profile.customer_id, profile.version, &event.id, &state)
        .await?;
    tracing::info!(customer_id = %profile.customer_id, version = profile.version, ?applied, "notified: called back");
    Ok(format!("{applied:?}"))
}

/// State transfer: keep the profile the event carries, newer wins.
pub async fn on_profile_updated<V: VersionedStateStore, S, C>(
    replica: Arc<Replica<V, S, C>>,
    event: Event<ProfileUpdated>,
) -> Result<String, ViewError> {
    let version = envelope_version(&event)?;
    let profile = &event.data;
    let state = serde_json::to_value(profile).map_err(|e| StoreError {
        operation: "encode",
        source: Box::new(e),
    })?;
    let applied = replica
        .view
        .apply_if_newer(&profile.customer_id, version, &event.id, &state)
        .await?;
    match &applied {
        Applied::Applied => {
            tracing::info!(customer_id = %profile.customer_id, version, "replica updated")
        }
        Applied::Stale { current } => {
            tracing::info!(customer_id = %profile.customer_id, version, current, "stale or duplicate: skipped")
        }
    }
    Ok(format!("{applied:?}"))
}

/// The function: both handlers (each deployment's queue delivers only its own type).
pub fn router<V, S, C>(replica: Replica<V, S, C>) -> Router<Replica<V, S, C>>
where
    V: VersionedStateStore + 'static,
    S: CustomerSource + 'static,
    C: CallbackCounter + 'static,
{
    Router::with_state(replica)
        .on(CUSTOMER_CHANGED, on_changed::<V, S, C>)
        .on(PROFILE_UPDATED, on_profile_updated::<V, S, C>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventkit::idempotency::ordering::MemoryStateStore;
    use eventkit_contracts::customers::SOURCE;
    use serde_json::{json, Value};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Source {
        profile: Mutex<Option<Profile>>,
        down: AtomicBool,
    }

    #[async_trait]
    impl CustomerSource for Source {
        async fn get_profile(
            &self,
            customer_id: &str,
            _: &Envelope<()>,
        ) -> Result<Profile, ViewError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(ViewError::SourceUnavailable {
                    customer_id: customer_id.into(),
                    reason: "throttled".into(),
                });
            }
            Ok(self.profile.lock().unwrap().clone().unwrap())
        }
    }

    #[derive(Default)]
    struct Counter(AtomicUsize);

    #[async_trait]
    impl CallbackCounter for Counter {
        async fn count(&self, _: &str, _: bool) -> Result<(), StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    type F = Router<Replica<MemoryStateStore, Source, Counter>>;

    fn function() -> F {
        router(Replica {
            view: MemoryStateStore::default(),
            source: Source::default(),
            counter: Counter::default(),
        })
    }

    fn profile(version: i64, name: &str) -> Profile {
        Profile {
            customer_id: "cust-1".into(),
            name: name.into(),
            email: "a@example.com".into(),
            tier: "gold".into(),
            version,
        }
    }

    fn fat(version: i64, name: &str) -> Envelope {
        let mut e = Envelope::new(SOURCE, PROFILE_UPDATED, json!(profile(version, name)));
        e.extensions
            .insert("sequence".into(), json!(version.to_string()));
        e
    }

    #[tokio::test]
    async fn state_transfer_keeps_the_newest_whatever_the_order_and_never_calls_back() {
        let f = function();
        f.state().source.down.store(true, Ordering::SeqCst);
        for e in [fat(2, "v2"), fat(1, "v1"), fat(3, "v3"), fat(2, "v2")] {
            f.dispatch(e, None).await.unwrap();
        }
        let (version, state) = f.state().view.get("cust-1").unwrap();
        assert_eq!((version, state["name"].clone()), (3, json!("v3")));
        assert_eq!(f.state().counter.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn notification_fails_while_the_source_is_down_and_applies_after() {
        let f = function();
        let thin = Envelope::new(
            SOURCE,
            CUSTOMER_CHANGED,
            json!({"customer_id": "cust-1", "version": 1}),
        );
        f.state().source.down.store(true, Ordering::SeqCst);
        let err = f.dispatch(thin.clone(), None).await.unwrap_err();
        assert_eq!(err.error_type(), "SourceUnavailable");
        assert!(f.state().view.get("cust-1").is_none());
        f.state().source.down.store(false, Ordering::SeqCst);
        // The source already holds version 2: the callback brings the newest.
        *f.state().source.profile.lock().unwrap() = Some(profile(2, "v2"));
        f.dispatch(thin, None).await.unwrap();
        assert_eq!(f.state().view.get("cust-1").unwrap().0, 2);
        assert_eq!(
            f.state().counter.0.load(Ordering::SeqCst),
            2,
            "the failed attempt counts too"
        );
    }

    #[tokio::test]
    async fn the_samples_apply() {
        let f = function();
        *f.state().source.profile.lock().unwrap() = Some(Profile {
            customer_id: "cust-sample".into(),
            ..profile(1, "Ada")
        });
        for text in [
            include_str!("../../../events/customer-views/sqs-customer-changed.json"),
            include_str!("../../../events/customer-views/sqs-profile-updated.json"),
        ] {
            let batch: Value = serde_json::from_str(text).unwrap();
            let out = f.handle(batch, None).await.unwrap();
            assert_eq!(out["batchItemFailures"], json!([]));
        }
        assert_eq!(f.state().view.get("cust-sample").unwrap().0, 1);
    }
}
