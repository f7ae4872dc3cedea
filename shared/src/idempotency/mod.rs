//! Idempotency with the semantics and the DynamoDB record layout of Powertools for AWS
//! Lambda, so Python, TypeScript and Rust functions can share one table.
//!
//! Per key, one conditional write decides who runs the handler: the record is created
//! `INPROGRESS` if it is absent, expired, or in progress past its in-progress expiry. The
//! losing writer gets the existing record back from the same call
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`) and replays its stored response, or
//! fails with [`IdempotencyError::AlreadyInProgress`] so the message is retried later. A
//! handler error deletes the `INPROGRESS` record so a retry can run.
//!
//! A handler whose effect is a DynamoDB write can close the one gap this leaves (an effect
//! applied, then a crash before its record is `COMPLETED`, so a retry applies it again):
//! with [`Idempotency::run_envelope_completing`] it receives a [`Completion`] and writes the
//! `COMPLETED` record in the same `TransactWriteItems` as its effect
//! (`aws::dynamodb::completion_write`), conditioned on still holding the `INPROGRESS` record.
//!
//! ```
//! use eventkit::idempotency::{Idempotency, IdempotencyConfig, MemoryIdempotencyStore};
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! # tokio_test(async {
//! // DynamoIdempotencyStore (crate::aws::dynamodb) in a function; memory here.
//! let idempotency = Idempotency::new(
//!     MemoryIdempotencyStore::default(),
//!     IdempotencyConfig::for_handler("post_entry"),
//! );
//! let entry = Envelope::new("bank", "ledger.entry.posted", json!({"amount": 5}));
//! let mut effects = 0;
//! for _delivery in 0..2 {
//!     let outcome = idempotency
//!         .run_envelope(&entry, None, || async {
//!             effects += 1;
//!             Ok::<_, std::io::Error>(json!({"balance": 5}))
//!         })
//!         .await
//!         .unwrap();
//!     assert_eq!(outcome.into_inner(), json!({"balance": 5}));
//! }
//! assert_eq!(effects, 1, "the duplicate delivery replayed the stored response");
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

pub mod hash;
mod memory;
pub mod ordering;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use hash::powertools_hash;
pub use memory::MemoryIdempotencyStore;

use crate::envelope::Envelope;

/// Record status as stored. `EXPIRED` is never stored: it is computed on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A handler is running (or crashed) under this key.
    InProgress,
    /// The handler finished; `data` holds its response.
    Completed,
}

impl Status {
    /// The stored text (`INPROGRESS` / `COMPLETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "INPROGRESS",
            Status::Completed => "COMPLETED",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "INPROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            _ => None,
        }
    }
}

/// One idempotency record, as in the Powertools table layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `id`: `<prefix>#<md5>`.
    pub key: String,
    /// `status`.
    pub status: Status,
    /// `expiration`: epoch seconds; also the table's TTL attribute.
    pub expiration: i64,
    /// `in_progress_expiration`: epoch milliseconds when the owning invocation times out.
    pub in_progress_expiration: Option<i64>,
    /// `data`: the handler's response as JSON text.
    pub data: Option<String>,
    /// `validation`: hash of the payload part chosen for validation.
    pub validation: Option<String>,
}

impl Record {
    /// Expired records are as good as absent (TTL deletion lags, so this is checked here).
    pub fn is_expired(&self, now: Now) -> bool {
        self.expiration < now.secs
    }

    /// The ownership condition: a new `INPROGRESS` record may replace this one when it is
    /// expired, or in progress past its in-progress expiry (its owner timed out).
    pub fn can_be_replaced(&self, now: Now) -> bool {
        self.is_expired(now)
            || (self.status == Status::InProgress
                && self.in_progress_expiration.is_some_and(|t| t < now.millis))
    }
}

/// A moment, in the two units the table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Epoch seconds.
    pub secs: i64,
    /// Epoch milliseconds.
    pub millis: i64,
}

impl Now {
    /// The current time.
    pub fn current() -> Now {
        Now::from_millis(chrono::Utc::now().timestamp_millis())
    }

    /// From epoch milliseconds.
    pub fn from_millis(millis: i64) -> Now {
        Now {
            secs: millis.div_euclid(1000),
            millis,
        }
    }
}

