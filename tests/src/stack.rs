//! The deployed stack, as `tools/deploy/deploy-local.sh` (or, on AWS, `make aws-deploy`)
//! left it: its outputs, and the operations the pipeline test and the demo perform on it
//! through the AWS SDK only.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use eventkit::aws::dynamodb::item_to_json;
use eventkit::aws::eventbridge::EventBridgePublisher;
use eventkit::Envelope;
use serde_json::{json, Value};

use crate::target::{on_aws, stack_config};
use crate::{endpoint, wait_for};

/// Where the deploy script wrote the stack outputs (see [`crate::stack_outputs_file`]).
pub fn outputs_file() -> std::path::PathBuf {
    crate::stack_outputs_file()
}

/// The command that deploys the stack the tests read, quoted.
fn deploy_command() -> &'static str {
    if on_aws() {
        "`make aws-deploy STACK=<name>` (docs/AWS.md)"
    } else {
        "`make deploy-local`"
    }
}

/// Source and type the ledger rule routes.
pub const SOURCE: &str = "eventkit.demo";
/// The routed event types.
pub use eventkit_contracts::ledger::{ACCOUNT_OPENED, ENTRY_POSTED};

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
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// S3 (path-style under an endpoint override, as on LocalStack; virtual-host on AWS).
    pub s3: aws_sdk_s3::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The config the clients share (LocalStack's, or on AWS the default chain's), for a
    /// test's client of another service (CloudWatch's: a crate the bench programs, built
    /// from this library, do without).
    pub config: aws_config::SdkConfig,
    /// Publisher to the stack's bus.
    pub publisher: EventBridgePublisher,
}

