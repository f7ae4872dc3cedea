//! A copy of a deployed function with settings of its own, fed by a queue of its own
//! through a real event source mapping: how a test points one function's dependency at a
//! fault proxy without touching the function every other test shares.

use std::collections::HashMap;

use eventkit_testkit::lambda::download;
pub use eventkit_testkit::lambda::{create_function, map_queue, wait_active, MappedQueue};

use crate::stack::Stack;
use crate::unique;

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