/// Outcome of the ownership write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// This invocation owns the key and must run the handler.
    Acquired,
    /// Another record holds the key; it came back with the failed write.
    Exists(Record),
}

/// A failure of the idempotency table itself (DynamoDB outage, throttling, permissions).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store {operation} failed: {source}")]
pub struct StoreError {
    /// What was attempted (`put`, `complete`, `delete`, ...).
    pub operation: &'static str,
    /// The cause.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// `operation` failed because of `source` (an SDK error, say). The AWS SDK's errors
    /// print only "service error" themselves: the message keeps the whole chain (service
    /// code and message), which is what a reader of the log needs.
    pub fn new(
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut text = source.to_string();
        let mut next = source.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        StoreError {
            operation,
            source: Box::new(Chained(text, Box::new(source))),
        }
    }
}

/// An error shown by a message of its own (an SDK error's full context, which its
/// `Display` leaves out), its cause kept as the source. The AWS adapters box theirs in it too.
#[derive(Debug)]
pub(crate) struct Chained(
    pub(crate) String,
    pub(crate) Box<dyn std::error::Error + Send + Sync>,
);

impl std::fmt::Display for Chained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Chained {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.1.as_ref())
    }
}

/// Persistence for idempotency records.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Writes `record` (status `INPROGRESS`) if the key is absent, expired, or in progress
    /// past its in-progress expiry — in one conditional write.
    async fn put_in_progress(&self, record: &Record, now: Now) -> Result<PutOutcome, StoreError>;
    /// Marks the record `COMPLETED` with its response and new expiry.
    async fn complete(&self, record: &Record) -> Result<(), StoreError>;
    /// Deletes `held`, the `INPROGRESS` record this invocation wrote, because its handler
    /// failed, so a retry can run at once. If another invocation has taken the record over
    /// (this one outlived its in-progress expiry), the record is theirs and stays.
    async fn release(&self, held: &Record) -> Result<(), StoreError>;
    /// Opens a connection to the store (DNS, TCP, TLS, the SDK's client and credentials)
    /// without touching a record, so that cost falls in init, which Lambda runs on a full
    /// core, rather than in the first invocation, which runs at the memory size's share of
    /// one. [`crate::Router::run`] calls it; a store with nothing to open does nothing.
    async fn prewarm(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How many connections init opens to an idempotency store: one by default; a batch's
/// records run concurrently, each on a connection of its own, so an SQS consumer with
/// batches of 10 may ask for 10; 0 opens none. Read by [`crate::Router::run`].
pub const PREWARM: &str = "EVENTKIT_PREWARM";

/// [`PREWARM`] is set to something other than a number.
#[derive(Debug, thiserror::Error)]
#[error("{PREWARM}=`{0}` is not a number of connections (0 turns prewarming off)")]
pub struct InvalidPrewarm(pub String);

/// The connections [`PREWARM`]'s value (`setting`) asks for.
pub fn prewarm_connections(setting: Option<&str>) -> Result<usize, InvalidPrewarm> {
    setting.map_or(Ok(1), |v| {
        v.trim().parse().map_err(|_| InvalidPrewarm(v.to_owned()))
    })
}

/// Opens `connections` connections to `store` at once ([`IdempotencyStore::prewarm`]), in
/// init. A failure is logged, not returned: the first invocation then opens its own.
pub async fn prewarm(store: &(impl IdempotencyStore + ?Sized), connections: usize) {
    if connections == 0 {
        return;
    }
    let started = std::time::Instant::now();
    let opened = futures::future::join_all((0..connections).map(|_| store.prewarm())).await;
    match opened.into_iter().find_map(Result::err) {
        None => tracing::info!(
            connections,
            took_ms = started.elapsed().as_millis() as u64,
            "idempotency store prewarmed"
        ),
        Some(e) => {
            tracing::warn!(error = %e, "prewarming the idempotency store failed; the first invocation opens its connections")
        }
    }
}

/// What to do when the configured key is absent from the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKey {
    /// Fail with [`IdempotencyError::KeyMissing`].
    Error,
    /// Run the handler without idempotency (Powertools' default), with a warning.
    ProcessWithoutIdempotency,
}

