//! `{{ project_name }}`: takes `example.thing.happened` envelopes from its queue and
//! handles each once. Replace the payload, the handler and the event type with yours;
//! `main.rs` stays wiring.

use std::sync::Arc;

use eventkit::idempotency::IdempotencyStore;
use eventkit::{ErrorType, Event, Router};
use serde::{Deserialize, Serialize};

/// The event type this function handles.
pub const THING_HAPPENED: &str = "example.thing.happened";

/// The payload of `example.thing.happened`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThingHappened {
    /// Which thing.
    pub thing: String,
    /// How many.
    pub count: u32,
}

/// What handling did; stored as the idempotent response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handled {
    /// Which thing.
    pub thing: String,
}

/// Why an event could not be handled. Each variant names what is wrong and what to do.
#[derive(Debug, thiserror::Error, ErrorType)]
pub enum HandleError {
    /// The payload is valid JSON but makes no sense: fix the producer, then redrive the DLQ.
    #[error("`count` must be at least 1 (thing `{0}`); fix the producer, then redrive the DLQ")]
    NothingHappened(String),
}

/// The handler: typed payload in, typed result out.
pub async fn handle(_state: Arc<()>, event: Event<ThingHappened>) -> Result<Handled, HandleError> {
    let thing = event.data;
    if thing.count == 0 {
        return Err(HandleError::NothingHappened(thing.thing));
    }
    tracing::info!(thing = %thing.thing, count = thing.count, "handled");
    Ok(Handled { thing: thing.thing })
}

/// The function: each `example.thing.happened` to [`handle`], once per envelope id.
pub fn router(idempotency: impl IdempotencyStore + 'static) -> Router<()> {
    Router::new()
        .idempotency_store(idempotency)
        .on(THING_HAPPENED, handle)
        .idempotent()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use eventkit::idempotency::MemoryIdempotencyStore;

    async fn run(event: SqsEvent) -> SqsBatchResponse {
        let response = router(MemoryIdempotencyStore::default())
            .handle(serde_json::to_value(event).unwrap(), None)
            .await
            .unwrap();
        serde_json::from_value(response).unwrap()
    }

    // In the kit's workspace the sample lives in events/<name>/; in a crate of its own, in events/.
    const SAMPLE: &str = include_str!("{% if eventkit_path == "" %}../../../events/{{ project_name }}{% else %}../events{% endif %}/sqs-sample.json");

    #[tokio::test]
    async fn the_sample_event_is_handled() {
        let sample: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        assert!(run(sample).await.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_record_that_makes_no_sense_fails_alone() {
        let mut sample: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        let mut bad = sample.records[0].clone();
        bad.message_id = Some("bad".into());
        // Another event (its own id: the same id would replay the first one's result).
        let body = bad.body.unwrap().replace("\"count\": 2", "\"count\": 0");
        bad.body = Some(body.replace("\"id\": \"thing-1\"", "\"id\": \"thing-2\""));
        sample.records.push(bad);
        let failed: Vec<_> = run(sample).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        assert_eq!(failed, ["bad"]);
    }
}
