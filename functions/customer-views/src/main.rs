//! Lambda entry point: wiring only. With `CUSTOMER_SERVICE_FUNCTION` set this is the
//! notification consumer (it calls back); without, the state-transfer consumer.

use customer_views::aws::{DynamoCallbackCounter, LambdaCustomerSource, NoSource};
use customer_views::{router, CustomerSource, Replica};
use eventkit::aws::{dynamodb::DynamoStateStore, load_config};
use eventkit::config::{optional, required};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = required("VIEW_TABLE")?;
    let source: Box<dyn CustomerSource> = match optional("CUSTOMER_SERVICE_FUNCTION") {
        Some(function) => Box::new(LambdaCustomerSource::new(
            aws_sdk_lambda::Client::new(&config),
            function,
        )),
        None => Box::new(NoSource),
    };
    let replica = Replica {
        view: DynamoStateStore::new(dynamodb.clone(), &table),
        source,
        counter: DynamoCallbackCounter::new(dynamodb, table),
    };
    router(replica).run().await
}
