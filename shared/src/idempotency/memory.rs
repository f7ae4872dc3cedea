//! An in-memory [`IdempotencyStore`] with the same condition as the DynamoDB one, for unit
//! tests and benchmarks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{IdempotencyStore, Now, PutOutcome, Record, Status, StoreError};

/// Records in a map; optional per-call latency to model a network round trip.
#[derive(Debug, Default)]
pub struct MemoryIdempotencyStore {
    records: Mutex<HashMap<String, Record>>,
    latency: Duration,
    calls: AtomicUsize,
    puts: AtomicUsize,
}

impl MemoryIdempotencyStore {
    /// A store whose every call takes `latency` (a simulated round trip).
    pub fn with_latency(latency: Duration) -> Self {
        MemoryIdempotencyStore {
            latency,
            ..Default::default()
        }
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of store calls so far (each one a round trip on DynamoDB).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Number of ownership writes so far.
    pub fn put_calls(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    /// Writes a record unconditionally (test set-up).
    pub fn force(&self, record: Record) {
        self.lock().insert(record.key.clone(), record);
    }

    /// Reads a record (test assertions).
    pub fn get(&self, key: &str) -> Option<Record> {
        self.lock().get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn round_trip(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn put_in_progress(&self, record: &Record, now: Now) -> Result<PutOutcome, StoreError> {
        self.round_trip().await;
        self.puts.fetch_add(1, Ordering::SeqCst);
        let mut records = self.lock();
        match records.get(&record.key) {
            Some(existing) if !existing.can_be_replaced(now) => {
                Ok(PutOutcome::Exists(existing.clone()))
            }
            _ => {
                records.insert(
                    record.key.clone(),
                    Record {
                        status: Status::InProgress,
                        data: None,
                        ..record.clone()
                    },
                );
                Ok(PutOutcome::Acquired)
            }
        }
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.round_trip().await;
        self.lock().insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn release(&self, held: &Record) -> Result<(), StoreError> {
        self.round_trip().await;
        let mut records = self.lock();
        if records.get(&held.key).is_some_and(|r| {
            r.status == Status::InProgress
                && r.in_progress_expiration == held.in_progress_expiration
        }) {
            records.remove(&held.key);
        }
        Ok(())
    }
}

#[async_trait]
impl<S: IdempotencyStore + ?Sized> IdempotencyStore for std::sync::Arc<S> {
    async fn put_in_progress(&self, record: &Record, now: Now) -> Result<PutOutcome, StoreError> {
        (**self).put_in_progress(record, now).await
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        (**self).complete(record).await
    }

    async fn release(&self, held: &Record) -> Result<(), StoreError> {
        (**self).release(held).await
    }

    async fn prewarm(&self) -> Result<(), StoreError> {
        (**self).prewarm().await
    }
}