/// Idempotency settings. Defaults follow Powertools, except that a missing key is an error.
#[derive(Debug, Clone)]
pub struct IdempotencyConfig {
    /// Prefix of every key: Powertools uses `<function name>.<handler name>`.
    pub key_prefix: String,
    /// JSON pointer (RFC 6901) to the key inside the event; the whole event when `None`.
    pub key_pointer: Option<String>,
    /// JSON pointer to the part hashed into `validation`; no payload check when `None`.
    pub payload_validation_pointer: Option<String>,
    /// How long a completed record answers duplicates.
    pub expires_after: Duration,
    /// Missing-key behaviour.
    pub missing_key: MissingKey,
    /// Completed records kept in memory across warm invocations; 0 turns the cache off.
    pub local_cache_size: usize,
}

impl IdempotencyConfig {
    /// Settings for a handler; the prefix is `$AWS_LAMBDA_FUNCTION_NAME.<handler>` like
    /// Powertools, so a function rewritten from Python keeps its keys.
    pub fn for_handler(handler: &str) -> Self {
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "test-func".to_owned());
        IdempotencyConfig {
            key_prefix: format!("{function}.{handler}"),
            key_pointer: None,
            payload_validation_pointer: None,
            expires_after: Duration::from_secs(3600),
            missing_key: MissingKey::Error,
            local_cache_size: 256,
        }
    }

    /// Takes the key from this JSON pointer (e.g. `/id`, `/detail/orderId`).
    pub fn key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key_pointer = Some(pointer.into());
        self
    }

    /// Refuses a reused key whose payload at this pointer differs.
    pub fn validate_payload(mut self, pointer: impl Into<String>) -> Self {
        self.payload_validation_pointer = Some(pointer.into());
        self
    }

    /// How long duplicates are answered from the table.
    pub fn expires_after(mut self, ttl: Duration) -> Self {
        self.expires_after = ttl;
        self
    }

    /// Missing-key behaviour.
    pub fn on_missing_key(mut self, behaviour: MissingKey) -> Self {
        self.missing_key = behaviour;
        self
    }

    /// In-memory cache size (0 = off).
    pub fn local_cache(mut self, size: usize) -> Self {
        self.local_cache_size = size;
        self
    }
}

/// Why an idempotent call did not return a response.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError<E> {
    /// The configured key is not in the event.
    #[error("idempotency key not found at JSON pointer `{pointer}`; add it to the event or configure MissingKey::ProcessWithoutIdempotency")]
    KeyMissing {
        /// The pointer that found nothing.
        pointer: String,
    },
    /// Another invocation is processing the same key right now; retry later.
    #[error("idempotency key `{key}` is being processed by another invocation; retry later")]
    AlreadyInProgress {
        /// The record id.
        key: String,
    },
    /// The key was reused with a different payload.
    #[error("idempotency key `{key}` was already used with a different payload; use a new key for a new request")]
    PayloadMismatch {
        /// The record id.
        key: String,
    },
    /// The stored response could not be (de)serialised.
    #[error("idempotency record `{key}` holds a response that does not fit the handler's type: {source}")]
    Response {
        /// The record id.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The table failed; nothing was decided, retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The handler failed; its record was deleted so a retry can run.
    #[error("handler failed: {0}")]
    Handler(#[source] E),
}

impl<E> IdempotencyError<E> {
    /// Whether the same event may succeed on a later delivery.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IdempotencyError::AlreadyInProgress { .. }
                | IdempotencyError::Store(_)
                | IdempotencyError::Handler(_)
        )
    }
}

/// A response, and whether it came from a previous run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<R> {
    /// The handler ran now.
    Executed(R),
    /// A duplicate: the stored response of the first run.
    Replayed(R),
}

impl<R> Outcome<R> {
    /// The response either way.
    pub fn into_inner(self) -> R {
        match self {
            Outcome::Executed(r) | Outcome::Replayed(r) => r,
        }
    }

    /// Whether this was a duplicate.
    pub fn is_replay(&self) -> bool {
        matches!(self, Outcome::Replayed(_))
    }
}

/// What a handler needs to commit its own `COMPLETED` record with its effect: the
/// `INPROGRESS` record this invocation holds (the transaction's ownership condition) and
/// the record to write. A handler that commits it calls [`Completion::committed`]; one that
/// does not (a store without transactions, a test double) leaves the layer to complete the
/// record as usual.
#[derive(Debug, Clone)]
pub struct Completion {
    held: Record,
    expires_after: Duration,
    committed: Arc<AtomicBool>,
}

