//! Getting envelopes out of what Lambda hands a function: an EventBridge event, or an SQS
//! record whose body is an envelope or an EventBridge event (a bus rule targeting a queue).
//!
//! Like Powertools' parser envelopes, but the result is always the kit's [`Envelope`].
//!
//! The same envelope out of a queue fed directly or by a bus rule, and an AWS service's event
//! wrapped as one.
//!
//! ```
//! use aws_lambda_events::event::eventbridge::EventBridgeEvent;
//! use eventkit::unwrap::{from_sqs_body, wrap_foreign_eventbridge};
//! use eventkit::Envelope;
//! use serde_json::json;
//!
//! let placed = Envelope::new("shop", "order.placed", json!({"order": 42}));
//! let direct = placed.to_json();
//! let via_rule = json!({"detail-type": "order.placed", "source": "shop", "detail": placed});
//! assert_eq!(from_sqs_body(&direct).unwrap(), placed);
//! assert_eq!(from_sqs_body(&via_rule.to_string()).unwrap(), placed);
//!
//! let created: EventBridgeEvent = serde_json::from_value(json!({"id": "eb-9", "source": "aws.s3",
//!     "detail-type": "Object Created", "time": "2026-01-01T00:00:00Z",
//!     "detail": {"bucket": {"name": "uploads"}}})).unwrap();
//! let wrapped = wrap_foreign_eventbridge(&created).unwrap();
//! assert_eq!((wrapped.id.as_str(), wrapped.event_type.as_str()), ("eb-9", "Object Created"));
//! assert_eq!(wrapped.correlation_id, "eb-9");
//! assert_eq!(wrapped.data, Some(json!({"bucket": {"name": "uploads"}})));
//! ```

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsMessage;
use chrono::Utc;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::envelope::{Envelope, EnvelopeError, RawEnvelope, SPEC_VERSION};

/// Reads an envelope from an EventBridge event whose `detail` is a kit envelope.
pub fn from_eventbridge(event: &EventBridgeEvent<Value>) -> Result<Envelope, EnvelopeError> {
    Envelope::from_value(event.detail.clone())
}

/// Wraps an EventBridge event from outside the kit (an AWS service event, say):
/// its id, source, detail-type and time become the envelope's, its detail the payload.
pub fn wrap_foreign_eventbridge(
    event: &EventBridgeEvent<Value>,
) -> Result<Envelope, EnvelopeError> {
    let id = event.id.clone().ok_or(EnvelopeError::MissingField("id"))?;
    let mut envelope = Envelope::new(
        event.source.clone(),
        event.detail_type.clone(),
        event.detail.clone(),
    );
    envelope.specversion = SPEC_VERSION.to_owned();
    envelope.correlation_id = id.clone();
    envelope.id = id;
    envelope.time = Some(event.time.unwrap_or_else(Utc::now));
    envelope.validate()?;
    Ok(envelope)
}

/// Reads an envelope from an SQS message body: the envelope itself, or an EventBridge
/// event carrying it (what a rule with an SQS target delivers).
///
/// The body must already be redeemed if it was claim-checked (see
/// [`crate::claim_check::ClaimCheck::redeem_sqs`]).
pub fn from_sqs_body(body: &str) -> Result<Envelope, EnvelopeError> {
    // The common case in one pass: a bus event whose `detail` reads as an envelope.
    match serde_json::from_str::<BusEnvelope>(body) {
        Ok(BusEnvelope {
            detail_type: true,
            detail: Some(raw),
        }) => return Envelope::try_from(raw),
        Ok(_) => return Envelope::from_json(body),
        // A `detail` that is no envelope: the reading below names what is wrong, as ever.
        Err(_) => {}
    }
    // The `detail` of an EventBridge event is found without building the event, and the
    // envelope is parsed from its text: one pass over the envelope, no `Value` in between.
    match serde_json::from_str::<BusEvent>(body) {
        Ok(BusEvent {
            detail_type: true,
            detail: Some(detail),
        }) => Envelope::from_json(detail.get()),
        _ => Envelope::from_json(body),
    }
}

/// What tells an EventBridge event from an envelope ([`from_json_value`]'s test): both
/// `detail-type` and `detail` present, whatever their values.
#[derive(serde::Deserialize)]
struct BusEvent<'a> {
    #[serde(rename = "detail-type", default, deserialize_with = "present")]
    detail_type: bool,
    #[serde(borrow, default, deserialize_with = "raw")]
    detail: Option<&'a RawValue>,
}

