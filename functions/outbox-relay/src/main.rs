//! Lambda entry point: the outbox table's stream in, the event bus out. The relay's logic
//! (ordering, batching, failure reporting) is `eventkit::outbox::Relay`.

use eventkit::aws::{eventbridge::EventBridgePublisher, load_config};
use eventkit::config::required;
use eventkit::outbox::Relay;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let bus = required("EVENT_BUS_NAME")?;
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&config), bus);
    Relay::new(publisher).run().await
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::dynamodb::Event;
    use eventkit::outbox::Relay;
    use eventkit::publish::MemoryPublisher;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_sample_stream_batch_is_relayed_in_order() {
        let text = include_str!("../../../events/outbox-relay/stream-batch.json");
        let event: Event = serde_json::from_str(text).unwrap();
        let publisher = Arc::new(MemoryPublisher::default());
        let response = Relay::new(publisher.clone()).handle(event).await;
        assert!(response.batch_item_failures.is_empty());
        let types: Vec<String> = publisher
            .published()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(types, ["order.placed", "order.cancelled"]);
    }
}
