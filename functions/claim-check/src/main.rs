//! Lambda entry point: wiring only. The same binary is the producer (invoked directly)
//! and the consumer (its queue); each deployment gets only its own events.

use claim_check::{dynamodb::DynamoDocuments, ClaimCheckApp};
use eventkit::aws::eventbridge::EventBridgePublisher;
use eventkit::aws::{claim_check_from_env, load_config, sqs::SqsQueues};
use eventkit::claim_check::Transport;
use eventkit::config::required;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventkit::observability::init_tracing();
    let config = load_config().await;
    let missing = || eventkit::config::MissingEnv("CLAIM_CHECK_BUCKET".into());
    let bus_claim_check =
        claim_check_from_env(&config, Transport::EventBridge).ok_or_else(missing)?;
    let sqs_claim_check = claim_check_from_env(&config, Transport::Sqs).ok_or_else(missing)?;
    let app = ClaimCheckApp {
        bus: EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&config),
            required("EVENT_BUS_NAME")?,
        )
        .with_claim_check(bus_claim_check),
        queues: SqsQueues::new(aws_sdk_sqs::Client::new(&config))
            .with_claim_check(sqs_claim_check.clone()),
        documents_queue: required("DOCUMENTS_QUEUE_URL")?,
        documents: DynamoDocuments::new(
            aws_sdk_dynamodb::Client::new(&config),
            required("DOCUMENTS_TABLE")?,
        ),
    };
    claim_check::router(app)
        .claim_check(sqs_claim_check)
        .run()
        .await
}
