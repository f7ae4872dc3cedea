//! A copy of a deployed function with settings of its own, fed by a queue of its own
//! through a real event source mapping: how a test points one function's dependency at a
//! fault proxy without touching the function every other test shares.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder;
use aws_sdk_lambda::types::{Environment, FunctionCode, FunctionResponseType, State};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use crate::stack::Stack;
use crate::{create_queue, unique, wait_for};

/// The copy's timeout: room for an SDK call's three attempts and their backoff (up to 3 s)
/// when LocalStack answers slowly under a parallel test run; at 6 s a killed invocation cut
/// a receive's retries short. Its queue's visibility timeout is longer, as Lambda requires,
/// so a message is received again only after the invocation holding it has ended.
const TIMEOUT_SECONDS: i32 = 20;
const VISIBILITY_SECONDS: u32 = 24;
/// Receives before SQS moves a message to the copy's DLQ.
pub const MAX_RECEIVES: usize = 2;

/// A deployed copy of a function and its queues.
pub struct FunctionCopy {
    /// The copy's function name.
    pub name: String,
    /// The queue mapped to it.
    pub queue_url: String,
    /// That queue's DLQ.
    pub dlq_url: String,
    mapping: String,
}

impl FunctionCopy {
    /// Deploys a copy of the function named by the stack output `function_output`: its code
    /// (fetched from `GetFunction`'s code location), runtime, role and environment with `env`
    /// on top, a timeout of 20 s; and a queue (visibility timeout 24 s, `maxReceiveCount` 2)
    /// with its DLQ, mapped to the copy by [`map_queue`]. Returns once the copy is active.
    pub async fn deploy(
        stack: &Stack,
        function_output: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<FunctionCopy> {
        let original = stack.output(function_output)?;
        let function = stack
            .lambda
            .get_function()
            .function_name(&original)
            .send()
            .await?;
        let config = function
            .configuration()
            .ok_or_else(|| anyhow::anyhow!("GetFunction {original}: no configuration"))?;
        let location = function
            .code()
            .and_then(|c| c.location())
            .ok_or_else(|| anyhow::anyhow!("GetFunction {original}: no code location"))?
            .to_owned();
        let zip = download(location).await?;

        let mut variables: HashMap<String, String> = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        for (k, v) in env {
            variables.insert((*k).to_owned(), (*v).to_owned());
        }
        let name = unique(&format!("{original}-copy"));
        let create = stack
            .lambda
            .create_function()
            .function_name(&name)
            .set_role(config.role().map(str::to_owned))
            .set_runtime(config.runtime().cloned())
            .set_handler(config.handler().map(str::to_owned))
            .set_architectures(Some(config.architectures().to_vec()))
            .set_memory_size(config.memory_size())
            .timeout(TIMEOUT_SECONDS);
        create_function(&stack.lambda, create, variables, zip).await?;
        let mapped = map_queue(
            &stack.lambda,
            &stack.sqs,
            &name,
            VISIBILITY_SECONDS,
            MAX_RECEIVES,
        )
        .await?;
        Ok(FunctionCopy {
            name,
            queue_url: mapped.queue_url,
            dlq_url: mapped.dlq_url,
            mapping: mapped.mapping,
        })
    }

    /// Deletes the mapping, the copy and its queues.
    pub async fn remove(self, stack: &Stack) -> anyhow::Result<()> {
        stack
            .lambda
            .delete_event_source_mapping()
            .uuid(&self.mapping)
            .send()
            .await?;
        stack
            .lambda
            .delete_function()
            .function_name(&self.name)
            .send()
            .await?;
        for url in [&self.queue_url, &self.dlq_url] {
            stack.sqs.delete_queue().queue_url(url).send().await?;
        }
        Ok(())
    }
}

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
async fn download(url: String) -> anyhow::Result<Vec<u8>> {
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
