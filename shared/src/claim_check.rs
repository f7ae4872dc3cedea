//! Claim check: a payload too large for its transport goes to S3, the message carries a
//! reference, and consumers redeem it transparently.
//!
//! Two wire formats, one per kind of message:
//!
//! * **SQS** — byte-compatible with the Amazon SQS Extended Client Library (Java 2.x and
//!   Python). The body becomes the pointer
//!   `["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"B","s3Key":"K"}]`
//!   and the message gets the `Number` attribute `ExtendedPayloadSize` holding the original
//!   body's size in bytes. The S3 object is the original body, byte for byte. Readers also
//!   accept the legacy class tag `com.amazon.sqs.javamessaging.MessageS3Pointer` and the
//!   legacy attribute `SQSLargePayloadSize`, as both libraries do.
//! * **Envelopes on other transports** (EventBridge, Lambda async, SNS, Step Functions) —
//!   the envelope's `data` moves to S3 as JSON and the CloudEvents `dataref` extension
//!   attribute holds `s3://bucket/key`; every routing attribute stays on the message.
//!
//! ```
//! use std::sync::Arc;
//! use eventkit::claim_check::{ClaimCheck, MemoryPayloadStore, Offload};
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! # tokio_test(async {
//! // S3PayloadStore (crate::aws::s3) in a function; memory here.
//! let store = Arc::new(MemoryPayloadStore::default());
//! let claim_check = ClaimCheck::new(store.clone(), "claim-checks", Offload::Above(256 * 1024));
//! let big = Envelope::new("docs", "document.received", json!({"text": "x".repeat(300_000)}));
//!
//! let sent = claim_check.check_in(big.clone(), 0).await.unwrap();
//! assert!(sent.data.is_none() && sent.dataref.as_deref().unwrap().starts_with("s3://claim-checks/"));
//! assert_eq!(store.len(), 1);
//!
//! let mut received = sent;
//! claim_check.redeem(&mut received).await.unwrap();
//! assert_eq!(received.data, big.data);
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::Value;

use crate::envelope::Envelope;

/// Class tag the current Extended Client libraries write and read.
pub const POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// Class tag of Extended Client Java 1.x; still read.
pub const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";
/// Message attribute the current libraries write: original body size in bytes.
pub const SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";
/// Message attribute of the legacy libraries; still read.
pub const LEGACY_SIZE_ATTRIBUTE: &str = "SQSLargePayloadSize";
/// The Extended Client libraries' default threshold (body plus message attributes).
pub const EXTENDED_CLIENT_DEFAULT_THRESHOLD: usize = 262_144;

/// A transport, for its message size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SQS: 1 MiB per message since January 2026 (body plus attributes).
    Sqs,
    /// EventBridge PutEvents: 1 MiB per entry since January 2026.
    EventBridge,
    /// Asynchronous Lambda invocation: 1 MiB since January 2026.
    LambdaAsync,
    /// SNS: 256 KiB.
    Sns,
    /// Step Functions execution input and state: 256 KiB.
    StepFunctions,
}

impl Transport {
    /// The largest message the transport accepts, in bytes.
    pub const fn limit(self) -> usize {
        match self {
            Transport::Sqs | Transport::EventBridge | Transport::LambdaAsync => 1_048_576,
            Transport::Sns | Transport::StepFunctions => 262_144,
        }
    }

    /// Default offload threshold: the limit less 8 KiB of headroom for what the caller adds
    /// after sizing (message attributes, a rule's envelope around `detail`).
    pub const fn default_threshold(self) -> usize {
        self.limit() - 8 * 1024
    }
}

/// When a payload goes to S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offload {
    /// Every payload, whatever its size.
    Always,
    /// Payloads whose message would be larger than this many bytes.
    Above(usize),
}

impl Offload {
    fn wants(self, size: usize) -> bool {
        match self {
            Offload::Always => true,
            Offload::Above(limit) => size > limit,
        }
    }
}

/// A claim-check location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Ref {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

