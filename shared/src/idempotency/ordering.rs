//! Ordered scopes, in two strengths:
//!
//! * **Newer wins** ([`VersionedStateStore`]), for state-transfer consumers: an event older
//!   than the newest one already applied to the same entity is skipped. The state write and
//!   the ordering check are one conditional write (`attribute_not_exists(pk) OR version <
//!   :v`), so a replayed or late event cannot overwrite newer state, and a duplicate (same
//!   version) is a no-op: ordered application is idempotent as well.
//! * **In sequence** ([`SequencedStore`]), for read models that fold every event: event `n`
//!   of an entity applies only on top of `n - 1`. A duplicate is absorbed; an event that
//!   arrives before its predecessor is refused as a [`InSequence::Gap`], so its record is
//!   retried until the gap fills. One conditional write per event.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use super::StoreError;
use crate::envelope::Envelope;

/// A position in an entity's history: an explicit version, or the event time in ms.
pub type Version = i64;

/// Whether a state write was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state was written: the event was the newest seen for its scope.
    Applied,
    /// Skipped: this version or a newer one was already applied.
    Stale {
        /// The version held.
        current: Version,
    },
}

/// Stores the latest state per scope, refusing older versions.
#[async_trait]
pub trait VersionedStateStore: Send + Sync {
    /// Writes `state` for `scope` if `version` is newer than the stored one.
    async fn apply_if_newer(
        &self,
        scope: &str,
        version: Version,
        event_id: &str,
        state: &Value,
    ) -> Result<Applied, StoreError>;
}

/// Why an envelope has no usable ordering version.
#[derive(Debug, thiserror::Error)]
pub enum OrderingError {
    /// Neither `sequence` nor `time` is set (both are OPTIONAL in CloudEvents).
    #[error("event `{id}` has neither a `sequence` attribute nor a `time`; ordered application needs one: have the producer set `sequence` (a per-entity counter) or `time`")]
    NoVersion {
        /// The envelope id.
        id: String,
    },
    /// `sequence` is present but not an integer.
    #[error("event `{id}` has `sequence` = {value}, which is not an integer; ordered application compares it as one")]
    BadSequence {
        /// The envelope id.
        id: String,
        /// The value found.
        value: String,
    },
}

/// Whether an in-sequence write was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InSequence {
    /// Applied: it was the next event of its entity.
    Applied,
    /// Already applied (a duplicate or a replay): nothing changed.
    Duplicate {
        /// The sequence held.
        current: Version,
    },
    /// Its predecessor has not been applied yet: retry later.
    Gap {
        /// The sequence held (0 for an entity not seen yet).
        current: Version,
    },
}

/// A read model applied strictly in per-entity sequence order. The entity's item holds
/// `pk`, `sequence` (the last applied), `event_id` and the read model's own attributes.
#[async_trait]
pub trait SequencedStore: Send + Sync {
    /// Sets `changes` (top-level attributes) on `scope`'s item if `sequence` is the next
    /// one: 1 for an entity not seen yet, else the held sequence + 1.
    async fn apply_in_sequence(
        &self,
        scope: &str,
        sequence: Version,
        event_id: &str,
        changes: &serde_json::Map<String, Value>,
    ) -> Result<InSequence, StoreError>;
}

impl std::fmt::Display for InSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InSequence::Applied => f.write_str("applied"),
            InSequence::Duplicate { current } => {
                write!(f, "duplicate (sequence {current} already applied)")
            }
            InSequence::Gap { current } => write!(
                f,
                "out of order (sequence {current} applied so far; waiting for its successor)"
            ),
        }
    }
}

/// An entity's last applied sequence and attributes.
pub type SequencedItem = (Version, serde_json::Map<String, Value>);

/// In-memory [`SequencedStore`] for unit tests.
#[derive(Debug, Default)]
pub struct MemorySequencedStore {
    items: Mutex<HashMap<String, SequencedItem>>,
}

impl MemorySequencedStore {
    /// The item held for `scope`: last sequence and attributes.
    pub fn get(&self, scope: &str) -> Option<SequencedItem> {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(scope)
            .cloned()
    }
}

#[async_trait]
impl SequencedStore for MemorySequencedStore {
    async fn apply_in_sequence(
        &self,
        scope: &str,
        sequence: Version,
        _event_id: &str,
        changes: &serde_json::Map<String, Value>,
    ) -> Result<InSequence, StoreError> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let current = items.get(scope).map(|(s, _)| *s).unwrap_or(0);
        if sequence <= current {
            return Ok(InSequence::Duplicate { current });
        }
        if sequence != current + 1 {
            return Ok(InSequence::Gap { current });
        }
        let entry = items.entry(scope.to_owned()).or_default();
        entry.0 = sequence;
        for (k, v) in changes {
            entry.1.insert(k.clone(), v.clone());
        }
        Ok(InSequence::Applied)
    }
}