impl Stack {
    /// Reads the outputs file and builds clients for the target (LocalStack, or AWS with
    /// `EVENTKIT_TARGET=aws`).
    pub async fn load() -> anyhow::Result<Stack> {
        let path = outputs_file();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e}; deploy first with {}",
                path.display(),
                deploy_command()
            )
        })?;
        let outputs: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        let config = stack_config().await?;
        let events = aws_sdk_eventbridge::Client::new(&config);
        let mut stack = Stack {
            publisher: EventBridgePublisher::new(events.clone(), "unset"),
            outputs,
            events,
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            s3: eventkit::aws::s3::client(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            config,
        };
        stack.publisher = EventBridgePublisher::new(stack.events.clone(), stack.output("BusName")?);
        Ok(stack)
    }

    /// One output, or an error naming it.
    pub fn output(&self, key: &str) -> anyhow::Result<String> {
        self.outputs.get(key).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "stack output {key} missing from {}; redeploy with {}",
                outputs_file().display(),
                deploy_command()
            )
        })
    }

    /// The stack's name, read from a function name the template prefixes with it.
    pub fn name(&self) -> anyhow::Result<String> {
        Ok(self
            .output("P2PConsumerFunctionName")?
            .trim_end_matches("-p2p-consumer")
            .to_owned())
    }

    /// Opens an account as a producer would: `ledger.account.opened` on the bus, applied
    /// by the point-to-point consumer; returns once the ledger shows it open and empty.
    pub async fn open_account(&self, account: &str) -> anyhow::Result<()> {
        let opened = Envelope::new(SOURCE, ACCOUNT_OPENED, json!({ "account": account }))
            .with_subject(account)
            .with_partition_key(account);
        self.publisher.publish(&[opened]).await?;
        self.wait_for_account(account, (0, 0), Duration::from_secs(60))
            .await
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

    /// Envelope ids in the ledger DLQ right now, read without hiding them from a redrive.
    pub async fn dlq_envelope_ids(&self) -> anyhow::Result<Vec<String>> {
        self.envelope_ids_in("LedgerDlqUrl").await
    }

    /// Envelope ids visible in the queue named by an output, all of them, left visible.
    pub async fn envelope_ids_in(&self, queue_output: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .bodies_in(queue_output, |_| false)
            .await?
            .iter()
            .filter_map(|b| eventkit::unwrap::from_sqs_body(b).ok())
            .map(|e| e.id)
            .collect())
    }

    /// Every visible message body in the queue named by an output. One receive returns at
    /// most 10 messages (the same 10 each time when they stay visible), so a queue that
    /// holds more, a DLQ after a few runs say, is read by hiding what was seen until the
    /// queue answers empty; then each message `take` refused is made visible again at
    /// once, and each it took is deleted. Returns the bodies seen.
    pub async fn bodies_in(
        &self,
        queue_output: &str,
        take: impl Fn(&str) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let url = self.output(queue_output)?;
        let (mut bodies, mut kept) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .send()
                .await?;
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                let (Some(body), Some(handle)) = (m.body(), m.receipt_handle()) else {
                    continue;
                };
                if take(body) {
                    self.sqs
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                } else {
                    kept.push(handle.to_owned());
                }
                bodies.push(body.to_owned());
            }
        }
        for handle in kept {
            self.sqs
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await?;
        }
        Ok(bodies)
    }

    /// Waits until the envelope `id` is in the ledger DLQ.
    pub async fn wait_for_in_dlq(&self, id: &str, deadline: Duration) -> anyhow::Result<()> {
        self.wait_in_queue("LedgerDlqUrl", id, deadline).await
    }

    /// Waits until the envelope `id` is visible in the queue named by an output (a DLQ).
    pub async fn wait_in_queue(
        &self,
        queue_output: &str,
        id: &str,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        wait_for(
            &format!("envelope {id} in {queue_output}"),
            deadline,
            || async {
                Ok(self
                    .envelope_ids_in(queue_output)
                    .await?
                    .iter()
                    .any(|i| i == id)
                    .then_some(()))
            },
        )
        .await
    }

    /// Receives from the queue named by an output until `done` says enough was collected,
    /// deleting the envelopes `mine` accepts (and collecting them) and leaving the rest.
    pub async fn collect_from(
        &self,
        queue_output: &str,
        mine: impl Fn(&Envelope) -> bool,
        done: impl Fn(&[Envelope]) -> bool,
        deadline: Duration,
    ) -> anyhow::Result<Vec<Envelope>> {
        let collected = std::sync::Mutex::new(Vec::new());
        wait_for(&format!("messages in {queue_output}"), deadline, || async {
            let mine_in =
                |body: &str| eventkit::unwrap::from_sqs_body(body).is_ok_and(|e| mine(&e));
            for body in self.bodies_in(queue_output, mine_in).await? {
                if let Ok(envelope) = eventkit::unwrap::from_sqs_body(&body) {
                    if mine(&envelope) {
                        collected
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(envelope);
                    }
                }
            }
            let so_far = collected.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Ok(done(&so_far).then_some(so_far))
        })
        .await
    }

    /// An item of the table named by an output, as JSON (consistent read).
    pub async fn item(
        &self,
        table_output: &str,
        pk: &str,
    ) -> anyhow::Result<Option<serde_json::Map<String, Value>>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(self.output(table_output)?)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item().map(item_to_json))
    }

    /// Waits until the item `pk` of a table satisfies `check`; returns it.
    pub async fn wait_for_item(
        &self,
        table_output: &str,
        pk: &str,
        what: &str,
        deadline: Duration,
        check: impl Fn(&serde_json::Map<String, Value>) -> bool,
    ) -> anyhow::Result<serde_json::Map<String, Value>> {
        let last = std::sync::Mutex::new(None);
        let result = wait_for(
            &format!("{table_output}[{pk}] {what}"),
            deadline,
            || async {
                let item = self.item(table_output, pk).await?;
                *last.lock().unwrap_or_else(|e| e.into_inner()) = item.clone();
                Ok(item.filter(|i| check(i)))
            },
        )
        .await;
        result.map_err(|e| {
            anyhow::anyhow!(
                "{e} (last seen: {:?})",
                last.lock().unwrap_or_else(|e| e.into_inner())
            )
        })
    }

    /// Invokes a function synchronously with `payload`; a function error is an `Err` whose
    /// message holds its error type and message.
    pub async fn invoke(&self, function_output: &str, payload: &Value) -> anyhow::Result<Value> {
        let out = self
            .lambda
            .invoke()
            .function_name(self.output(function_output)?)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            .send()
            .await?;
        let body = out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default();
        if let Some(error) = out.function_error() {
            anyhow::bail!(
                "{function_output} failed ({error}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// Waits until a message whose raw body satisfies `matches` is visible in the queue
    /// named by an output (a DLQ holding something that is not an envelope, say).
    pub async fn wait_for_body_in(
        &self,
        queue_output: &str,
        what: &str,
        deadline: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        wait_for(&format!("{what} in {queue_output}"), deadline, || async {
            let bodies = self.bodies_in(queue_output, |_| false).await?;
            Ok(bodies.iter().any(|b| matches(b)).then_some(()))
        })
        .await
    }

    /// Log lines of a function (by its name output) that contain every one of `terms`,
    /// from CloudWatch Logs. The filter is also applied here, so a backend that ignores
    /// `filterPattern` cannot widen the answer.
    pub async fn log_lines(
        &self,
        function_output: &str,
        terms: &[&str],
    ) -> anyhow::Result<Vec<String>> {
        self.log_lines_since(function_output, terms, None).await
    }

    /// [`Stack::log_lines`] logged at or after `since`.
    pub async fn log_lines_since(
        &self,
        function_output: &str,
        terms: &[&str],
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Vec<String>> {
        let group = format!("/aws/lambda/{}", self.output(function_output)?);
        self.group_log_lines(&group, terms, since).await
    }

    /// [`Stack::log_lines_since`] for any log group; empty while the group does not exist.
    pub async fn group_log_lines(
        &self,
        group: &str,
        terms: &[&str],
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Vec<String>> {
        let events = self.group_log_events(group, terms, since).await?;
        Ok(events.into_iter().map(|(_, message)| message).collect())
    }

    /// [`Stack::group_log_lines`] with each line's log stream (one per Lambda instance).
    pub async fn group_log_events(
        &self,
        group: &str,
        terms: &[&str],
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let pattern = terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" ");
        let mut lines = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = match self
                .logs
                .filter_log_events()
                .log_group_name(group)
                .filter_pattern(&pattern)
                .set_start_time(since.map(|t| t.timestamp_millis()))
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(out) => out,
                // No invocation has logged yet.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(lines)
                }
                Err(e) => return Err(e.into()),
            };
            lines.extend(out.events().iter().filter_map(|e| {
                let message = e.message()?;
                terms.iter().all(|t| message.contains(t)).then(|| {
                    let stream = e.log_stream_name().unwrap_or_default();
                    (stream.to_owned(), message.to_owned())
                })
            }));
            match out.next_token() {
                Some(t) if Some(t) != token.as_deref() && !out.events().is_empty() => {
                    token = Some(t.to_owned())
                }
                _ => return Ok(lines),
            }
        }
    }

    /// The `REPORT` line of each invocation of a function (by its name output) since
    /// `since`: what Lambda measured and billed, and the instance (log stream) it ran on.
    pub async fn reports_since(
        &self,
        function_output: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Vec<Report>> {
        let group = format!("/aws/lambda/{}", self.output(function_output)?);
        let events = self
            .group_log_events(&group, &["REPORT"], Some(since))
            .await?;
        Ok(events
            .into_iter()
            .filter_map(|(stream, line)| Report::parse(stream, &line))
            .collect())
    }

    /// Waits until a function has logged `count` lines holding every one of `terms`.
    pub async fn wait_for_log_lines(
        &self,
        function_output: &str,
        terms: &[&str],
        count: usize,
        deadline: Duration,
    ) -> anyhow::Result<Vec<String>> {
        self.wait_for_log_lines_since(function_output, terms, count, None, deadline)
            .await
    }

    /// [`Stack::wait_for_log_lines`], counting lines logged at or after `since` only.
    pub async fn wait_for_log_lines_since(
        &self,
        function_output: &str,
        terms: &[&str],
        count: usize,
        since: Option<chrono::DateTime<chrono::Utc>>,
        deadline: Duration,
    ) -> anyhow::Result<Vec<String>> {
        wait_for(
            &format!("{count} log line(s) of {function_output} with {terms:?}"),
            deadline,
            || async {
                let lines = self.log_lines_since(function_output, terms, since).await?;
                Ok((lines.len() >= count).then_some(lines))
            },
        )
        .await
    }

    /// Sends a raw body to the queue named by an output; returns the message id.
    pub async fn send_raw(&self, queue_output: &str, body: &str) -> anyhow::Result<String> {
        let out = self
            .sqs
            .send_message()
            .queue_url(self.output(queue_output)?)
            .message_body(body)
            .send()
            .await?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    /// The front door's base URL: on LocalStack path-style (no DNS needed); on AWS the
    /// stack's `ApiUrl`, unless `AWS_ENDPOINT_URL` sends every client to an emulator, whose
    /// API is then reached the same path-style way through that endpoint.
    pub fn api_base(&self) -> anyhow::Result<String> {
        if on_aws() {
            return Ok(match std::env::var("AWS_ENDPOINT_URL") {
                Ok(emulator) if !emulator.is_empty() => format!(
                    "{}/_aws/execute-api/{}/Prod",
                    emulator.trim_end_matches('/'),
                    self.output("ApiId")?
                ),
                _ => self.output("ApiUrl")?.trim_end_matches('/').to_owned(),
            });
        }
        Ok(format!(
            "{}/_aws/execute-api/{}/Prod",
            endpoint(),
            self.output("ApiId")?
        ))
    }

    /// Starts an execution of the state machine named by an output and waits for it to
    /// end: its status, and its output (or `{"error", "cause"}` when it has none).
    pub async fn execute(
        &self,
        state_machine_output: &str,
        name: Option<&str>,
        input: &Value,
    ) -> anyhow::Result<(aws_sdk_sfn::types::ExecutionStatus, Value)> {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(self.output(state_machine_output)?)
            .set_name(name.map(str::to_owned))
            .input(input.to_string())
            .send()
            .await?;
        let arn = started.execution_arn().to_owned();
        wait_for(
            &format!("{state_machine_output} execution {arn} to end"),
            Duration::from_secs(60),
            || async {
                let d = self
                    .sfn
                    .describe_execution()
                    .execution_arn(&arn)
                    .send()
                    .await?;
                if d.status() == &aws_sdk_sfn::types::ExecutionStatus::Running {
                    return Ok(None);
                }
                let result = match d.output() {
                    Some(out) => serde_json::from_str(out)?,
                    None => json!({"error": d.error(), "cause": d.cause()}),
                };
                Ok(Some((d.status().clone(), result)))
            },
        )
        .await
    }

    /// Every execution of the state machine named by an output (all pages), newest first.
    pub async fn execution_arns(&self, state_machine_output: &str) -> anyhow::Result<Vec<String>> {
        let arn = self.output(state_machine_output)?;
        let mut executions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .list_executions()
                .state_machine_arn(&arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await?;
            executions.extend(
                page.executions()
                    .iter()
                    .map(|e| e.execution_arn().to_owned()),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(executions);
            }
        }
    }

    /// Executions of the state machine named by an output whose input's `field` is one of
    /// `wanted`: that value -> each such execution's (input, output).
    pub async fn executions_by_input(
        &self,
        state_machine_output: &str,
        field: &str,
        wanted: &[String],
    ) -> anyhow::Result<HashMap<String, Vec<(Value, Value)>>> {
        let mut found: HashMap<String, Vec<(Value, Value)>> = HashMap::new();
        for execution in self.execution_arns(state_machine_output).await? {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&execution)
                .send()
                .await?;
            let input: Value = serde_json::from_str(described.input().unwrap_or("null"))?;
            let Some(key) = input[field]
                .as_str()
                .filter(|v| wanted.iter().any(|w| w == v))
                .map(str::to_owned)
            else {
                continue;
            };
            let output: Value = described
                .output()
                .map(serde_json::from_str)
                .transpose()?
                .unwrap_or(Value::Null);
            found.entry(key).or_default().push((input, output));
        }
        Ok(found)
    }

    /// Like [`Stack::execute`], for an execution that must succeed: its output.
    pub async fn execute_ok(
        &self,
        state_machine_output: &str,
        name: Option<&str>,
        input: &Value,
    ) -> anyhow::Result<Value> {
        match self.execute(state_machine_output, name, input).await? {
            (aws_sdk_sfn::types::ExecutionStatus::Succeeded, output) => Ok(output),
            (other, output) => {
                anyhow::bail!("{state_machine_output} execution ended {other:?}: {output}")
            }
        }
    }

    /// Redrives the DLQ through the stack's runbook state machine (SQS message move task)
    /// and waits for the execution to succeed.
    pub async fn redrive_dlq(&self) -> anyhow::Result<()> {
        self.execute_ok("LedgerRedriveStateMachineArn", None, &json!({}))
            .await
            .map(drop)
    }
}

/// One invocation's `REPORT` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The log stream, i.e. the instance that ran it.
    pub stream: String,
    /// `Duration`, in milliseconds.
    pub duration_ms: f64,
    /// `Billed Duration`, in milliseconds.
    pub billed_ms: f64,
    /// `Max Memory Used`, in MB, where the line has it.
    pub max_memory_mb: Option<f64>,
}

impl Report {
    /// Reads `REPORT RequestId: … Duration: 12.34 ms Billed Duration: 13 ms …`.
    pub fn parse(stream: String, line: &str) -> Option<Report> {
        let field = |name: &str| -> Option<f64> {
            let at = line.find(name)? + name.len();
            line[at..].trim_start().split(' ').next()?.parse().ok()
        };
        // "Duration:" also ends "Billed Duration:": take the first, which is Lambda's own.
        let duration_ms = field("\tDuration:").or_else(|| field(" Duration:"))?;
        Some(Report {
            stream,
            duration_ms,
            billed_ms: field("Billed Duration:")?,
            max_memory_mb: field("Max Memory Used:"),
        })
    }
}

#[cfg(test)]
mod report_tests {
    use super::Report;

    #[test]
    fn a_report_line_reads_as_lambda_writes_it() {
        let line = "REPORT RequestId: 3f0c\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 21 MB\t";
        let r = Report::parse("s-1".into(), line).unwrap();
        assert_eq!(
            (r.duration_ms, r.billed_ms, r.max_memory_mb),
            (12.34, 13.0, Some(21.0))
        );
        assert!(Report::parse("s".into(), "START RequestId: 3f0c").is_none());
    }
}
