//! Reading envelopes from DynamoDB stream records, with nothing skipped unless declared.
//!
//! A stream consumer ([`crate::Router`] on a stream, or [`crate::outbox::Relay`]) reads each
//! record with a [`StreamReader`]: the records its configuration declares skipped (updates,
//! removals, TTL expiries, items of another kind in a shared table) are logged at debug
//! and counted (`RecordsSkipped`, per `Skip` label); every other record is read by the
//! extractor, and one it cannot read fails the batch at that record with a
//! [`StreamRecordError`] naming the attribute and what was found. Nothing is acknowledged
//! unread.
//!
//! ```
//! use eventkit::stream::{StreamReader, Read};
//! use aws_lambda_events::event::dynamodb::EventRecord;
//! use serde_json::json;
//!
//! let reader = StreamReader::outbox(); // INSERTs read; MODIFY and REMOVE declared skipped
//! let record = |name: &str, image: serde_json::Value| -> EventRecord {
//!     serde_json::from_value(json!({"eventID": "1", "eventName": name, "awsRegion": "us-east-1",
//!         "eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": "100", "SizeBytes": 1,
//!         "NewImage": image}})).unwrap()
//! };
//! assert!(matches!(reader.read(&record("MODIFY", json!({}))), Read::Skipped("MODIFY")));
//! // An INSERT whose `envelope` is binary is not skipped: it fails, naming what it found.
//! let binary = record("INSERT", json!({"pk": {"S": "o-1"}, "envelope": {"B": "e30="}}));
//! let Read::Envelope(Err(e)) = reader.read(&binary) else { panic!() };
//! assert!(e.to_string().contains("`envelope` is a binary (B)"), "{e}");
//! ```

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::EventRecord;
use serde_json::Value;

use crate::envelope::Envelope;
use crate::router::RouteError;

/// Reads the envelope out of a stream record the reader did not skip.
pub type StreamExtractor = Arc<dyn Fn(&EventRecord) -> Result<Envelope, RouteError> + Send + Sync>;

/// Why a stream record could not be read. Each names the record by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamRecordError {
    /// A kind of change the extractor does not read, and the configuration does not skip.
    #[error("stream record {sequence}: a `{event_name}` record, which this function does not read and its configuration does not skip; declare it skipped (StreamReader::skip_modify / skip_remove / skip_items) or stop the writer making it")]
    Undeclared {
        /// `INSERT`, `MODIFY` or `REMOVE`.
        event_name: String,
        /// The record's sequence number.
        sequence: String,
    },
    /// The record carries no new image.
    #[error("stream record {sequence}: `{event_name}` with no new image; the table's StreamViewType must be NEW_IMAGE or NEW_AND_OLD_IMAGES")]
    NoNewImage {
        /// `INSERT`, `MODIFY` or `REMOVE`.
        event_name: String,
        /// The record's sequence number.
        sequence: String,
    },
    /// The new image lacks the attribute the envelope is read from.
    #[error("stream record {sequence}: the new image has no attribute `{attribute}` (it has {found}); the writer must put the envelope there, or declare items without it skipped (StreamReader::skip_items)")]
    MissingAttribute {
        /// The attribute looked for.
        attribute: String,
        /// The attributes the image has.
        found: String,
        /// The record's sequence number.
        sequence: String,
    },
    /// The attribute is there, of another type.
    #[error("stream record {sequence}: attribute `{attribute}` is {found}, expected {expected}")]
    AttributeType {
        /// The attribute.
        attribute: String,
        /// The DynamoDB type expected, spelt out (`a string (S)`).
        expected: &'static str,
        /// The type found, spelt out.
        found: String,
        /// The record's sequence number.
        sequence: String,
    },
}

/// What a reader made of a record.
// Returned per record and matched at once: boxing the envelope would allocate per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Read {
    /// Skipped on purpose, by the declared rule with this label.
    Skipped(&'static str),
    /// Read (or failed to be read) by the extractor.
    Envelope(Result<Envelope, RouteError>),
}

type Rule = Arc<dyn Fn(&EventRecord) -> bool + Send + Sync>;

