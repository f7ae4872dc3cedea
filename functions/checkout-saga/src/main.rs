//! Lambda entry point: wiring only. `SERVICE` picks the participant, `ORDERS_TABLE` its
//! table; `EVENT_BUS_NAME` is where its choreography events go.

use checkout_saga::{dynamodb::DynamoOrders, Participant, Service};
use eventkit::aws::{eventbridge::EventBridgePublisher, load_config};
use eventkit::config::required;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let service: Service = required("SERVICE")?.parse()?;
    let config = load_config().await;
    let participant = Participant {
        service,
        orders: DynamoOrders::new(
            aws_sdk_dynamodb::Client::new(&config),
            required("ORDERS_TABLE")?,
        ),
        bus: EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&config),
            required("EVENT_BUS_NAME")?,
        ),
    };
    checkout_saga::router(participant).run().await
}
