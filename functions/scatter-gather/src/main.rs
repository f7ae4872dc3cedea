//! Lambda entry point: wiring only. `ROLE` = `aggregator` or `supplier`.

use std::time::Duration;

use eventkit::aws::{eventbridge::EventBridgePublisher, load_config};
use eventkit::config::{optional, required};
use eventkit_contracts::quotes::Completion;
use scatter_gather::aws::{DynamoGathers, SqsTimer};
use scatter_gather::{Aggregator, Supplier};

fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, lambda_runtime::Error> {
    match optional(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name}=`{v}` is not a number").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let bus = EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(&config),
        required("EVENT_BUS_NAME")?,
    );
    match required("ROLE")?.as_str() {
        "aggregator" => {
            let aggregator = Aggregator {
                gathers: DynamoGathers::new(
                    aws_sdk_dynamodb::Client::new(&config),
                    required("GATHERS_TABLE")?,
                ),
                timer: SqsTimer::new(
                    aws_sdk_sqs::Client::new(&config),
                    required("TIMER_QUEUE_URL")?,
                ),
                bus,
                default_completion: Completion::All,
            };
            scatter_gather::aggregator(aggregator).run().await
        }
        "supplier" => {
            let supplier = Supplier {
                name: required("SUPPLIER")?,
                unit_price: number("UNIT_PRICE", 100)?,
                lead_days: number("LEAD_DAYS", 3)?,
                delay: Duration::from_millis(number("DELAY_MS", 0)?),
                silent: optional("SILENT").is_some_and(|v| v == "true"),
                bus,
            };
            scatter_gather::supplier(supplier).run().await
        }
        other => Err(format!("ROLE=`{other}`; use aggregator or supplier").into()),
    }
}
