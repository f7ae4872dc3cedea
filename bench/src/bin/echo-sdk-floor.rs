//! The second cold-start floor for `coldstart-bench`: the bare `lambda_runtime` echo plus
//! what any function that calls DynamoDB starts with, the SDK's configuration and one
//! client, so the kit's own share of a function's init stands apart from the SDK's.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        // Holds the client as a handler would; the echo never calls it.
        let _client = dynamodb.clone();
        async move { Ok::<_, Error>(event.payload) }
    }))
    .await
}
