//! What the deployed functions emit for CloudWatch: EMF metrics in their log streams that
//! follow the published specification and count what happened, and a dashboard per pattern.
//! Run by `make patterns-test` after the patterns, so every function has run.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::operation::RequestId;
use eventkit::emf::{self, spec};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::wait_for;
use serde_json::{json, Value};

fn sqs_record(id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("rh-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:observability-test",
        "awsRegion": "us-east-1"
    })
}

/// Sum of each metric per dimension set over the given EMF lines, each checked first.
fn sums(lines: &[String]) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    let mut sums = BTreeMap::new();
    for line in lines {
        let data = spec::check_line(line).unwrap_or_else(|e| panic!("{e}\nline: {line}"));
        for d in data {
            *sums.entry((d.name, d.dimensions)).or_insert(0.0) += d.values.iter().sum::<f64>();
        }
    }
    sums
}

#[tokio::test]
#[ignore = "needs the deployed stack: make patterns-test"]
async fn one_invocation_of_a_deployed_consumer_emits_the_counts_of_its_batch() -> anyhow::Result<()>
{
    let stack = Stack::load().await?;
    let account = format!("metrics-{}", uuid::Uuid::new_v4());
    stack.open_account(&account).await?;
    let entry = Stack::entry(&account, 5);
    let unknown = eventkit::Envelope::new("eventkit.test", "ledger.entry.audited", json!({}));
    // One posting, its duplicate, a type nobody handles, a body that is no envelope.
    let event = json!({"Records": [
        sqs_record("m-1", &entry.to_json()),
        sqs_record("m-2", &entry.to_json()),
        sqs_record("m-3", &unknown.to_json()),
        sqs_record("m-4", "{not an envelope"),
    ]});
    let function = stack.output("P2PConsumerFunctionName")?;
    let out = stack
        .lambda
        .invoke()
        .function_name(&function)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await?;
    let request_id = out
        .request_id()
        .expect("Lambda answers with a request id")
        .to_owned();
    let answer: Value = serde_json::from_slice(out.payload().map(|p| p.as_ref()).unwrap_or(b"{}"))?;
    assert_eq!(
        answer["batchItemFailures"].as_array().map(Vec::len),
        Some(2),
        "unknown type and unreadable body fail: {answer}"
    );

    let lines = stack
        .wait_for_log_lines(
            "P2PConsumerFunctionName",
            &["_aws", &request_id],
            2,
            Duration::from_secs(30),
        )
        .await?;
    let sums = sums(&lines);
    let dims = |event_type: Option<&str>| {
        let mut d = vec![
            ("Function".to_owned(), function.clone()),
            ("Pattern".to_owned(), "point-to-point".to_owned()),
        ];
        if let Some(t) = event_type {
            d.push(("EventType".to_owned(), t.to_owned()));
        }
        d
    };
    let get = |name: &str, event_type: Option<&str>| {
        sums.get(&(name.to_owned(), dims(event_type)))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(get(emf::BATCH_SIZE, None), 4.0, "{sums:?}");
    assert_eq!(get(emf::RECORDS_PROCESSED, None), 2.0, "{sums:?}");
    assert_eq!(get(emf::RECORDS_FAILED, None), 2.0, "{sums:?}");
    assert_eq!(
        get(emf::RECORDS_PROCESSED, Some("ledger.entry.posted")),
        2.0
    );
    assert_eq!(
        get(emf::DUPLICATES_ABSORBED, Some("ledger.entry.posted")),
        1.0
    );
    assert_eq!(get(emf::UNKNOWN_TYPE, None), 1.0);
    assert_eq!(stack.account(&account).await?, Some((5, 1)), "posted once");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the deployed stack after the pattern tests: make patterns-test"]
async fn every_function_logs_valid_emf_under_its_pattern_and_each_pattern_has_a_dashboard(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let stack_name = stack
        .output("P2PConsumerFunctionName")?
        .trim_end_matches("-p2p-consumer")
        .to_owned();
    let mut functions = Vec::new();
    let mut marker = None;
    loop {
        let page = stack
            .lambda
            .list_functions()
            .set_marker(marker.clone())
            .send()
            .await?;
        functions.extend(page.functions().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let mut checked = 0;
    let mut patterns = std::collections::BTreeSet::new();
    for f in &functions {
        let (Some(name), Some(vars)) = (
            f.function_name(),
            f.environment().and_then(|e| e.variables()),
        ) else {
            continue;
        };
        let Some(pattern) = vars.get("EVENTKIT_PATTERN") else {
            continue;
        };
        patterns.insert(pattern.clone());
        let group = format!("/aws/lambda/{name}");
        let lines = wait_for(
            &format!("EMF documents in {group}"),
            Duration::from_secs(20),
            || async {
                let lines: Vec<String> = stack
                    .group_log_lines(&group, &["_aws"], None)
                    .await?
                    .into_iter()
                    .filter(|m| spec::is_emf(m))
                    .collect();
                Ok((!lines.is_empty()).then_some(lines))
            },
        )
        .await?;
        for line in &lines {
            let data = spec::check_line(line).map_err(|e| anyhow::anyhow!("{group}: {e}"))?;
            for d in data {
                assert_eq!(
                    &d.dimensions[..2],
                    &[
                        ("Function".to_owned(), name.to_owned()),
                        ("Pattern".to_owned(), pattern.clone())
                    ],
                    "{group}: {line}"
                );
            }
        }
        checked += lines.len();
    }
    assert!(checked > 0, "no function of the stack emitted metrics");
    let dashboards = stack
        .cloudwatch
        .list_dashboards()
        .dashboard_name_prefix(format!("{stack_name}-"))
        .send()
        .await?;
    let names: Vec<&str> = dashboards
        .dashboard_entries()
        .iter()
        .filter_map(|d| d.dashboard_name())
        .collect();
    for pattern in &patterns {
        assert!(
            names.contains(&format!("{stack_name}-{pattern}").as_str()),
            "no dashboard for {pattern}: {names:?}"
        );
    }
    println!(
        "{checked} EMF documents valid across {} functions; {} dashboards",
        functions.len(),
        names.len()
    );
    Ok(())
}
