//! The source of customer profiles, for the notification vs state-transfer comparison.
//!
//! * `customer.profile.update` (a command envelope, invoked directly): writes the new
//!   profile with version + 1 and, in the same transaction, two outbox items for the same
//!   fact: `customer.changed` (thin: id and version; consumers call back for the rest) and
//!   `customer.profile.updated` (fat: the whole profile). Both carry `sequence` = version.
//! * `customer.profile.get` (the notification consumers' callback, invoked synchronously):
//!   answers the current profile.

use std::sync::Arc;

use async_trait::async_trait;
use eventkit::envelope::stable_id;
use eventkit::idempotency::IdempotencyStore;
use eventkit::ErrorType;
use eventkit::{Envelope, Event, Router};
use eventkit_contracts::customers::{
    CustomerChanged, GetProfile, Profile, UpdateProfile, CUSTOMER_CHANGED, GET_PROFILE,
    PROFILE_UPDATED, SOURCE, UPDATE_PROFILE,
};
use serde_json::json;

pub mod dynamodb;

/// Why a command or query failed.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum CustomerError {
    /// No such customer.
    #[error("customer `{0}` does not exist")]
    #[error_type("CustomerNotFound")]
    NotFound(String),
    /// A field is unusable.
    #[error("invalid profile: {0}")]
    #[error_type("InvalidProfile")]
    Invalid(String),
    /// Another change won the race; retried.
    #[error("customer `{0}` changed concurrently; retry")]
    #[error_type("TransientError")]
    Conflict(String),
    /// The table failed; retryable.
    #[error("profile store failed: {0}")]
    #[error_type("TransientError")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Profiles and their outbox.
#[async_trait]
pub trait Profiles: Send + Sync {
    /// The current profile.
    async fn get(&self, customer_id: &str) -> Result<Option<Profile>, CustomerError>;
    /// Writes `profile` if the stored version is `profile.version - 1` (absent for 1), and
    /// `events` to the outbox, in one transaction.
    async fn save(&self, profile: &Profile, events: &[Envelope]) -> Result<(), CustomerError>;
}

/// Applies a profile change; returns the new profile.
pub async fn update_profile<P: Profiles>(
    profiles: Arc<P>,
    command: Event<UpdateProfile>,
) -> Result<Profile, CustomerError> {
    let (update, command) = command.into_parts();
    for (field, value) in [
        ("customer_id", &update.customer_id),
        ("name", &update.name),
        ("email", &update.email),
    ] {
        if value.trim().is_empty() {
            return Err(CustomerError::Invalid(format!(
                "`{field}` must not be empty"
            )));
        }
    }
    if !update.email.contains('@') {
        return Err(CustomerError::Invalid(format!(
            "`email` `{}` is not an address",
            update.email
        )));
    }
    let version = profiles
        .get(&update.customer_id)
        .await?
        .map(|p| p.version)
        .unwrap_or(0)
        + 1;
    let profile = Profile {
        customer_id: update.customer_id.clone(),
        name: update.name,
        email: update.email,
        tier: update.tier,
        version,
    };
    let event = |event_type: &str, data: serde_json::Value| {
        let mut e = command
            .caused(SOURCE, event_type, data)
            // Stable per (customer, version, type): a retried command publishes the same ids.
            .with_id(stable_id(&[
                &profile.customer_id,
                &version.to_string(),
                event_type,
            ]))
            .with_subject(&profile.customer_id)
            .with_partition_key(&profile.customer_id);
        e.extensions
            .insert("sequence".into(), json!(version.to_string()));
        e
    };
    let thin = CustomerChanged {
        customer_id: profile.customer_id.clone(),
        version,
    };
    let events = [
        event(CUSTOMER_CHANGED, json!(thin)),
        event(PROFILE_UPDATED, json!(profile)),
    ];
    profiles.save(&profile, &events).await?;
    tracing::info!(customer_id = %profile.customer_id, version, "profile changed");
    Ok(profile)
}

/// Answers a profile read (the notification consumers' callback).
pub async fn get_profile<P: Profiles>(
    profiles: Arc<P>,
    query: Event<GetProfile>,
) -> Result<Profile, CustomerError> {
    let id = query.data.customer_id.clone();
    tracing::info!(customer_id = %id, caller = %query.source, "profile read (callback)");
    profiles.get(&id).await?.ok_or(CustomerError::NotFound(id))
}