/// [`BusEvent`] with its `detail` read as an envelope while the body is parsed.
#[derive(serde::Deserialize)]
struct BusEnvelope {
    #[serde(rename = "detail-type", default, deserialize_with = "present")]
    detail_type: bool,
    #[serde(default, deserialize_with = "raw_envelope")]
    detail: Option<RawEnvelope<Value>>,
}

fn raw_envelope<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<RawEnvelope<Value>>, D::Error> {
    RawEnvelope::deserialize(d).map(Some)
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

// `Option<&RawValue>` alone would read `null` as absent.
fn raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads an envelope from a parsed JSON value that is an envelope or an EventBridge event.
pub fn from_json_value(mut value: Value) -> Result<Envelope, EnvelopeError> {
    let is_eventbridge = value.get("detail-type").is_some() && value.get("detail").is_some();
    if is_eventbridge {
        let detail = value
            .get_mut("detail")
            .map(Value::take)
            .unwrap_or(Value::Null);
        return Envelope::from_value(detail);
    }
    Envelope::from_value(value)
}

/// Reads an envelope from an SQS record whose body was not claim-checked.
pub fn from_sqs_record(record: &SqsMessage) -> Result<Envelope, EnvelopeError> {
    let body = record
        .body
        .as_deref()
        .ok_or(EnvelopeError::MissingField("body"))?;
    from_sqs_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope_json() -> Value {
        json!({
            "specversion": "1.0", "id": "e-1", "source": "eventkit.demo",
            "type": "ledger.entry.posted", "time": "2026-01-01T00:00:00Z",
            "correlationid": "c-1", "data": {"amount": 5}
        })
    }

    #[test]
    fn eventbridge_detail_is_the_envelope() {
        let eb: EventBridgeEvent<Value> = serde_json::from_value(json!({
            "version": "0", "id": "eb-1", "detail-type": "ledger.entry.posted",
            "source": "eventkit.demo", "account": "000000000000",
            "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": envelope_json()
        }))
        .unwrap();
        let e = from_eventbridge(&eb).unwrap();
        assert_eq!(e.id, "e-1");
        assert_eq!(e.correlation_id, "c-1");
    }

    #[test]
    fn sqs_body_may_be_envelope_or_eventbridge_event() {
        let direct = envelope_json().to_string();
        let wrapped =
            json!({"detail-type": "x", "source": "y", "detail": envelope_json()}).to_string();
        assert_eq!(
            from_sqs_body(&direct).unwrap(),
            from_sqs_body(&wrapped).unwrap()
        );
    }

    /// The body is read without a `Value`; it must answer as the `Value` reading does.
    #[test]
    fn a_body_reads_as_its_parsed_value_does() {
        let e = envelope_json();
        let bodies = [
            e.to_string(),
            json!({"detail-type": "x", "detail": e}).to_string(),
            json!({"detail-type": null, "detail": e}).to_string(),
            json!({"detail-type": "x", "detail": null}).to_string(),
            json!({"detail-type": "x", "detail": 5}).to_string(),
            json!({"detail": e}).to_string(),
            json!({"detail-type": "x", "detail": {"specversion": "1.0", "id": 7}}).to_string(),
            json!({"specversion": "1.0", "id": "e", "source": "s", "type": "t",
                "time": "not a time"})
            .to_string(),
            "[1]".into(),
            "5".into(),
        ];
        // The same error; parsing text, serde adds where in it (`at line 1 column 4`).
        let reason = |e: EnvelopeError| {
            let text = e.to_string();
            text.split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        for body in bodies {
            let by_value = from_json_value(serde_json::from_str(&body).unwrap());
            assert_eq!(
                from_sqs_body(&body).map_err(reason),
                by_value.map_err(reason),
                "{body}"
            );
        }
    }

    #[test]
    fn foreign_event_is_wrapped() {
        let eb: EventBridgeEvent<Value> = serde_json::from_value(json!({
            "id": "eb-9", "detail-type": "Object Created", "source": "aws.s3",
            "time": "2026-01-01T00:00:00Z", "detail": {"bucket": {"name": "b"}}
        }))
        .unwrap();
        let e = wrap_foreign_eventbridge(&eb).unwrap();
        assert_eq!(e.id, "eb-9");
        assert_eq!(e.event_type, "Object Created");
        assert_eq!(e.data, Some(json!({"bucket": {"name": "b"}})));
    }

    #[test]
    fn garbage_body_is_malformed() {
        assert!(matches!(
            from_sqs_body("hello"),
            Err(EnvelopeError::Malformed(_))
        ));
        let mut record = SqsMessage::default();
        record.body = None;
        assert!(matches!(
            from_sqs_record(&record),
            Err(EnvelopeError::MissingField("body"))
        ));
    }
}