impl Completion {
    /// The `INPROGRESS` record this invocation wrote; the write of the `COMPLETED` record must
    /// be conditioned on it (status and in-progress expiry unchanged), so an invocation that
    /// lost the record to a retry after timing out cannot commit its effect.
    pub fn held(&self) -> &Record {
        &self.held
    }

    /// The `COMPLETED` record for `response`, as [`IdempotencyStore::complete`] would write it.
    pub fn completed<R: Serialize>(&self, response: &R) -> Result<Record, serde_json::Error> {
        Ok(Record {
            status: Status::Completed,
            data: Some(serde_json::to_string(response)?),
            expiration: Now::current().secs + self.expires_after.as_secs() as i64,
            ..self.held.clone()
        })
    }

    /// Tells the layer that the handler's transaction wrote the `COMPLETED` record.
    pub fn committed(&self) {
        self.committed.store(true, Ordering::SeqCst);
    }

    fn is_committed(&self) -> bool {
        self.committed.load(Ordering::SeqCst)
    }
}

/// Runs handlers at most once per key (within the expiry window).
pub struct Idempotency<S> {
    store: S,
    config: IdempotencyConfig,
    cache: Mutex<LocalCache>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish()
    }
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// Idempotency over `store` with `config`.
    pub fn new(store: S, config: IdempotencyConfig) -> Self {
        let cache = Mutex::new(LocalCache::new(config.local_cache_size));
        Idempotency {
            store,
            config,
            cache,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The record id for `event`, or `None` when the key is missing and the configuration
    /// says to process without idempotency.
    pub fn key_for<E>(&self, event: &Value) -> Result<Option<String>, IdempotencyError<E>> {
        let key_data = match &self.config.key_pointer {
            Some(p) => event.pointer(p),
            None => Some(event),
        };
        match key_data {
            Some(v) if !is_missing(v) => Ok(Some(format!(
                "{}#{}",
                self.config.key_prefix,
                powertools_hash(v)
            ))),
            _ => match self.config.missing_key {
                MissingKey::Error => Err(IdempotencyError::KeyMissing {
                    pointer: self.config.key_pointer.clone().unwrap_or_default(),
                }),
                MissingKey::ProcessWithoutIdempotency => Ok(None),
            },
        }
    }

    fn validation_for(&self, event: &Value) -> Option<String> {
        let pointer = self.config.payload_validation_pointer.as_ref()?;
        Some(powertools_hash(
            event.pointer(pointer).unwrap_or(&Value::Null),
        ))
    }

    /// Runs `handler` at most once for the key found in `event`.
    ///
    /// `remaining` is the invocation's remaining time (from the Lambda context deadline):
    /// past it, a crashed invocation's `INPROGRESS` record no longer blocks retries.
    pub async fn run<R, E, F, Fut>(
        &self,
        event: &Value,
        remaining: Option<Duration>,
        handler: F,
    ) -> Result<Outcome<R>, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let Some(key) = self.key_for(event)? else {
            tracing::warn!("idempotency key missing; processing without idempotency");
            return handler()
                .await
                .map(Outcome::Executed)
                .map_err(IdempotencyError::Handler);
        };
        self.run_keyed(key, self.validation_for(event), remaining, |_| handler())
            .await
    }

    /// Runs `handler` at most once per envelope id (the kit's default key). With a
    /// validation pointer configured, it is applied to the envelope's JSON form.
    pub async fn run_envelope<T, R, E, F, Fut>(
        &self,
        envelope: &Envelope<T>,
        remaining: Option<Duration>,
        handler: F,
    ) -> Result<Outcome<R>, IdempotencyError<E>>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_envelope_completing(envelope, remaining, |_| handler())
            .await
    }

    /// [`Idempotency::run_envelope`] for a handler that may write its own `COMPLETED` record
    /// in the transaction of its effect (see [`Completion`]).
    pub async fn run_envelope_completing<T, R, E, F, Fut>(
        &self,
        envelope: &Envelope<T>,
        remaining: Option<Duration>,
        handler: F,
    ) -> Result<Outcome<R>, IdempotencyError<E>>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        F: FnOnce(Completion) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let key = format!(
            "{}#{}",
            self.config.key_prefix,
            powertools_hash(&Value::String(envelope.id.clone()))
        );
        let validation = match &self.config.payload_validation_pointer {
            Some(_) => {
                let value = serde_json::to_value(envelope).map_err(|source| {
                    IdempotencyError::Response {
                        key: key.clone(),
                        source,
                    }
                })?;
                self.validation_for(&value)
            }
            None => None,
        };
        self.run_keyed(key, validation, remaining, handler).await
    }

    async fn run_keyed<R, E, F, Fut>(
        &self,
        key: String,
        validation: Option<String>,
        remaining: Option<Duration>,
        handler: F,
    ) -> Result<Outcome<R>, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce(Completion) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let now = Now::current();
        if let Some(cached) = self.cached(&key, now) {
            return replay(cached, validation.as_deref());
        }
        let mut record = Record {
            key: key.clone(),
            status: Status::InProgress,
            expiration: now.secs + self.config.expires_after.as_secs() as i64,
            in_progress_expiration: remaining.map(|r| now.millis + r.as_millis() as i64),
            data: None,
            validation,
        };
        match self.store.put_in_progress(&record, now).await? {
            PutOutcome::Acquired => {}
            PutOutcome::Exists(existing) => {
                if existing.status == Status::Completed {
                    self.remember(&existing);
                }
                return replay(existing, record.validation.as_deref());
            }
        }
        let completion = Completion {
            held: record.clone(),
            expires_after: self.config.expires_after,
            committed: Arc::new(AtomicBool::new(false)),
        };
        match handler(completion.clone()).await {
            Ok(response) if completion.is_committed() => {
                // The handler's transaction wrote the COMPLETED record with its effect.
                let completed = completion.completed(&response).map_err(|source| {
                    IdempotencyError::Response {
                        key: key.clone(),
                        source,
                    }
                })?;
                self.remember(&completed);
                Ok(Outcome::Executed(response))
            }
            Ok(response) => {
                let data = serde_json::to_string(&response).map_err(|source| {
                    IdempotencyError::Response {
                        key: key.clone(),
                        source,
                    }
                })?;
                record.status = Status::Completed;
                record.data = Some(data);
                record.expiration =
                    Now::current().secs + self.config.expires_after.as_secs() as i64;
                // The effect happened: a failure to record it is reported, so the message is
                // retried and the INPROGRESS record (which will expire) answers it meanwhile.
                self.store.complete(&record).await?;
                self.remember(&record);
                Ok(Outcome::Executed(response))
            }
            // Committed, then failed: the record is COMPLETED and must stay.
            Err(e) if completion.is_committed() => Err(IdempotencyError::Handler(e)),
            Err(e) => {
                if let Err(delete) = self.store.release(completion.held()).await {
                    tracing::warn!(key, error = %delete, "could not delete INPROGRESS record after handler failure; retries wait for its in-progress expiry");
                }
                Err(IdempotencyError::Handler(e))
            }
        }
    }

    fn cached(&self, key: &str, now: Now) -> Option<Record> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(key, now)
    }

    fn remember(&self, record: &Record) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.put(record.clone());
    }
}

