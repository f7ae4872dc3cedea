//! The cold-start floor for `coldstart-bench`: a bare `lambda_runtime` echo, built with the
//! same release profile as the functions, doing nothing at init.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