/// The ordering version of an envelope: its `sequence` extension attribute when the producer
/// sets one (a per-entity counter; the CloudEvents Sequence extension is a string, an
/// integer is accepted too), else its time in milliseconds.
pub fn envelope_version<T>(envelope: &Envelope<T>) -> Result<Version, OrderingError> {
    match envelope.extensions.get("sequence") {
        Some(value) => {
            let parsed = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            parsed.ok_or_else(|| OrderingError::BadSequence {
                id: envelope.id.clone(),
                value: value.to_string(),
            })
        }
        None => {
            envelope
                .time
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| OrderingError::NoVersion {
                    id: envelope.id.clone(),
                })
        }
    }
}

/// In-memory [`VersionedStateStore`] for unit tests.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    states: Mutex<HashMap<String, (Version, Value)>>,
}

impl MemoryStateStore {
    /// The state held for `scope`.
    pub fn get(&self, scope: &str) -> Option<(Version, Value)> {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(scope)
            .cloned()
    }
}

#[async_trait]
impl VersionedStateStore for MemoryStateStore {
    async fn apply_if_newer(
        &self,
        scope: &str,
        version: Version,
        _event_id: &str,
        state: &Value,
    ) -> Result<Applied, StoreError> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match states.get(scope) {
            Some((current, _)) if *current >= version => Ok(Applied::Stale { current: *current }),
            _ => {
                states.insert(scope.to_owned(), (version, state.clone()));
                Ok(Applied::Applied)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn older_and_duplicate_events_are_skipped() {
        let store = MemoryStateStore::default();
        assert_eq!(
            store
                .apply_if_newer("c-1", 5, "e5", &json!({"v": 5}))
                .await
                .unwrap(),
            Applied::Applied
        );
        assert_eq!(
            store
                .apply_if_newer("c-1", 3, "e3", &json!({"v": 3}))
                .await
                .unwrap(),
            Applied::Stale { current: 5 }
        );
        assert_eq!(
            store
                .apply_if_newer("c-1", 5, "e5", &json!({"v": 5}))
                .await
                .unwrap(),
            Applied::Stale { current: 5 }
        );
        assert_eq!(
            store
                .apply_if_newer("c-2", 1, "x", &json!({}))
                .await
                .unwrap(),
            Applied::Applied
        );
        assert_eq!(store.get("c-1").unwrap(), (5, json!({"v": 5})));
    }

    #[tokio::test]
    async fn in_sequence_applies_next_absorbs_duplicates_and_refuses_gaps() {
        let store = MemorySequencedStore::default();
        let set = |v: i64| {
            let mut m = serde_json::Map::new();
            m.insert("v".into(), json!(v));
            m
        };
        assert_eq!(
            store
                .apply_in_sequence("o", 2, "e2", &set(2))
                .await
                .unwrap(),
            InSequence::Gap { current: 0 }
        );
        assert_eq!(
            store
                .apply_in_sequence("o", 1, "e1", &set(1))
                .await
                .unwrap(),
            InSequence::Applied
        );
        assert_eq!(
            store
                .apply_in_sequence("o", 1, "e1", &set(1))
                .await
                .unwrap(),
            InSequence::Duplicate { current: 1 }
        );
        assert_eq!(
            store
                .apply_in_sequence("o", 3, "e3", &set(3))
                .await
                .unwrap(),
            InSequence::Gap { current: 1 }
        );
        assert_eq!(
            store
                .apply_in_sequence("o", 2, "e2", &set(2))
                .await
                .unwrap(),
            InSequence::Applied
        );
        assert_eq!(store.get("o").unwrap(), (2, set(2)));
    }

    #[test]
    fn version_prefers_the_sequence_extension() {
        let mut e = Envelope::new("s", "t", json!(null));
        assert_eq!(
            envelope_version(&e).unwrap(),
            e.time.unwrap().timestamp_millis()
        );
        e.extensions.insert("sequence".into(), json!(7));
        assert_eq!(envelope_version(&e).unwrap(), 7);
        e.extensions.insert("sequence".into(), json!("12"));
        assert_eq!(envelope_version(&e).unwrap(), 12);
        e.extensions.insert("sequence".into(), json!("twelve"));
        let err = envelope_version(&e).unwrap_err();
        assert!(matches!(err, OrderingError::BadSequence { .. }), "{err}");
    }

    #[test]
    fn an_event_without_sequence_or_time_says_what_is_needed() {
        let mut e = Envelope::new("s", "t", json!(null));
        e.time = None;
        let err = envelope_version(&e).unwrap_err();
        assert!(err.to_string().contains("`sequence`"), "{err}");
        assert!(err.to_string().contains("`time`"), "{err}");
    }
}
