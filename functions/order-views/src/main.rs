//! Lambda entry point: wiring only. `VIEW` picks the read model, `VIEW_TABLE` its table.

use eventkit::aws::dynamodb::{DynamoIdempotencyStore, DynamoSequencedStore};
use eventkit::aws::load_config;
use eventkit::config::required;
use order_views::{dynamodb::DynamoTotals, View, Views};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let view: View = required("VIEW")?.parse()?;
    let table = required("VIEW_TABLE")?;
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let views = Views {
        orders: DynamoSequencedStore::new(dynamodb.clone(), &table),
        totals: DynamoTotals::new(dynamodb.clone(), table),
    };
    let idempotency = DynamoIdempotencyStore::new(dynamodb, required("IDEMPOTENCY_TABLE")?);
    order_views::router(view, views, idempotency).run().await
}