impl S3Ref {
    /// Parses `s3://bucket/key`.
    pub fn parse(uri: &str) -> Option<S3Ref> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/')?;
        (!bucket.is_empty() && !key.is_empty()).then(|| S3Ref {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// `s3://bucket/key`.
    pub fn to_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The Extended Client pointer body for this location (current class tag).
    pub fn to_sqs_pointer(&self) -> String {
        serde_json::json!([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])
            .to_string()
    }

    /// Reads an Extended Client pointer body, current or legacy.
    pub fn from_sqs_pointer(body: &str) -> Result<S3Ref, ClaimCheckError> {
        // Until it has a pointer's class, the body may be a payload: its size is told, never
        // its text, which would land in the logs and the DLQ's failure reason.
        let unlike = |why: &str| {
            ClaimCheckError::MalformedPointer(format!(
                "{why}; the body, {} bytes, is not shown",
                body.len()
            ))
        };
        let value: Value = serde_json::from_str(body).map_err(|_| unlike("not JSON"))?;
        let [class, fields] = value.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(unlike("not a two-element array"));
        };
        match class.as_str() {
            Some(POINTER_CLASS | LEGACY_POINTER_CLASS) => {}
            _ => return Err(unlike("unknown pointer class")),
        }
        let field = |name: &str| {
            fields
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ClaimCheckError::MalformedPointer(format!(
                        "missing `{name}`: {}",
                        preview(body)
                    ))
                })
        };
        Ok(S3Ref {
            bucket: field("s3BucketName")?,
            key: field("s3Key")?,
        })
    }
}

fn preview(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Why a payload could not be checked in or redeemed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimCheckError {
    /// The referenced object does not exist (expired, deleted, or never written).
    #[error("claim-check object s3://{bucket}/{key} not found; the message cannot be redeemed and must go to its DLQ")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The bucket does not exist or is not the one configured.
    #[error("claim-check bucket `{0}` does not exist; check the bucket name in the function's configuration")]
    NoSuchBucket(String),
    /// A body that claims to be a pointer is not one.
    #[error("malformed claim-check pointer ({0})")]
    MalformedPointer(String),
    /// The redeemed object is not the JSON the envelope needs.
    #[error("claim-check object s3://{bucket}/{key} is not valid JSON: {source}")]
    NotJson {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The pointer names an object outside this claim check's bucket or key prefix.
    /// Refused before any read: a consumer redeems only the store it was given, wherever
    /// a producer points.
    #[error("claim-check pointer s3://{bucket}/{key} is outside this function's store s3://{expected_bucket}/{expected_prefix}; refused without reading it: the producer must write to the consumer's bucket (CLAIM_CHECK_BUCKET, CLAIM_CHECK_PREFIX)")]
    Foreign {
        /// Bucket the pointer names.
        bucket: String,
        /// Key the pointer names.
        key: String,
        /// This claim check's bucket.
        expected_bucket: String,
        /// This claim check's key prefix (empty: the whole bucket).
        expected_prefix: String,
    },
    /// S3 failed for another reason (throttling, outage, permissions); retryable.
    #[error("claim-check store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ClaimCheckError {
    /// Whether retrying the same message may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClaimCheckError::Store(_))
    }
}

/// Where claim-checked payloads live (S3 in production, memory in unit tests).
#[async_trait]
pub trait PayloadStore: Send + Sync {
    /// Stores `bytes` at `location`.
    async fn put(&self, location: &S3Ref, bytes: Vec<u8>) -> Result<(), ClaimCheckError>;
    /// Reads the object at `location`.
    async fn get(&self, location: &S3Ref) -> Result<Vec<u8>, ClaimCheckError>;
    /// Deletes the object at `location`; deleting a missing object succeeds.
    async fn delete(&self, location: &S3Ref) -> Result<(), ClaimCheckError>;
}

/// An SQS message ready to send: body and, when offloaded, the size attribute to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsOutgoing {
    /// The body to send (the pointer when offloaded).
    pub body: String,
    /// `(SIZE_ATTRIBUTE, original size)` when offloaded: send as a `Number` attribute.
    pub size_attribute: Option<(&'static str, usize)>,
    /// Where the body went, when offloaded.
    pub pointer: Option<S3Ref>,
}

/// An SQS body after redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsRedeemed {
    /// The original body.
    pub body: String,
    /// Where it came from, when it was claim-checked (for [`ClaimCheck::release`]).
    pub pointer: Option<S3Ref>,
}

/// Bytes the Extended Client counts for one message attribute: name, data type and value.
pub fn sqs_attribute_size(name: &str, data_type: &str, value: &[u8]) -> usize {
    name.len() + data_type.len() + value.len()
}

/// Checks payloads in and redeems them.
#[derive(Clone)]
pub struct ClaimCheck {
    store: Arc<dyn PayloadStore>,
    bucket: String,
    key_prefix: String,
    offload: Offload,
    delete_after_processing: bool,
}

impl std::fmt::Debug for ClaimCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimCheck")
            .field("bucket", &self.bucket)
            .field("offload", &self.offload)
            .finish_non_exhaustive()
    }
}