/// An extractor and the records declared skipped before it runs.
#[derive(Clone)]
pub struct StreamReader {
    extract: StreamExtractor,
    skips: Vec<(&'static str, Rule)>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let skips: Vec<&str> = self.skips.iter().map(|(label, _)| *label).collect();
        f.debug_struct("StreamReader")
            .field("skips", &skips)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// Every record goes to `extract`: none is skipped until declared.
    pub fn new(
        extract: impl Fn(&EventRecord) -> Result<Envelope, RouteError> + Send + Sync + 'static,
    ) -> Self {
        StreamReader {
            extract: Arc::new(extract),
            skips: Vec::new(),
        }
    }

    /// The outbox table's reader: each `INSERT` carries an envelope ([`outbox_envelope`]);
    /// outbox items are written once and expire by TTL, so `MODIFY` and `REMOVE` carry
    /// nothing to publish and are skipped.
    pub fn outbox() -> Self {
        StreamReader::new(outbox_envelope)
            .skip_modify()
            .skip_remove()
    }

    /// Skips `MODIFY` records (label `MODIFY`).
    pub fn skip_modify(self) -> Self {
        self.skip_items("MODIFY", |r| r.event_name == "MODIFY")
    }

    /// Skips every `REMOVE` record, by TTL or not (label `REMOVE`).
    pub fn skip_remove(self) -> Self {
        self.skip_items("REMOVE", |r| r.event_name == "REMOVE")
    }

    /// Skips the `REMOVE` records DynamoDB's TTL made (label `TTL`); another deletion is
    /// still read.
    pub fn skip_ttl_removals(self) -> Self {
        self.skip_items("TTL", is_ttl_removal)
    }

    /// Skips the records `rule` matches, counted under `label` (items of another kind
    /// sharing the table, say). Rules are tried in the order declared.
    pub fn skip_items(
        mut self,
        label: &'static str,
        rule: impl Fn(&EventRecord) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.skips.push((label, Arc::new(rule)));
        self
    }

    /// The labels of the declared skips, in order.
    pub fn skips(&self) -> Vec<&'static str> {
        self.skips.iter().map(|(label, _)| *label).collect()
    }

    /// Reads a record: skipped by the first rule that matches (logged at debug and
    /// counted), or read by the extractor.
    pub fn read(&self, record: &EventRecord) -> Read {
        if let Some((label, _)) = self.skips.iter().find(|(_, rule)| rule(record)) {
            tracing::debug!(
                skip = label,
                event_name = %record.event_name,
                sequence = record.change.sequence_number.as_deref().unwrap_or(""),
                "stream record skipped as declared"
            );
            crate::emf::skipped(label);
            return Read::Skipped(label);
        }
        Read::Envelope((self.extract)(record))
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::outbox()
    }
}

/// Whether DynamoDB's TTL made this `REMOVE` (the service's user identity, as AWS
/// documents for TTL deletions).
pub fn is_ttl_removal(record: &EventRecord) -> bool {
    record.event_name == "REMOVE"
        && record
            .user_identity
            .as_ref()
            .is_some_and(|u| u.type_ == "Service" && u.principal_id == "dynamodb.amazonaws.com")
}

fn sequence(record: &EventRecord) -> String {
    record
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| format!("(none; eventID {})", record.event_id))
}

/// The new image of an `INSERT`, as DynamoDB JSON (`{"attr": {"S": ...}}`): an error for
/// any other kind of record, or an `INSERT` without its new image.
pub fn inserted_image(record: &EventRecord) -> Result<Value, StreamRecordError> {
    if record.event_name != "INSERT" {
        return Err(StreamRecordError::Undeclared {
            event_name: record.event_name.clone(),
            sequence: sequence(record),
        });
    }
    let image = serde_json::to_value(&record.change.new_image).unwrap_or(Value::Null);
    match image.as_object() {
        Some(map) if !map.is_empty() => Ok(image),
        _ => Err(StreamRecordError::NoNewImage {
            event_name: record.event_name.clone(),
            sequence: sequence(record),
        }),
    }
}

/// The string (`S`) attribute `name` of a new image from [`inserted_image`].
pub fn string_attribute<'a>(
    record: &EventRecord,
    image: &'a Value,
    name: &str,
) -> Result<&'a str, StreamRecordError> {
    let Some(attribute) = image.get(name) else {
        let mut found: Vec<&str> = image
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        found.sort_unstable();
        return Err(StreamRecordError::MissingAttribute {
            attribute: name.to_owned(),
            found: if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            },
            sequence: sequence(record),
        });
    };
    match attribute.get("S").and_then(Value::as_str) {
        Some(text) => Ok(text),
        None => Err(StreamRecordError::AttributeType {
            attribute: name.to_owned(),
            expected: "a string (S)",
            found: attribute_type(attribute),
            sequence: sequence(record),
        }),
    }
}

