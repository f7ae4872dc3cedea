//! Reading a conversation from CloudWatch Logs: its events from the audit log group (the
//! bus's audit rule writes every event there, as EventBridge delivered it) and its
//! failures and span timings from the stack's function log groups (the kit logs each
//! failure as JSON with the envelope's ids, and each span as OTLP/JSON when exported).

use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, Utc};
use eventkit::Envelope;
use serde_json::Value;

use crate::trace::{Conversation, Failure, Observed, Timing};

/// Why a conversation could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} from CloudWatch Logs failed: {reason}")]
pub struct FetchError {
    /// What was being read.
    pub what: String,
    /// What the SDK said.
    pub reason: String,
}

fn fetch_error<E: std::error::Error + 'static>(what: &str, e: E) -> FetchError {
    FetchError {
        what: what.to_owned(),
        reason: aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e).to_string(),
    }
}

/// Every log message of `group` matching `pattern` (paginated), with its timestamp.
async fn messages(
    logs: &Client,
    group: &str,
    pattern: &str,
) -> Result<Vec<(i64, String)>, FetchError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match logs
            .filter_log_events()
            .log_group_name(group)
            .set_filter_pattern((!pattern.is_empty()).then(|| pattern.to_owned()))
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(out)
            }
            Err(e) => return Err(fetch_error(group, e)),
        };
        out.extend(
            page.events()
                .iter()
                .filter_map(|e| Some((e.timestamp()?, e.message()?.to_owned()))),
        );
        match page.next_token() {
            Some(t) if Some(t) != token.as_deref() && !page.events().is_empty() => {
                token = Some(t.to_owned())
            }
            _ => return Ok(out),
        }
    }
}

fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The conversation's events in the audit log group.
pub async fn audit_events(
    logs: &Client,
    audit_group: &str,
    correlation_id: &str,
) -> Result<Vec<Observed>, FetchError> {
    let pattern = format!("{{ $.detail.correlationid = \"{correlation_id}\" }}");
    Ok(messages(logs, audit_group, &pattern)
        .await?
        .into_iter()
        .filter_map(|(ms, text)| {
            let event: Value = serde_json::from_str(&text).ok()?;
            let envelope = Envelope::from_value(event.get("detail")?.clone()).ok()?;
            (envelope.correlation_id == correlation_id).then_some(Observed {
                envelope,
                seen: at(ms),
            })
        })
        .collect())
}

/// Every event's `detail` in the audit log group (every envelope the bus carried), with
/// when it was logged.
pub async fn bus_details(logs: &Client, audit_group: &str) -> Result<Vec<Value>, FetchError> {
    Ok(messages(logs, audit_group, "")
        .await?
        .into_iter()
        .filter_map(|(_, text)| {
            serde_json::from_str::<Value>(&text)
                .ok()?
                .get_mut("detail")
                .map(Value::take)
        })
        .collect())
}

/// The failures logged for the conversation by the stack's functions (log groups
/// `/aws/lambda/<stack>-*`): JSON lines at level ERROR naming the correlation id.
pub async fn failures(
    logs: &Client,
    stack: &str,
    correlation_id: &str,
) -> Result<Vec<Failure>, FetchError> {
    Ok(function_logs(logs, stack, correlation_id).await?.0)
}

/// [`failures`], and the timings of the functions' exported spans naming the correlation
/// id (one read of each log group).
pub async fn function_logs(
    logs: &Client,
    stack: &str,
    correlation_id: &str,
) -> Result<(Vec<Failure>, Vec<Timing>), FetchError> {
    let prefix = format!("/aws/lambda/{stack}-");
    let mut groups = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix(&prefix)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| fetch_error("log groups", e))?;
        groups.extend(
            page.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name().map(str::to_owned)),
        );
        match page.next_token() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    let mut found = Vec::new();
    let mut timings = Vec::new();
    for group in groups {
        let function = group.trim_start_matches("/aws/lambda/").to_owned();
        for (ms, text) in messages(logs, &group, &format!("\"{correlation_id}\"")).await? {
            if text.contains("\"resourceSpans\"") {
                timings.extend(Timing::from_span_line(&function, &text));
                continue;
            }
            let Ok(line) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if line["level"] != "ERROR" || line["span"]["correlation_id"] != correlation_id {
                continue;
            }
            let error = line["error"]
                .as_str()
                .or_else(|| line["panic"].as_str())
                .or_else(|| line["message"].as_str())
                .unwrap_or("")
                .to_owned();
            found.push(Failure {
                function: function.clone(),
                event_id: line["span"]["event_id"].as_str().map(str::to_owned),
                error,
                count: 1,
                last: at(ms),
            });
        }
    }
    Ok((found, timings))
}

/// The whole conversation: events and failures.
pub async fn conversation(
    logs: &Client,
    stack: &str,
    audit_group: &str,
    correlation_id: &str,
) -> Result<Conversation, FetchError> {
    let events = audit_events(logs, audit_group, correlation_id).await?;
    let (failures, timings) = function_logs(logs, stack, correlation_id).await?;
    Ok(Conversation::build(correlation_id, events, failures).with_timings(timings))
}