fn is_missing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().all(Value::is_null),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn replay<R: DeserializeOwned, E>(
    record: Record,
    validation: Option<&str>,
) -> Result<Outcome<R>, IdempotencyError<E>> {
    if let (Some(expected), Some(stored)) = (validation, record.validation.as_deref()) {
        if expected != stored {
            return Err(IdempotencyError::PayloadMismatch { key: record.key });
        }
    }
    match record.status {
        Status::InProgress => Err(IdempotencyError::AlreadyInProgress { key: record.key }),
        Status::Completed => {
            let data = record.data.as_deref().unwrap_or("null");
            serde_json::from_str(data)
                .map(Outcome::Replayed)
                .map_err(|source| IdempotencyError::Response {
                    key: record.key,
                    source,
                })
        }
    }
}

/// A small LRU of completed records.
struct LocalCache {
    capacity: usize,
    records: HashMap<String, Record>,
    order: VecDeque<String>,
}

impl LocalCache {
    fn new(capacity: usize) -> Self {
        LocalCache {
            capacity,
            records: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&mut self, key: &str, now: Now) -> Option<Record> {
        let record = self.records.get(key)?;
        if record.is_expired(now) {
            self.records.remove(key);
            return None;
        }
        Some(record.clone())
    }

    fn put(&mut self, record: Record) {
        if self.capacity == 0 {
            return;
        }
        if self
            .records
            .insert(record.key.clone(), record.clone())
            .is_none()
        {
            self.order.push_back(record.key);
        }
        while self.records.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.records.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn idem(config: IdempotencyConfig) -> Idempotency<Arc<MemoryIdempotencyStore>> {
        Idempotency::new(Arc::new(MemoryIdempotencyStore::default()), config)
    }

    fn config() -> IdempotencyConfig {
        IdempotencyConfig::for_handler("handler").local_cache(0)
    }

    #[tokio::test]
    async fn second_call_replays_the_stored_response() {
        let idem = idem(config().key_pointer("/id"));
        let runs = AtomicUsize::new(0);
        let event = json!({"id": "a", "n": 1});
        for expect_replay in [false, true, true] {
            let out = idem
                .run(&event, None, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(json!({"total": 42}))
                })
                .await
                .unwrap();
            assert_eq!(out.is_replay(), expect_replay);
            assert_eq!(out.into_inner(), json!({"total": 42}));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn key_matches_powertools_format() {
        let idem = idem(config().key_pointer("/id"));
        let key = idem
            .key_for::<()>(&json!({"id": "order-1"}))
            .unwrap()
            .unwrap();
        assert_eq!(key, "test-func.handler#729040816f7330c4cb31f54a56f59a7b");
    }

    #[tokio::test]
    async fn handler_error_deletes_the_record_so_a_retry_runs() {
        let idem = idem(config().key_pointer("/id"));
        let event = json!({"id": "a"});
        let err = idem
            .run(&event, None, || async { Err::<Value, _>("boom") })
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::Handler("boom")));
        assert!(err.is_retryable());
        assert_eq!(idem.store().len(), 0);
        let out = idem
            .run(&event, None, || async { Ok::<_, &str>(1) })
            .await
            .unwrap();
        assert_eq!(out, Outcome::Executed(1));
    }

    #[tokio::test]
    async fn a_committed_completion_is_not_written_again_and_replays() {
        let idem = idem(config());
        let event = Envelope::new("t", "x", json!({}));
        let store = idem.store().clone();
        let calls = store.calls();
        let outcome = idem
            .run_envelope_completing(&event, None, |completion: Completion| async move {
                let record = completion.completed(&json!({"n": 1})).unwrap();
                assert_eq!(record.status, Status::Completed);
                // What the handler's transaction would have written.
                store.force(record);
                completion.committed();
                Ok::<_, ()>(json!({"n": 1}))
            })
            .await
            .unwrap();
        assert!(!outcome.is_replay());
        assert_eq!(idem.store().calls() - calls, 1, "put only: no complete");
        let again = idem
            .run_envelope(&event, None, || async { Ok::<_, ()>(json!({"n": 2})) })
            .await
            .unwrap();
        assert_eq!(again, Outcome::Replayed(json!({"n": 1})));
    }

    #[tokio::test]
    async fn a_failed_handler_releases_only_a_record_it_still_holds() {
        let idem = idem(config());
        let event = Envelope::new("t", "x", json!({}));
        let key = Mutex::new(String::new());
        let err = idem
            .run_envelope_completing(&event, Some(Duration::from_secs(1)), |completion| {
                let store = idem.store();
                completion.held().key.clone_into(&mut key.lock().unwrap());
                async move {
                    // Taken over meanwhile by an invocation with a later deadline.
                    store.force(Record {
                        in_progress_expiration: completion
                            .held()
                            .in_progress_expiration
                            .map(|t| t + 5),
                        ..completion.held().clone()
                    });
                    Err::<Value, _>("failed")
                }
            })
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::Handler("failed")));
        let record = idem.store().get(&key.lock().unwrap());
        assert!(
            record.is_some_and(|r| r.status == Status::InProgress),
            "the other invocation's record stays"
        );
    }

    #[tokio::test]
    async fn in_progress_record_blocks_until_its_in_progress_expiry() {
        let idem = idem(config().key_pointer("/id"));
        let key = idem.key_for::<()>(&json!({"id": "a"})).unwrap().unwrap();
        let now = Now::current();
        let crashed = Record {
            key: key.clone(),
            status: Status::InProgress,
            expiration: now.secs + 3600,
            in_progress_expiration: Some(now.millis + 60_000),
            data: None,
            validation: None,
        };
        idem.store().put_in_progress(&crashed, now).await.unwrap();
        let err = idem
            .run(&json!({"id": "a"}), None, || async { Ok::<_, ()>(1) })
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::AlreadyInProgress { .. }));
        assert!(err.is_retryable());
        // The owner timed out a while ago: its record no longer blocks.
        idem.store().force(Record {
            in_progress_expiration: Some(now.millis - 1),
            ..crashed
        });
        let out = idem
            .run(&json!({"id": "a"}), None, || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!(out, Outcome::Executed(2));
    }

    #[tokio::test]
    async fn expired_completed_record_runs_again() {
        let idem = idem(config().key_pointer("/id"));
        let key = idem.key_for::<()>(&json!({"id": "a"})).unwrap().unwrap();
        let now = Now::current();
        idem.store().force(Record {
            key,
            status: Status::Completed,
            expiration: now.secs - 1,
            in_progress_expiration: None,
            data: Some("1".into()),
            validation: None,
        });
        let out = idem
            .run(&json!({"id": "a"}), None, || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!(out, Outcome::Executed(2));
    }

    #[tokio::test]
    async fn reused_key_with_other_payload_is_refused() {
        let idem = idem(config().key_pointer("/id").validate_payload("/amount"));
        idem.run(&json!({"id": "a", "amount": 1}), None, || async {
            Ok::<_, ()>(1)
        })
        .await
        .unwrap();
        let err = idem
            .run(&json!({"id": "a", "amount": 2}), None, || async {
                Ok::<_, ()>(2)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::PayloadMismatch { .. }));
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn missing_key_is_an_error_or_skips_idempotency_as_configured() {
        let idem_err = idem(config().key_pointer("/id"));
        let err = idem_err
            .run(&json!({"other": 1}), None, || async { Ok::<_, String>(1) })
            .await
            .unwrap_err();
        assert!(matches!(&err, IdempotencyError::KeyMissing { pointer } if pointer == "/id"));
        assert!(err.to_string().contains("/id"));

        let idem_skip = idem(
            config()
                .key_pointer("/id")
                .on_missing_key(MissingKey::ProcessWithoutIdempotency),
        );
        for _ in 0..2 {
            let out = idem_skip
                .run(&json!({}), None, || async { Ok::<_, ()>(1) })
                .await
                .unwrap();
            assert_eq!(out, Outcome::Executed(1));
        }
        assert_eq!(idem_skip.store().len(), 0);
    }

    #[tokio::test]
    async fn local_cache_answers_without_the_store() {
        let idem = idem(config().key_pointer("/id").local_cache(8));
        let event = json!({"id": "a"});
        idem.run(&event, None, || async { Ok::<_, ()>(1) })
            .await
            .unwrap();
        let calls = idem.store().put_calls();
        let out = idem
            .run(&event, None, || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!(out, Outcome::Replayed(1));
        assert_eq!(
            idem.store().put_calls(),
            calls,
            "a cached duplicate costs no store call"
        );
    }

    #[tokio::test]
    async fn envelope_id_is_the_default_key() {
        let idem = idem(config());
        let e1 = Envelope::new("s", "t", json!({"n": 1}));
        let mut e2 = e1.clone();
        e2.time = Some(chrono::Utc::now());
        let a = idem
            .run_envelope(&e1, None, || async { Ok::<_, ()>(1) })
            .await
            .unwrap();
        let b = idem
            .run_envelope(&e2, None, || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!((a, b), (Outcome::Executed(1), Outcome::Replayed(1)));
        let e3 = Envelope::new("s", "t", json!({"n": 1}));
        let c = idem
            .run_envelope(&e3, None, || async { Ok::<_, ()>(3) })
            .await
            .unwrap();
        assert_eq!(c, Outcome::Executed(3));
    }

    #[test]
    fn cache_evicts_the_oldest() {
        let mut cache = LocalCache::new(2);
        let now = Now::current();
        for k in ["a", "b", "c"] {
            cache.put(Record {
                key: k.into(),
                status: Status::Completed,
                expiration: now.secs + 10,
                in_progress_expiration: None,
                data: None,
                validation: None,
            });
        }
        assert!(cache.get("a", now).is_none());
        assert!(cache.get("c", now).is_some());
    }
}