/// A DynamoDB JSON attribute's type, spelt out for an error message (`a binary (B)`).
pub fn attribute_type(attribute: &Value) -> String {
    let tag = attribute
        .as_object()
        .and_then(|m| m.keys().next())
        .map(String::as_str)
        .unwrap_or("");
    let name = match tag {
        "S" => "a string",
        "N" => "a number",
        "B" => "a binary",
        "BOOL" => "a boolean",
        "NULL" => "a null",
        "M" => "a map",
        "L" => "a list",
        "SS" => "a string set",
        "NS" => "a number set",
        "BS" => "a binary set",
        _ => return format!("not a DynamoDB attribute value ({attribute})"),
    };
    format!("{name} ({tag})")
}

/// Reads the envelope of an outbox item: an `INSERT` whose new image holds the envelope's
/// JSON text in the string attribute `envelope`. Any other record is an error; declare
/// what may be skipped on the [`StreamReader`] ([`StreamReader::outbox`] does).
pub fn outbox_envelope(record: &EventRecord) -> Result<Envelope, RouteError> {
    let image = inserted_image(record)?;
    let text = string_attribute(record, &image, "envelope")?;
    Ok(Envelope::from_json(text)?)
}

/// When a stream consumer stops taking on work: a batch that outlives its function's
/// timeout comes back whole and what it had done is done again, so the consumer stops
/// early and reports the rest as batch item failures, and the checkpoint advances past
/// what it finished.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// No new step begins after this (the reserve kept back).
    stop_at: Option<tokio::time::Instant>,
    /// A step still running is cut off here, just short of the invocation's end.
    cut_at: Option<tokio::time::Instant>,
    /// The longest step seen so far: the next one is not begun unless that much is left.
    longest: Duration,
}

impl Deadline {
    /// Time kept back from the function's remaining time when deciding whether to begin a
    /// step: answering, flushing metrics and a step slower than the last. A tenth of the
    /// time left, at least 500 ms.
    pub fn reserve(remaining: Duration) -> Duration {
        (remaining / 10).max(Duration::from_millis(500))
    }

    /// What a step already running may use of the time left: all but the answer's 250 ms.
    const ANSWER: Duration = Duration::from_millis(250);

    /// From the invocation's remaining time; `None` never stops (tests, local runs).
    pub fn new(remaining: Option<Duration>) -> Self {
        let now = tokio::time::Instant::now();
        Deadline {
            stop_at: remaining.map(|r| now + r.saturating_sub(Deadline::reserve(r))),
            cut_at: remaining.map(|r| now + r.saturating_sub(Deadline::ANSWER)),
            longest: Duration::ZERO,
        }
    }

    /// Whether a step as long as the longest so far still fits.
    pub fn allows_another(&self) -> bool {
        self.stop_at
            .is_none_or(|at| tokio::time::Instant::now() + self.longest < at)
    }

