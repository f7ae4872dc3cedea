//! What a handler takes: [`Event<T>`] (the payload typed and present) or the envelope,
//! read by [`FromEnvelope`].

use super::*;

/// What a handler receives: its payload, typed and present, and the envelope it came in.
///
/// `Event<T>` derefs to the envelope's metadata ([`Envelope<()>`]: `event.id`,
/// `event.correlation_id`, `event.caused(...)`), whose `data` was moved into
/// [`Event::data`]. A handler for events that may carry no payload asks for
/// `Event<Option<T>>` (or `Event<()>` for none at all); `Event<T>` of an envelope without
/// data is a payload mismatch ([`RouteError::Payload`]), as is any payload `T` does not
/// read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T> {
    /// The payload.
    pub data: T,
    /// Every other attribute of the envelope (its `data` is `None`: the payload is above).
    pub envelope: Envelope<()>,
}

impl<T> Event<T> {
    /// The payload and the envelope's metadata.
    pub fn into_parts(self) -> (T, Envelope<()>) {
        (self.data, self.envelope)
    }

    /// The envelope as it came, with its payload typed (`data` is `Some`).
    pub fn into_envelope(self) -> Envelope<T> {
        self.envelope.replace_data(Some(self.data)).1
    }
}

impl<T> std::ops::Deref for Event<T> {
    type Target = Envelope<()>;

    fn deref(&self) -> &Envelope<()> {
        &self.envelope
    }
}

/// What a handler takes as its event argument, read from the envelope the router dispatched.
///
/// Implemented for [`Event<T>`] (the payload present and typed) and for [`Envelope<T>`]
/// (the envelope with `data: Option<T>`, `Some` whenever the payload read; for handlers
/// that want the envelope itself).
pub trait FromEnvelope: Sized {
    /// Reads the handler's argument; a payload that does not fit is
    /// [`RouteError::Payload`].
    fn from_envelope(envelope: Envelope) -> Result<Self, RouteError>;
}

impl<T: DeserializeOwned> FromEnvelope for Event<T> {
    fn from_envelope(envelope: Envelope) -> Result<Self, RouteError> {
        let (data, envelope) = typed_parts(envelope)?;
        Ok(Event { data, envelope })
    }
}

impl<T: DeserializeOwned> FromEnvelope for Envelope<T> {
    fn from_envelope(envelope: Envelope) -> Result<Self, RouteError> {
        let (data, envelope) = typed_parts(envelope)?;
        Ok(envelope.replace_data(Some(data)).1)
    }
}

/// The envelope's payload read as `T` (`data`, JSON `data_base64`, or `null` when absent,
/// so `Option<T>` and `()` payloads accept an event without data) and the envelope without
/// it; a payload that does not fit is [`RouteError::Payload`], naming `T`.
fn typed_parts<T: DeserializeOwned>(envelope: Envelope) -> Result<(T, Envelope<()>), RouteError> {
    let data = if envelope.data.is_some() || envelope.data_base64.is_some() {
        envelope.data_as()
    } else if envelope.dataref.is_some() {
        Err(EnvelopeError::InvalidField {
            field: "dataref".into(),
            reason: "payload is claim-checked and was not redeemed".into(),
        })
    } else {
        T::deserialize(Value::Null).map_err(|_| EnvelopeError::MissingField("data"))
    };
    match data {
        Ok(data) => {
            let (_, mut envelope) = envelope.replace_data(None);
            envelope.data_base64 = None;
            Ok((data, envelope))
        }
        Err(source) => Err(RouteError::Payload {
            event_type: envelope.event_type,
            expected: std::any::type_name::<T>(),
            source,
        }),
    }
}
