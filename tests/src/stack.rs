//! The deployed stack, as `tools/deploy/deploy-local.sh` left it: its outputs, and the
//! operations the pipeline test and the demo perform on it through the AWS SDK only.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use eventkit::aws::eventbridge::EventBridgePublisher;
use eventkit::Envelope;
use serde_json::json;

use crate::{require_localstack, wait_for};

/// Where the deploy script writes the stack outputs.
pub fn outputs_file() -> std::path::PathBuf {
    std::env::var_os("STACK_OUTPUTS")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/stack-outputs.env")
        })
}

/// Source and type the ledger rule routes.
pub const SOURCE: &str = "eventkit.demo";
/// The routed event type.
pub const ENTRY_POSTED: &str = "ledger.entry.posted";

/// Clients and names of the deployed topology.
pub struct Stack {
    /// Stack outputs by key.
    pub outputs: HashMap<String, String>,
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// Publisher to the stack's bus.
    pub publisher: EventBridgePublisher,
}

impl Stack {
    /// Reads the outputs file and builds clients for LocalStack.
    pub async fn load() -> anyhow::Result<Stack> {
        let path = outputs_file();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e}; deploy first with `make deploy-local`",
                path.display()
            )
        })?;
        let outputs: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        let config = require_localstack().await?;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let mut stack = Stack {
            publisher: EventBridgePublisher::new(events.clone(), "unset"),
            outputs,
            events,
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
        };
        stack.publisher = EventBridgePublisher::new(stack.events.clone(), stack.output("BusName")?);
        Ok(stack)
    }

    /// One output, or an error naming it.
    pub fn output(&self, key: &str) -> anyhow::Result<String> {
        self.outputs.get(key).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "stack output {key} missing from {}; redeploy with `make deploy-local`",
                outputs_file().display()
            )
        })
    }

    /// Opens an account in the ledger table with a zero balance.
    pub async fn open_account(&self, account: &str) -> anyhow::Result<()> {
        self.dynamodb
            .put_item()
            .table_name(self.output("LedgerTableName")?)
            .item("pk", AttributeValue::S(format!("account#{account}")))
            .item("open", AttributeValue::Bool(true))
            .item("balance", AttributeValue::N("0".into()))
            .item("entries", AttributeValue::N("0".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(())
    }

    /// `(balance, entries)` of an account, if it exists.
    pub async fn account(&self, account: &str) -> anyhow::Result<Option<(i64, i64)>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(self.output("LedgerTableName")?)
            .key("pk", AttributeValue::S(format!("account#{account}")))
            .consistent_read(true)
            .send()
            .await?;
        let number = |item: &HashMap<String, AttributeValue>, k: &str| -> i64 {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or_default()
        };
        Ok(out
            .item()
            .map(|i| (number(i, "balance"), number(i, "entries"))))
    }

    /// A ledger entry envelope.
    pub fn entry(account: &str, amount: i64) -> Envelope {
        Envelope::new(
            SOURCE,
            ENTRY_POSTED,
            json!({"account": account, "amount": amount}),
        )
        .with_subject(account)
    }

    /// Waits until an account reaches `(balance, entries)`.
    pub async fn wait_for_account(
        &self,
        account: &str,
        want: (i64, i64),
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let last = std::sync::Mutex::new(None);
        let result = wait_for(
            &format!("account {account} to reach {want:?}"),
            deadline,
            || async {
                let now = self.account(account).await?;
                *last.lock().unwrap_or_else(|e| e.into_inner()) = now;
                Ok((now == Some(want)).then_some(()))
            },
        )
        .await;
        let last = *last.lock().unwrap_or_else(|e| e.into_inner());
        result.map_err(|e| anyhow::anyhow!("{e} (last seen (balance, entries): {last:?})"))
    }

    /// Envelope ids in the DLQ right now, read without hiding them from a redrive.
    pub async fn dlq_envelope_ids(&self) -> anyhow::Result<Vec<String>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.output("LedgerDlqUrl")?)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| m.body())
            .filter_map(|b| eventkit::unwrap::from_sqs_body(b).ok())
            .map(|e| e.id)
            .collect())
    }

    /// Waits until the envelope `id` is in the DLQ.
    pub async fn wait_for_in_dlq(&self, id: &str, deadline: Duration) -> anyhow::Result<()> {
        wait_for(&format!("envelope {id} in the DLQ"), deadline, || async {
            Ok(self
                .dlq_envelope_ids()
                .await?
                .iter()
                .any(|i| i == id)
                .then_some(()))
        })
        .await
    }

    /// Redrives the DLQ through the stack's runbook state machine (SQS message move task)
    /// and waits for the execution to succeed.
    pub async fn redrive_dlq(&self) -> anyhow::Result<()> {
        let arn = self.output("LedgerRedriveStateMachineArn")?;
        let execution = self
            .sfn
            .start_execution()
            .state_machine_arn(arn)
            .send()
            .await?;
        let execution_arn = execution.execution_arn().to_owned();
        let status = wait_for(
            "the redrive execution to finish",
            Duration::from_secs(60),
            || async {
                let out = self
                    .sfn
                    .describe_execution()
                    .execution_arn(&execution_arn)
                    .send()
                    .await?;
                Ok(
                    (out.status() != &aws_sdk_sfn::types::ExecutionStatus::Running)
                        .then(|| (out.status().clone(), out.cause().map(str::to_owned))),
                )
            },
        )
        .await?;
        match status {
            (aws_sdk_sfn::types::ExecutionStatus::Succeeded, _) => Ok(()),
            (other, cause) => anyhow::bail!(
                "redrive execution ended {other:?}: {}",
                cause.unwrap_or_default()
            ),
        }
    }
}