impl ClaimCheck {
    /// A claim check writing to `bucket`, offloading above `offload`.
    pub fn new(store: Arc<dyn PayloadStore>, bucket: impl Into<String>, offload: Offload) -> Self {
        ClaimCheck {
            store,
            bucket: bucket.into(),
            key_prefix: String::new(),
            offload,
            delete_after_processing: false,
        }
    }

    /// Prefix for new object keys (e.g. `claims/`); pointers to keys outside it are
    /// refused on redemption ([`ClaimCheckError::Foreign`]).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Delete the object once the consumer succeeded ([`ClaimCheck::release`]). Off by
    /// default: with several consumers of one payload, none may delete it.
    pub fn delete_after_processing(mut self, yes: bool) -> Self {
        self.delete_after_processing = yes;
        self
    }

    /// The location, if it is in this claim check's bucket and under its prefix.
    fn owned<'a>(&self, location: &'a S3Ref) -> Result<&'a S3Ref, ClaimCheckError> {
        if location.bucket == self.bucket && location.key.starts_with(&self.key_prefix) {
            return Ok(location);
        }
        Err(ClaimCheckError::Foreign {
            bucket: preview(&location.bucket),
            key: preview(&location.key),
            expected_bucket: self.bucket.clone(),
            expected_prefix: self.key_prefix.clone(),
        })
    }

    fn new_location(&self) -> S3Ref {
        S3Ref {
            bucket: self.bucket.clone(),
            key: format!("{}{}", self.key_prefix, uuid::Uuid::new_v4()),
        }
    }

    /// Prepares an SQS body; `attributes_size` is what the message attributes add
    /// (see [`sqs_attribute_size`]), counted as the Extended Client counts it.
    pub async fn prepare_sqs(
        &self,
        body: String,
        attributes_size: usize,
    ) -> Result<SqsOutgoing, ClaimCheckError> {
        let size = body.len();
        if !self.offload.wants(size + attributes_size) {
            return Ok(SqsOutgoing {
                body,
                size_attribute: None,
                pointer: None,
            });
        }
        let location = self.new_location();
        self.store.put(&location, body.into_bytes()).await?;
        crate::emf::claim_check_offloaded(size);
        Ok(SqsOutgoing {
            body: location.to_sqs_pointer(),
            size_attribute: Some((SIZE_ATTRIBUTE, size)),
            pointer: Some(location),
        })
    }

    /// Returns the original body of an SQS record, fetching it from S3 when the record
    /// carries an Extended Client size attribute (current or legacy).
    pub async fn redeem_sqs(&self, record: &SqsMessage) -> Result<SqsRedeemed, ClaimCheckError> {
        let offloaded = record.message_attributes.contains_key(SIZE_ATTRIBUTE)
            || record
                .message_attributes
                .contains_key(LEGACY_SIZE_ATTRIBUTE);
        self.redeem_body(record.body.clone().unwrap_or_default(), offloaded)
            .await
    }

    /// [`ClaimCheck::redeem_sqs`] on a message's body, `offloaded` when its attributes say
    /// the Extended Client sent it.
    pub(crate) async fn redeem_body(
        &self,
        body: String,
        offloaded: bool,
    ) -> Result<SqsRedeemed, ClaimCheckError> {
        if !offloaded {
            return Ok(SqsRedeemed {
                body,
                pointer: None,
            });
        }
        let location = S3Ref::from_sqs_pointer(&body)?;
        let bytes = self.store.get(self.owned(&location)?).await?;
        crate::emf::claim_check_redeemed(bytes.len());
        let body = String::from_utf8(bytes).map_err(|_| {
            ClaimCheckError::MalformedPointer(format!(
                "{} does not hold UTF-8 text",
                location.to_uri()
            ))
        })?;
        Ok(SqsRedeemed {
            body,
            pointer: Some(location),
        })
    }

    /// Moves the envelope's `data` to S3 when the envelope, as sent on `transport`, would
    /// exceed the offload threshold.
    pub async fn check_in(
        &self,
        mut envelope: Envelope,
        transport_overhead: usize,
    ) -> Result<Envelope, ClaimCheckError> {
        let Some(data) = envelope.data.take() else {
            return Ok(envelope);
        };
        let payload = data.to_string();
        let size = transport_overhead + envelope.to_json().len() + payload.len() + 8;
        if !self.offload.wants(size) {
            envelope.data = Some(data);
            return Ok(envelope);
        }
        let location = self.new_location();
        let bytes = payload.len();
        self.store.put(&location, payload.into_bytes()).await?;
        crate::emf::claim_check_offloaded(bytes);
        envelope.dataref = Some(location.to_uri());
        Ok(envelope)
    }

    /// Brings a claim-checked payload back into `data`; an inline envelope passes through.
    /// Returns the location redeemed, for [`ClaimCheck::release`].
    pub async fn redeem(&self, envelope: &mut Envelope) -> Result<Option<S3Ref>, ClaimCheckError> {
        let Some(uri) = envelope.dataref.take() else {
            return Ok(None);
        };
        let location = S3Ref::parse(&uri).ok_or_else(|| {
            ClaimCheckError::MalformedPointer(format!("dataref `{}`", preview(&uri)))
        })?;
        let bytes = self.store.get(self.owned(&location)?).await?;
        crate::emf::claim_check_redeemed(bytes.len());
        let data = serde_json::from_slice(&bytes).map_err(|source| ClaimCheckError::NotJson {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            source,
        })?;
        envelope.data = Some(data);
        Ok(Some(location))
    }

    /// Deletes a redeemed object if this claim check was configured to.
    pub async fn release(&self, location: &S3Ref) -> Result<(), ClaimCheckError> {
        if self.delete_after_processing {
            self.store.delete(location).await?;
        }
        Ok(())
    }
}