    /// Runs one step to its end (a handler is not cut off mid-effect), timing it.
    pub async fn run<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        let started = tokio::time::Instant::now();
        let out = work.await;
        self.longest = self.longest.max(started.elapsed());
        out
    }

    /// Runs one step, cut off just before the invocation would end; `None` if it was (its
    /// effect is unknown: it may have happened).
    pub async fn step<T>(&mut self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let started = tokio::time::Instant::now();
        let out = match self.cut_at {
            None => Some(work.await),
            Some(at) => tokio::time::timeout_at(at, work).await.ok(),
        };
        self.longest = self.longest.max(started.elapsed());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::dynamodb::Event;
    use serde_json::json;

    /// The `aws_lambda_events` crate's own fixtures: records as AWS sends them.
    const AWS_EVENT: &str =
        include_str!("../testdata/aws-lambda-events/example-dynamodb-event.json");
    const AWS_OPTIONAL: &str = include_str!(
        "../testdata/aws-lambda-events/example-dynamodb-event-record-with-optional-fields.json"
    );

    fn aws_records() -> Vec<EventRecord> {
        let event: Event = serde_json::from_str(AWS_EVENT).unwrap();
        event.records
    }

    fn with_envelope(mut record: EventRecord, attribute: Value) -> EventRecord {
        let mut value = serde_json::to_value(&record).unwrap();
        value["dynamodb"]["NewImage"]["envelope"] = attribute;
        record = serde_json::from_value(value).unwrap();
        record
    }

    fn error(read: Read) -> StreamRecordError {
        match read {
            Read::Envelope(Err(RouteError::Stream(e))) => e,
            other => panic!("expected a stream record error, got {other:?}"),
        }
    }

    #[test]
    fn an_insert_without_the_envelope_attribute_fails_naming_it_and_what_the_image_has() {
        let records = aws_records();
        let e = error(StreamReader::outbox().read(&records[0]));
        assert_eq!(
            e,
            StreamRecordError::MissingAttribute {
                attribute: "envelope".into(),
                found: "asdf1, asdf2, key, val".into(),
                sequence: "1405400000000002063282832".into(),
            }
        );
        assert!(e.to_string().contains("skip_items"), "{e}");
    }

    #[test]
    fn an_envelope_of_another_type_fails_naming_the_type_found() {
        let record = aws_records().remove(0);
        for (attribute, found) in [
            (json!({"B": "e30="}), "a binary (B)"),
            (json!({"N": "7"}), "a number (N)"),
            (json!({"M": {"type": {"S": "x"}}}), "a map (M)"),
            (json!({"NULL": true}), "a null (NULL)"),
        ] {
            let record = with_envelope(record.clone(), attribute);
            let e = error(StreamReader::outbox().read(&record));
            assert!(
                matches!(&e, StreamRecordError::AttributeType { found: f, attribute, .. } if f == found && attribute == "envelope"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_envelope_that_is_not_one_is_an_envelope_error() {
        let record = with_envelope(
            aws_records().remove(0),
            json!({"S": "{\"not\": \"cloudevents\"}"}),
        );
        match StreamReader::outbox().read(&record) {
            Read::Envelope(Err(RouteError::Envelope(_))) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_without_a_new_image_fails_naming_the_view_type_to_set() {
        let mut value: Value = serde_json::to_value(aws_records().remove(0)).unwrap();
        value["dynamodb"]
            .as_object_mut()
            .unwrap()
            .remove("NewImage");
        let record: EventRecord = serde_json::from_value(value).unwrap();
        let e = error(StreamReader::outbox().read(&record));
        assert!(matches!(e, StreamRecordError::NoNewImage { .. }), "{e}");
        assert!(e.to_string().contains("NEW_IMAGE"), "{e}");
    }

    #[test]
    fn declared_skips_are_skipped_and_undeclared_kinds_fail() {
        let event: Value = serde_json::from_str(AWS_EVENT).unwrap();
        let of = |name: &str, identity: Value| -> EventRecord {
            let mut r = event["Records"][0].clone();
            r["eventName"] = json!(name);
            r["userIdentity"] = identity;
            serde_json::from_value(r).unwrap()
        };
        let ttl = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        let outbox = StreamReader::outbox();
        assert!(matches!(
            outbox.read(&of("MODIFY", Value::Null)),
            Read::Skipped("MODIFY")
        ));
        assert!(matches!(
            outbox.read(&of("REMOVE", ttl.clone())),
            Read::Skipped("REMOVE")
        ));
        // Only TTL removals declared: a user's deletion is read, and fails as undeclared.
        let reader = StreamReader::new(outbox_envelope).skip_ttl_removals();
        assert!(matches!(
            reader.read(&of("REMOVE", ttl)),
            Read::Skipped("TTL")
        ));
        let e = error(reader.read(&of("REMOVE", Value::Null)));
        assert!(
            matches!(&e, StreamRecordError::Undeclared { event_name, .. } if event_name == "REMOVE"),
            "{e}"
        );
        let e = error(reader.read(&of("MODIFY", Value::Null)));
        assert!(matches!(e, StreamRecordError::Undeclared { .. }), "{e}");
    }

    #[test]
    fn items_of_another_kind_are_skipped_by_a_declared_rule() {
        // A shared table: items without `envelope` are declared another kind.
        let reader = StreamReader::outbox().skip_items("NotOutbox", |r| {
            inserted_image(r).is_ok_and(|image| image.get("envelope").is_none())
        });
        let optional: EventRecord = serde_json::from_str(AWS_OPTIONAL).unwrap();
        assert!(matches!(reader.read(&optional), Read::Skipped("NotOutbox")));
        assert_eq!(reader.skips(), ["MODIFY", "REMOVE", "NotOutbox"]);
        // Without the rule the same record fails; its sequence is absent, so the event id names it.
        let e = error(StreamReader::outbox().read(&optional));
        assert!(e.to_string().contains("eventID 00000000-0000"), "{e}");
    }

    #[test]
    fn an_outbox_item_is_read() {
        let envelope = Envelope::new("shop", "order.placed", json!({"order": "o-1"}));
        let text = serde_json::to_string(&envelope).unwrap();
        let record = with_envelope(aws_records().remove(1), json!({"S": text}));
        match StreamReader::outbox().read(&record) {
            Read::Envelope(Ok(read)) => assert_eq!(read.id, envelope.id),
            other => panic!("{other:?}"),
        }
    }
}
