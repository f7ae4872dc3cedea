//! Functions and event source mappings made for a run: a function from a zip, a queue with
//! its DLQ mapped to a function as the template maps its queues.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder;
use aws_sdk_lambda::types::{Environment, FunctionCode, FunctionResponseType, State};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use crate::{create_queue, unique, wait_for};

/// Sends `create` with the environment `variables` and the code `zip`, then waits until the
/// function is active.
pub async fn create_function(
    lambda: &aws_sdk_lambda::Client,
    create: CreateFunctionFluentBuilder,
    variables: HashMap<String, String>,
    zip: Vec<u8>,
) -> anyhow::Result<()> {
    let name = create.get_function_name().clone().unwrap_or_default();
    create
        .environment(
            Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .code(
            FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
        .send()
        .await?;
    wait_active(lambda, &name).await
}

/// Waits until function `name` is active; the error says why it failed to deploy.
pub async fn wait_active(lambda: &aws_sdk_lambda::Client, name: &str) -> anyhow::Result<()> {
    wait_for(
        &format!("{name} to become active"),
        Duration::from_secs(60),
        || async {
            let c = lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await?;
            match c.state() {
                Some(State::Active) => Ok(Some(())),
                Some(State::Failed) => anyhow::bail!(
                    "{name} failed to deploy: {}",
                    c.state_reason().unwrap_or_default()
                ),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// A queue with its DLQ, mapped to a function.
pub struct MappedQueue {
    /// The queue.
    pub queue_url: String,
    /// Its ARN, for a rule's target.
    pub queue_arn: String,
    /// Its DLQ.
    pub dlq_url: String,
    /// The event source mapping's id.
    pub mapping: String,
}

/// Creates a queue (`visibility_seconds`, moved to a new DLQ after `max_receives`) and
/// maps it to `function` as the template maps the ledger queue: batches of 10, a 1 s
/// window, partial batch responses.
pub async fn map_queue(
    lambda: &aws_sdk_lambda::Client,
    sqs: &aws_sdk_sqs::Client,
    function: &str,
    visibility_seconds: u32,
    max_receives: usize,
) -> anyhow::Result<MappedQueue> {
    let (dlq_url, dlq_arn) = create_queue(sqs, &unique("dlq"), HashMap::new()).await?;
    let redrive =
        json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()});
    let (queue_url, queue_arn) = create_queue(
        sqs,
        &unique("queue"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_seconds.to_string(),
            ),
        ]),
    )
    .await?;
    let mapping = lambda
        .create_event_source_mapping()
        .event_source_arn(&queue_arn)
        .function_name(function)
        .batch_size(10)
        .maximum_batching_window_in_seconds(1)
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .send()
        .await?
        .uuid()
        .unwrap_or_default()
        .to_owned();
    Ok(MappedQueue {
        queue_url,
        queue_arn,
        dlq_url,
        mapping,
    })
}

/// The body at a (presigned) code location.
pub async fn download(url: String) -> anyhow::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        ureq::get(&url)
            .timeout(Duration::from_secs(120))
            .call()
            .map_err(|e| anyhow::anyhow!("downloading the function's code from {url}: {e}"))?
            .into_reader()
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    })
    .await?
}