/// The function: commands once per envelope id; reads as they come.
pub fn router<P: Profiles + 'static>(
    profiles: P,
    idempotency: impl IdempotencyStore + 'static,
) -> Router<P> {
    Router::with_state(profiles)
        .idempotency_store(idempotency)
        .on(UPDATE_PROFILE, update_profile::<P>)
        .idempotent()
        .on(GET_PROFILE, get_profile::<P>)
}

/// In-memory [`Profiles`] (unit tests).
#[derive(Debug, Default)]
pub struct MemoryProfiles {
    /// Profiles by id.
    pub profiles: std::sync::Mutex<std::collections::HashMap<String, Profile>>,
    /// The outbox, in order.
    pub outbox: std::sync::Mutex<Vec<Envelope>>,
}

#[async_trait]
impl Profiles for MemoryProfiles {
    async fn get(&self, customer_id: &str) -> Result<Option<Profile>, CustomerError> {
        Ok(self
            .profiles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(customer_id)
            .cloned())
    }

    async fn save(&self, profile: &Profile, events: &[Envelope]) -> Result<(), CustomerError> {
        let mut profiles = self.profiles.lock().unwrap_or_else(|e| e.into_inner());
        let held = profiles
            .get(&profile.customer_id)
            .map(|p| p.version)
            .unwrap_or(0);
        if held != profile.version - 1 {
            return Err(CustomerError::Conflict(profile.customer_id.clone()));
        }
        profiles.insert(profile.customer_id.clone(), profile.clone());
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(events);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventkit::idempotency::MemoryIdempotencyStore;
    use serde_json::Value;

    fn function() -> Router<MemoryProfiles> {
        router(MemoryProfiles::default(), MemoryIdempotencyStore::default())
    }

    fn update(name: &str) -> Envelope {
        Envelope::new(
            "eventkit.crm",
            UPDATE_PROFILE,
            json!({"customer_id": "cust-1", "name": name, "email": "a@example.com", "tier": "gold"}),
        )
    }

    #[tokio::test]
    async fn a_change_writes_one_thin_and_one_fat_event_with_the_version() {
        let f = function();
        let first = update("Ada");
        f.dispatch(first.clone(), None).await.unwrap();
        f.dispatch(first, None).await.unwrap(); // a retried command: once
        f.dispatch(update("Ada L."), None).await.unwrap();
        let outbox = f.state().outbox.lock().unwrap().clone();
        let shapes: Vec<(String, String)> = outbox
            .iter()
            .map(|e| {
                (
                    e.event_type.clone(),
                    e.extensions["sequence"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (CUSTOMER_CHANGED.into(), "1".into()),
                (PROFILE_UPDATED.into(), "1".into()),
                (CUSTOMER_CHANGED.into(), "2".into()),
                (PROFILE_UPDATED.into(), "2".into()),
            ]
        );
        let thin: Value = outbox[2].data.clone().unwrap();
        assert_eq!(
            thin,
            json!({"customer_id": "cust-1", "version": 2}),
            "thin carries no profile data"
        );
        let fat: Profile = outbox[3].data_as().unwrap();
        assert_eq!(fat.name, "Ada L.");
    }

    #[tokio::test]
    async fn the_callback_answers_the_current_profile_or_not_found() {
        let f = function();
        f.dispatch(update("Ada"), None).await.unwrap();
        let get = |id: &str| {
            Envelope::new(
                "eventkit.customer-views",
                GET_PROFILE,
                json!({"customer_id": id}),
            )
        };
        let profile = f.dispatch(get("cust-1"), None).await.unwrap();
        assert_eq!(profile["version"], 1);
        let err = f.dispatch(get("nobody"), None).await.unwrap_err();
        assert_eq!(err.error_type(), "CustomerNotFound");
    }

    #[tokio::test]
    async fn invalid_profiles_are_refused_naming_the_field() {
        let f = function();
        let bad = Envelope::new(
            "x",
            UPDATE_PROFILE,
            json!({"customer_id": "c", "name": "n", "email": "nope", "tier": "t"}),
        );
        let err = f.dispatch(bad, None).await.unwrap_err();
        assert!(err.to_string().contains("`email`"), "{err}");
        assert!(f.state().outbox.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_samples_run() {
        let f = function();
        let update: Value = serde_json::from_str(include_str!(
            "../../../events/customer-service/1-update-profile.json"
        ))
        .unwrap();
        let profile = f.handle(update, None).await.unwrap();
        let get: Value = serde_json::from_str(include_str!(
            "../../../events/customer-service/2-get-profile.json"
        ))
        .unwrap();
        assert_eq!(f.handle(get, None).await.unwrap(), profile);
    }
}
