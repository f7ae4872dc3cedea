//! What the deployed functions emit for CloudWatch: EMF metrics in their log streams that
//! follow the published specification and count what happened, and a dashboard per pattern.
//! Run by `make patterns-test` after the patterns, so every function has run.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::operation::RequestId;
use eventkit::emf::{self, spec};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::target::{on_aws, report_skip};
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
    let stack_name = stack.name()?;
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
        // An AWS account holds other functions than this stack's; of its own, the replay
        // rebuild runs only in the part of bus_fanout that skips on AWS.
        if on_aws() && !name.starts_with(&format!("{stack_name}-")) {
            continue;
        }
        if on_aws() && name == format!("{stack_name}-customer-totals-rebuild") {
            report_skip(
                "every_function_logs_valid_emf_under_its_pattern_and_each_pattern_has_a_dashboard",
                &format!("{name}: only replayed events reach it, and the replay skips on AWS"),
            );
            patterns.insert(pattern.clone());
            continue;
        }
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
    let dashboards = aws_sdk_cloudwatch::Client::new(&stack.config)
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

/// One exported span (OTLP/JSON, one document a line) and the function that logged it.
#[derive(Debug, Clone)]
struct Span {
    function: String,
    trace: String,
    id: String,
    parent: Option<String>,
    name: String,
    kind: u64,
    event_id: Option<String>,
}

fn read_span(function: &str, line: &str) -> Option<Span> {
    let doc: Value = serde_json::from_str(line).ok()?;
    let span = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let event_id = span["attributes"].as_array().and_then(|a| {
        a.iter()
            .find(|kv| kv["key"] == "cloudevents.event_id")
            .and_then(|kv| kv["value"]["stringValue"].as_str().map(str::to_owned))
    });
    Some(Span {
        function: function.to_owned(),
        trace: span["traceId"].as_str()?.to_owned(),
        id: span["spanId"].as_str()?.to_owned(),
        parent: span["parentSpanId"].as_str().map(str::to_owned),
        name: span["name"].as_str()?.to_owned(),
        kind: span["kind"].as_u64()?,
        event_id,
    })
}