/// An in-memory [`PayloadStore`] for unit tests and examples.
#[derive(Debug, Default)]
pub struct MemoryPayloadStore {
    objects: std::sync::Mutex<std::collections::HashMap<(String, String), Vec<u8>>>,
}

impl MemoryPayloadStore {
    /// How many objects are stored.
    pub fn len(&self) -> usize {
        self.objects.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl PayloadStore for MemoryPayloadStore {
    async fn put(&self, location: &S3Ref, bytes: Vec<u8>) -> Result<(), ClaimCheckError> {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.insert((location.bucket.clone(), location.key.clone()), bytes);
        Ok(())
    }

    async fn get(&self, location: &S3Ref) -> Result<Vec<u8>, ClaimCheckError> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects
            .get(&(location.bucket.clone(), location.key.clone()))
            .cloned()
            .ok_or_else(|| ClaimCheckError::NotFound {
                bucket: location.bucket.clone(),
                key: location.key.clone(),
            })
    }

    async fn delete(&self, location: &S3Ref) -> Result<(), ClaimCheckError> {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.remove(&(location.bucket.clone(), location.key.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessageAttribute;
    use serde_json::json;

    fn check(offload: Offload) -> (Arc<MemoryPayloadStore>, ClaimCheck) {
        let store = Arc::new(MemoryPayloadStore::default());
        (store.clone(), ClaimCheck::new(store, "claims", offload))
    }

    #[test]
    fn pointer_matches_the_extended_client_wire_format() {
        let r = S3Ref {
            bucket: "b".into(),
            key: "k-1".into(),
        };
        assert_eq!(
            r.to_sqs_pointer(),
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k-1"}]"#
        );
        // Python's json.dumps puts spaces after separators; the legacy Java tag differs.
        let python = r#"["com.amazon.sqs.javamessaging.MessageS3Pointer", {"s3BucketName": "b", "s3Key": "k-1"}]"#;
        assert_eq!(S3Ref::from_sqs_pointer(python).unwrap(), r);
    }

    #[test]
    fn bad_pointers_are_typed_errors() {
        for body in [
            "x",
            "[1]",
            r#"["other.Class",{"s3BucketName":"b","s3Key":"k"}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3Key":"k"}]"#,
        ] {
            assert!(
                matches!(
                    S3Ref::from_sqs_pointer(body),
                    Err(ClaimCheckError::MalformedPointer(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn s3_uri_round_trips() {
        let r = S3Ref::parse("s3://bucket/a/b/c").unwrap();
        assert_eq!(r.key, "a/b/c");
        assert_eq!(r.to_uri(), "s3://bucket/a/b/c");
        assert!(S3Ref::parse("s3://bucket").is_none());
        assert!(S3Ref::parse("https://x/y").is_none());
    }

    #[tokio::test]
    async fn sqs_body_below_threshold_stays_inline_and_above_goes_to_s3() {
        let (store, cc) = check(Offload::Above(100));
        let small = cc.prepare_sqs("a".repeat(100), 0).await.unwrap();
        assert_eq!(small.size_attribute, None);
        assert!(store.is_empty());
        // Attributes count towards the threshold, as in the Extended Client.
        let big = cc.prepare_sqs("a".repeat(90), 11).await.unwrap();
        assert_eq!(big.size_attribute, Some((SIZE_ATTRIBUTE, 90)));
        assert_eq!(store.len(), 1);

        let mut record = SqsMessage::default();
        record.body = Some(big.body.clone());
        let mut attr = SqsMessageAttribute::default();
        attr.string_value = Some("90".into());
        attr.data_type = Some("Number".into());
        record
            .message_attributes
            .insert(LEGACY_SIZE_ATTRIBUTE.into(), attr);
        let redeemed = cc.redeem_sqs(&record).await.unwrap();
        assert_eq!(redeemed.body, "a".repeat(90));
        assert_eq!(redeemed.pointer, big.pointer);
    }

    #[tokio::test]
    async fn a_pointer_outside_the_bucket_or_prefix_is_refused_unread() {
        let store = Arc::new(MemoryPayloadStore::default());
        let cc = ClaimCheck::new(store.clone(), "claims", Offload::Always).with_key_prefix("p/");
        // The objects exist, and the store would serve them: the refusal is not a miss.
        for (bucket, key) in [("secrets", "p/k"), ("claims", "other/k")] {
            let location = S3Ref {
                bucket: bucket.into(),
                key: key.into(),
            };
            store.put(&location, b"{}".to_vec()).await.unwrap();
            let mut envelope = Envelope::new("s", "t", json!(null));
            envelope.data = None;
            envelope.dataref = Some(location.to_uri());
            let err = cc.redeem(&mut envelope).await.unwrap_err();
            assert!(
                matches!(&err, ClaimCheckError::Foreign { bucket: b, key: k, .. } if b == bucket && k == key),
                "{err}"
            );
            assert!(!err.is_retryable());
            assert!(
                err.to_string()
                    .contains("outside this function's store s3://claims/p/"),
                "{err}"
            );

            let mut record = SqsMessage::default();
            record.body = Some(location.to_sqs_pointer());
            record
                .message_attributes
                .insert(SIZE_ATTRIBUTE.into(), SqsMessageAttribute::default());
            let err = cc.redeem_sqs(&record).await.unwrap_err();
            assert!(matches!(err, ClaimCheckError::Foreign { .. }), "{err}");
        }
        // Its own keys still redeem.
        let mut sent = cc
            .check_in(Envelope::new("s", "t", json!({"n": 1})), 0)
            .await
            .unwrap();
        assert!(sent
            .dataref
            .as_deref()
            .unwrap()
            .starts_with("s3://claims/p/"));
        cc.redeem(&mut sent).await.unwrap();
        assert_eq!(sent.data, Some(json!({"n": 1})));
    }

    #[tokio::test]
    async fn missing_object_is_not_found() {
        let (_, cc) = check(Offload::Always);
        let mut record = SqsMessage::default();
        record.body = Some(
            S3Ref {
                bucket: "claims".into(),
                key: "gone".into(),
            }
            .to_sqs_pointer(),
        );
        record
            .message_attributes
            .insert(SIZE_ATTRIBUTE.into(), SqsMessageAttribute::default());
        let err = cc.redeem_sqs(&record).await.unwrap_err();
        assert!(matches!(err, ClaimCheckError::NotFound { .. }));
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn envelope_data_round_trips_through_the_store() {
        let (store, cc) = check(Offload::Above(600));
        let small = Envelope::new("s", "t", json!({"n": 1}));
        assert!(cc
            .check_in(small.clone(), 0)
            .await
            .unwrap()
            .dataref
            .is_none());
        let big = Envelope::new("s", "t", json!({"blob": "x".repeat(1000)}));
        let mut sent = cc.check_in(big.clone(), 0).await.unwrap();
        assert!(sent.data.is_none());
        assert!(sent.dataref.as_deref().unwrap().starts_with("s3://claims/"));
        sent.validate().unwrap();
        let location = cc.redeem(&mut sent).await.unwrap().unwrap();
        assert_eq!(sent, big);
        cc.release(&location).await.unwrap();
        assert_eq!(store.len(), 1, "deletion is off by default");
        cc.clone()
            .delete_after_processing(true)
            .release(&location)
            .await
            .unwrap();
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn transport_defaults_fit_their_limits() {
        assert_eq!(Transport::Sqs.limit(), 1_048_576);
        assert_eq!(Transport::StepFunctions.limit(), 262_144);
        for t in [
            Transport::Sqs,
            Transport::EventBridge,
            Transport::LambdaAsync,
            Transport::Sns,
            Transport::StepFunctions,
        ] {
            assert!(t.default_threshold() < t.limit());
        }
    }
}
