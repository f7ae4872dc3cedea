//! Not a pattern, but what every pattern relies on: a message landing in a DLQ sets off
//! that DLQ's alarm on LocalStack's CloudWatch (queue depth published by SQS, the alarm
//! evaluated by CloudWatch, as on AWS). The DLQ is one no test writes to (the replay
//! rebuild rule's target DLQ), so the message that lands is this test's.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_cloudwatch::types::StateValue;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{skip_on_aws, unique, wait_for};

/// The alarm's logical id, as far as every CloudFormation keeps it in the generated name
/// (LocalStack cuts it to 24 characters: `<stack>-OrderReplayRebuildDlqAla-<suffix>`).
const ALARM: &str = "OrderReplayRebuildDlq";

async fn state(stack: &Stack, alarm: &str) -> anyhow::Result<Option<StateValue>> {
    let found = aws_sdk_cloudwatch::Client::new(&stack.config)
        .describe_alarms()
        .alarm_names(alarm)
        .send()
        .await?;
    Ok(found
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value().cloned()))
}

/// Deletes every message in the queue (not PurgeQueue: it refuses a second purge within
/// 60 s, which this test would need).
async fn drain(stack: &Stack, url: &str) -> anyhow::Result<()> {
    loop {
        let got = stack
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await?;
        if got.messages().is_empty() {
            return Ok(());
        }
        for m in got.messages() {
            if let Some(handle) = m.receipt_handle() {
                stack
                    .sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
}

#[tokio::test]
async fn a_message_landing_in_a_dlq_sets_off_its_alarm() -> anyhow::Result<()> {
    skip_on_aws!(
        "SQS publishes a queue's metrics to CloudWatch only while the queue is active (an API \
         call within six hours), and this DLQ is idle until the test: the alarm can fire well \
         after the test's 150 s deadline. docs/AWS.md says how to watch it fire by hand"
    );
    let stack = Stack::load().await?;
    let stack_name = stack.name()?;
    let alarms = aws_sdk_cloudwatch::Client::new(&stack.config)
        .describe_alarms()
        .alarm_name_prefix(format!("{stack_name}-{ALARM}"))
        .send()
        .await?;
    let [alarm] = alarms.metric_alarms() else {
        anyhow::bail!(
            "expected one alarm named {stack_name}-{ALARM}*, found {:?}",
            alarms
                .metric_alarms()
                .iter()
                .map(|a| a.alarm_name())
                .collect::<Vec<_>>()
        );
    };
    let name = alarm
        .alarm_name()
        .context("alarm without a name")?
        .to_owned();
    // The queue the alarm watches, read from the alarm itself: the test proves its wiring.
    let queue = alarm
        .dimensions()
        .iter()
        .find(|d| d.name() == Some("QueueName"))
        .and_then(|d| d.value())
        .with_context(|| format!("{name} has no QueueName dimension"))?
        .to_owned();
    let url = stack
        .sqs
        .get_queue_url()
        .queue_name(&queue)
        .send()
        .await?
        .queue_url()
        .context("no queue url")?
        .to_owned();

    // Before: nothing in the DLQ, and the alarm not firing (a run a minute ago may have left
    // it in ALARM until its next evaluation).
    drain(&stack, &url).await?;
    wait_for(
        &format!("{name} to leave ALARM with {queue} empty"),
        Duration::from_secs(150),
        || async { Ok((state(&stack, &name).await? != Some(StateValue::Alarm)).then_some(())) },
    )
    .await?;

    let body = format!(
        r#"{{"id":"{}","note":"dead-lettered by the alarm test"}}"#,
        unique("dl")
    );
    stack
        .sqs
        .send_message()
        .queue_url(&url)
        .message_body(&body)
        .send()
        .await?;
    let started = std::time::Instant::now();
    let fired = wait_for(
        &format!("{name} to go to ALARM after a message landed in {queue}"),
        Duration::from_secs(150),
        || async { Ok((state(&stack, &name).await? == Some(StateValue::Alarm)).then_some(())) },
    )
    .await;
    // Leave the DLQ empty for the next run, whatever happened.
    drain(&stack, &url).await?;
    fired?;
    println!(
        "{name} fired {:.0} s after a message landed in {queue}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