#[tokio::test]
#[ignore = "needs the deployed stack: make patterns-test"]
async fn one_order_is_one_trace_from_the_front_door_through_the_outbox_relay_and_the_bus(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let base = stack.api_base()?;
    // The caller's own trace: everything the order causes must join it.
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let caller = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let traceparent = format!("00-{trace}-{caller}-01");
    let order = json!({"customer": eventkit_e2e::unique("cust-trace"), "kind": "physical",
        "lines": [{"sku": "mug", "quantity": 1, "unit_price": 900}]});
    let (status, accepted) = eventkit_e2e::http(
        "POST",
        &format!("{base}/orders"),
        Some(&order),
        &[("traceparent", traceparent.as_str())],
    )
    .await?;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().unwrap_or_default().to_owned();

    // front door -> outbox relay -> bus -> the order view's queue, the customer totals
    // function (a direct rule target) and the sender router's queue.
    let functions = [
        "FrontDoorFunctionName",
        "OutboxRelayFunctionName",
        "OrderViewsFunctionName",
        "CustomerTotalsFunctionName",
        "SenderRouterFunctionName",
    ];
    let spans = wait_for(
        "the order's spans in every function's log",
        Duration::from_secs(90),
        || async {
            let mut spans = Vec::new();
            for f in functions {
                let lines = stack
                    .log_lines_since(f, &["resourceSpans", &trace], None)
                    .await?;
                spans.extend(lines.iter().filter_map(|l| read_span(f, l)));
            }
            let consumers = spans
                .iter()
                .filter(|s| s.kind == 5 && s.event_id.as_deref() == Some(event_id.as_str()))
                .count();
            // Each function writes its spans when they end, and its log reaches CloudWatch
            // on its own time: the relay's can arrive after the consumers' it caused.
            let has = |function: &str, kind: u64| {
                spans
                    .iter()
                    .any(|s| s.function == function && s.kind == kind)
            };
            let whole = consumers >= 3
                && has("FrontDoorFunctionName", 2)
                && has("OutboxRelayFunctionName", 4);
            Ok(whole.then_some(spans))
        },
    )
    .await?;
    for s in &spans {
        assert_eq!(s.trace, trace, "every span in the caller's trace: {s:?}");
    }
    let one = |function: &str, kind: u64| -> Span {
        let found: Vec<&Span> = spans
            .iter()
            .filter(|s| s.function == function && s.kind == kind)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one span of kind {kind} in {function}: {spans:#?}"
        );
        found[0].clone()
    };
    let door = one("FrontDoorFunctionName", 2);
    assert_eq!(door.name, "POST /orders");
    assert_eq!(
        door.parent.as_deref(),
        Some(caller.as_str()),
        "the caller's span is the parent"
    );
    let relay = one("OutboxRelayFunctionName", 4);
    assert_eq!(relay.name, "send order.placed");
    assert_eq!(relay.event_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(
        relay.parent.as_deref(),
        Some(door.id.as_str()),
        "the relay continues the request"
    );
    let mut consumers = Vec::new();
    for f in &functions[2..] {
        let consumer = one(f, 5);
        assert_eq!(consumer.name, "process order.placed");
        assert_eq!(consumer.event_id.as_deref(), Some(event_id.as_str()));
        assert_eq!(
            consumer.parent.as_deref(),
            Some(relay.id.as_str()),
            "{f} continues the relay's send"
        );
        consumers.push(consumer);
    }

    // The next producer: the sender router's command to the warehouse carries its span.
    let router_span = &consumers[2];
    let command = wait_for("the warehouse command", Duration::from_secs(30), || async {
        let bodies = stack
            .bodies_in("WarehouseQueueUrl", |b| b.contains(&event_id))
            .await?;
        Ok(bodies
            .into_iter()
            .find(|b| b.contains(&event_id))
            .map(|b| eventkit::Envelope::<Value>::from_json(&b)))
    })
    .await??;
    assert_eq!(command.causation_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(
        command.traceparent,
        Some(format!("00-{trace}-{}-01", router_span.id)),
        "the command is the sender router's span's child"
    );
    Ok(())
}

/// The consumer spans (kind 5) of `event_type`'s step envelopes in a function's log.
async fn step_spans(stack: &Stack, function: &str, trace: &str) -> anyhow::Result<Vec<Span>> {
    Ok(stack
        .log_lines_since(function, &["resourceSpans", trace], None)
        .await?
        .iter()
        .filter_map(|l| read_span(function, l))
        .filter(|s| s.kind == 5)
        .collect())
}

#[tokio::test]
#[ignore = "needs the deployed stack: make patterns-test"]
async fn a_sagas_steps_join_the_callers_trace_or_one_the_state_machine_starts() -> anyhow::Result<()>
{
    let stack = Stack::load().await?;
    let participants = [
        ("InventoryFunctionName", "process inventory.reserve"),
        ("PaymentFunctionName", "process payment.charge"),
        ("ShippingFunctionName", "process shipping.arrange"),
    ];
    let checkout = |order: &str| {
        json!({"order_id": order, "customer": eventkit_e2e::unique("cust-trace"),
            "lines": [{"sku": "mug", "quantity": 1, "unit_price": 1500}], "total": 1500})
    };
    // With the caller's trace in the input: every step is its span's child.
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let caller = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let order = eventkit_e2e::unique("o-trace");
    let input = json!({"checkout": checkout(&order), "correlation_id": eventkit_e2e::unique("corr"),
        "traceparent": format!("00-{trace}-{caller}-01")});
    stack
        .execute_ok("CheckoutSagaStateMachineArn", Some(&order), &input)
        .await?;
    for (function, name) in participants {
        let spans = wait_for(
            &format!("{function}'s span in trace {trace}"),
            Duration::from_secs(60),
            || async {
                let spans = step_spans(&stack, function, &trace).await?;
                Ok((!spans.is_empty()).then_some(spans))
            },
        )
        .await?;
        assert_eq!(spans.len(), 1, "{spans:#?}");
        assert_eq!(spans[0].name, name);
        assert_eq!(
            spans[0].parent.as_deref(),
            Some(caller.as_str()),
            "{function}"
        );
    }

    // Without one: the state machine starts a trace, and every step joins that one.
    let order = eventkit_e2e::unique("o-trace");
    let input =
        json!({"checkout": checkout(&order), "correlation_id": eventkit_e2e::unique("corr")});
    stack
        .execute_ok("CheckoutSagaStateMachineArn", Some(&order), &input)
        .await?;
    let mut traces = std::collections::BTreeSet::new();
    for (function, name) in participants {
        let span = wait_for(
            &format!("{function}'s span for {order}"),
            Duration::from_secs(60),
            || async {
                let lines = stack
                    .log_lines_since(function, &["resourceSpans", &order], None)
                    .await?;
                Ok(lines
                    .iter()
                    .filter_map(|l| read_span(function, l))
                    .find(|s| s.kind == 5 && s.name == name))
            },
        )
        .await?;
        traces.insert(span.trace);
    }
    assert_eq!(traces.len(), 1, "one trace across the steps: {traces:?}");
    Ok(())
}

/// Spans of `function` in `trace` named `name` (any kind), waited for.
async fn named_span(
    stack: &Stack,
    function: &str,
    trace: &str,
    name: &str,
) -> anyhow::Result<Span> {
    wait_for(
        &format!("{function}'s span `{name}` in trace {trace}"),
        Duration::from_secs(60),
        || async {
            let lines = stack
                .log_lines_since(function, &["resourceSpans", trace], None)
                .await?;
            Ok(lines
                .iter()
                .filter_map(|l| read_span(function, l))
                .find(|s| s.name == name))
        },
    )
    .await
}

#[tokio::test]
#[ignore = "needs the deployed stack: make patterns-test"]
async fn a_request_and_its_reply_stay_in_the_callers_trace_by_queue_and_by_task_token(
) -> anyhow::Result<()> {
    use eventkit_contracts::stock::{CHECK_REPLIED, CHECK_REQUESTED, START_CHECK};
    let stack = Stack::load().await?;
    let new_trace = || {
        let trace = uuid::Uuid::new_v4().simple().to_string();
        let caller = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        (format!("00-{trace}-{caller}-01"), trace, caller)
    };
    // By queues: requester -> request queue -> responder -> reply queue -> requester.
    let (traceparent, trace, caller) = new_trace();
    let mut start = eventkit::Envelope::new(
        "eventkit.shop",
        START_CHECK,
        json!({"sku": "mug", "quantity": 1, "timeout_ms": 30_000}),
    );
    start.traceparent = Some(traceparent);
    stack
        .invoke("StockRequesterFunctionName", &serde_json::to_value(&start)?)
        .await?;
    let started = named_span(
        &stack,
        "StockRequesterFunctionName",
        &trace,
        &format!("process {START_CHECK}"),
    )
    .await?;
    assert_eq!(started.parent.as_deref(), Some(caller.as_str()));
    let asked = named_span(
        &stack,
        "StockResponderFunctionName",
        &trace,
        &format!("process {CHECK_REQUESTED}"),
    )
    .await?;
    let replied = named_span(
        &stack,
        "StockRequesterFunctionName",
        &trace,
        &format!("process {CHECK_REPLIED}"),
    )
    .await?;
    assert_eq!(
        asked.parent.as_deref(),
        Some(started.id.as_str()),
        "the request is the start's child"
    );
    assert_eq!(
        replied.parent.as_deref(),
        Some(asked.id.as_str()),
        "the reply is the request's child"
    );

    // By a task token: the workflow's request carries the caller's trace to the responder.
    let (traceparent, trace, caller) = new_trace();
    let input = json!({"sku": "ebook", "quantity": 1, "timeout_seconds": 30,
        "correlation_id": eventkit_e2e::unique("corr"), "traceparent": traceparent});
    let out = stack
        .execute_ok(
            "StockCheckStateMachineArn",
            Some(&eventkit_e2e::unique("check")),
            &input,
        )
        .await?;
    assert_eq!(out["outcome"], "answered", "{out}");
    let asked = named_span(
        &stack,
        "StockResponderFunctionName",
        &trace,
        &format!("process {CHECK_REQUESTED}"),
    )
    .await?;
    assert_eq!(asked.parent.as_deref(), Some(caller.as_str()));
    Ok(())
}
