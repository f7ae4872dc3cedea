//! Lambda entry point: wiring only. `ROLE` = `requester` or `responder`.

use eventkit::aws::{load_config, sqs::SqsQueues};
use eventkit::config::required;
use request_reply::aws::{DynamoPending, SfnTaskTokens};
use request_reply::{parse_stock, Requester, Responder};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let queues = SqsQueues::new(aws_sdk_sqs::Client::new(&config));
    match required("ROLE")?.as_str() {
        "requester" => {
            let requester = Requester {
                pending: DynamoPending::new(
                    aws_sdk_dynamodb::Client::new(&config),
                    required("PENDING_TABLE")?,
                ),
                queues,
                requests_queue: required("REQUESTS_QUEUE_URL")?,
                reply_queue: required("REPLY_QUEUE_URL")?,
            };
            request_reply::requester(requester).run().await
        }
        "responder" => {
            let responder = Responder {
                queues,
                tasks: SfnTaskTokens::new(aws_sdk_sfn::Client::new(&config)),
                stock: parse_stock(&required("STOCK")?)?,
                reply_queues: required("REPLY_QUEUES")?
                    .split(',')
                    .map(|q| q.trim().to_owned())
                    .collect(),
            };
            request_reply::responder(responder).run().await
        }
        other => Err(format!("ROLE=`{other}`; use requester or responder").into()),
    }
}
