//! Lambda entry point: wiring only. `ROLE` picks the part this deployment plays:
//! `commands` (the queue of `wallet.command` envelopes → the event store), `relay` (the
//! event table's stream → the bus), `summary` or `statement` (the bus → a read model).

use eventkit::aws::dynamodb::{DynamoIdempotencyStore, DynamoSequencedStore};
use eventkit::aws::{eventbridge::EventBridgePublisher, load_config};
use eventkit::config::{optional, required};
use eventkit::outbox::Relay;
use wallet::dynamodb::{commands, DynamoStatement};
use wallet::views::{View, Views};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let role = required("ROLE")?;
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    match role.as_str() {
        "commands" => {
            let events = required("EVENTS_TABLE")?;
            let snapshots = required("SNAPSHOTS_TABLE")?;
            let every = optional("SNAPSHOT_EVERY")
                .map(|n| n.parse::<usize>())
                .transpose()
                .map_err(|e| format!("SNAPSHOT_EVERY must be a whole number of events: {e}"))?
                .unwrap_or(100);
            let idempotency =
                DynamoIdempotencyStore::new(dynamodb.clone(), required("IDEMPOTENCY_TABLE")?);
            wallet::commands::router(commands(dynamodb, &events, &snapshots, every), idempotency)
                .run()
                .await
        }
        "relay" => {
            let bus = required("EVENT_BUS_NAME")?;
            let publisher =
                EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&config), bus);
            Relay::new(publisher)
                .with_reader(wallet::reader())
                .run()
                .await
        }
        "summary" | "statement" => {
            let table = required("VIEW_TABLE")?;
            let view = if role == "summary" {
                View::Summary
            } else {
                View::Statement
            };
            let views = Views {
                summary: DynamoSequencedStore::new(dynamodb.clone(), &table),
                statement: DynamoStatement::new(dynamodb, table),
            };
            wallet::views::router(view, views).run().await
        }
        other => Err(format!(
            "ROLE=`{other}` is not a part of the wallet; use commands, relay, summary or statement"
        )
        .into()),
    }
}
