//! Transactional outbox under a bus outage: orders written through the front door while
//! the relay cannot reach the bus are all delivered once it can, each applied once, and
//! each order's events in order.
//!
//! The outage is real: the relay's EventBridge endpoint (`AWS_ENDPOINT_URL_EVENTBRIDGE`,
//! read by the AWS SDK) points at a closed port on loopback, so every PutEvents fails to
//! connect. (A bus name that does not exist would not do: LocalStack accepts events for
//! it and drops them.)
//!
//! And under a burst through a slow bus: each PutEvents held by a proxy long enough that a
//! full stream batch would outlive the relay's timeout, every order is published once and
//! its fulfilment workflow (a target that is not idempotent) started once.

use std::collections::HashMap;
use std::time::Duration;

use eventkit_e2e::fault_proxy::{FaultProxy, Mode};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{http, skip_on_aws, unique, wait_for};
use serde_json::{json, Value};

/// Both tests reconfigure the one relay: one at a time.
static RELAY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ORDERS: usize = 8;

/// Where the relay's EventBridge calls go while the bus is "down": nothing listens there.
const UNREACHABLE: &str = "http://127.0.0.1:9";

/// Cuts the relay off from the bus (`reachable = false`) or reconnects it, and waits until
/// the change is live.
async fn bus_reachable(stack: &Stack, reachable: bool) -> anyhow::Result<()> {
    let endpoint = (!reachable).then_some(UNREACHABLE);
    relay_settings(stack, endpoint, None).await
}

/// Points the relay's EventBridge calls at `endpoint` (`None`: the stack's own) and, if
/// given, sets its timeout; waits until the change is live.
async fn relay_settings(
    stack: &Stack,
    endpoint: Option<&str>,
    timeout: Option<i32>,
) -> anyhow::Result<()> {
    let function = stack.output("OutboxRelayFunctionName")?;
    let current = stack
        .lambda
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await?;
    let mut variables: HashMap<String, String> = current
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    match endpoint {
        None => variables.remove("AWS_ENDPOINT_URL_EVENTBRIDGE"),
        Some(url) => variables.insert("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), url.into()),
    };
    stack
        .lambda
        .update_function_configuration()
        .function_name(&function)
        .set_timeout(timeout)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await?;
    wait_for(
        "the relay's configuration to apply",
        Duration::from_secs(60),
        || async {
            let c = stack
                .lambda
                .get_function_configuration()
                .function_name(&function)
                .send()
                .await?;
            let live = c
                .environment()
                .and_then(|e| e.variables())
                .and_then(|v| v.get("AWS_ENDPOINT_URL_EVENTBRIDGE"))
                .map(String::as_str);
            let done = c.last_update_status()
                == Some(&aws_sdk_lambda::types::LastUpdateStatus::Successful);
            let timed = timeout.is_none_or(|t| c.timeout() == Some(t));
            Ok((done && timed && live == endpoint).then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn nothing_is_lost_or_doubled_while_the_bus_is_down_and_order_holds() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let _relay = RELAY.lock().await;
    let broken_at = chrono::Utc::now();
    bus_reachable(&stack, false).await?;
    let outcome = async {
        let base = stack.api_base()?;
        let customer = unique("cust-outbox");
        let mut ids = Vec::new();
        for i in 0..ORDERS {
            let order = json!({"customer": customer, "kind": "digital", "lines": [{"sku": "ebook", "quantity": 1, "unit_price": 100 + i}]});
            let (status, body) = http("POST", &format!("{base}/orders"), Some(&order), &[]).await?;
            anyhow::ensure!(status == 202, "POST /orders answered {status}: {body}");
            ids.push(body["order_id"].as_str().unwrap_or_default().to_owned());
        }
        // Every other order is cancelled while the bus is still down.
        for id in ids.iter().step_by(2) {
            let (status, body) = http("POST", &format!("{base}/orders/{id}/cancel"), None, &[]).await?;
            anyhow::ensure!(status == 202, "cancel answered {status}: {body}");
        }
        // The relay tried and failed on them (its log says so)...
        stack
            .wait_for_log_lines_since("OutboxRelayFunctionName", &["not published"], 1, Some(broken_at), Duration::from_secs(60))
            .await?;
        // ...and nothing reached the read model.
        for id in &ids {
            anyhow::ensure!(stack.item("OrderViewsTableName", id).await?.is_none(), "order {id} reached the view while the bus was down");
        }
        Ok::<_, anyhow::Error>((customer, ids))
    }
    .await;
    // The bus comes back whatever happened above.
    bus_reachable(&stack, true).await?;
    let (customer, ids) = outcome?;

    for (i, id) in ids.iter().enumerate() {
        let (status, sequence) = if i % 2 == 0 {
            ("CANCELLED", 2)
        } else {
            ("PLACED", 1)
        };
        let view = stack
            .wait_for_item(
                "OrderViewsTableName",
                id,
                status,
                Duration::from_secs(120),
                |v| v.get("status") == Some(&json!(status)),
            )
            .await?;
        assert_eq!(
            view["sequence"],
            json!(sequence),
            "order {id}: events applied in order, each once"
        );
    }
    // Each order counted once in the totals, though the relay re-sent after the outage.
    let spent: i64 = (0..ORDERS as i64).map(|i| 100 + i).sum();
    let totals = stack
        .wait_for_item(
            "CustomerTotalsTableName",
            &customer,
            "every order counted",
            Duration::from_secs(60),
            |t| t["orders"] == json!(ORDERS),
        )
        .await?;
    assert_eq!(
        (totals["orders"].clone(), totals["spent"].clone()),
        (json!(ORDERS), Value::from(spent))
    );
    Ok(())
}

/// Orders in the burst: the 50.
const BURST: usize = 50;
/// Each PutEvents held this long, on top of LocalStack's own time for 10 events (0.3 s
/// idle; 4-6 s typical during the burst, its gateway busy with the consumers the burst
/// wakes; over 15.75 s in two runs of five, the test then failing on the relay's known limit:
/// a call cut off at the deadline is sent again).
const BUS_DELAY_MS: u64 = 24_000;
/// The relay's timeout during the burst. A stream batch of 20 records is two PutEvents,
/// at least 48 s through the slow bus: a relay that did not watch its deadline would be cut
/// off after sending the first, and the whole batch would be sent again. One fits with
/// 23.75 s left for LocalStack's own time, so the relay never has to cut a call short.
const RELAY_TIMEOUT_S: i32 = 48;

/// Lines of the audit log (every event on the bus) naming `customer`'s `order.placed`:
/// order id -> how many times it went on the bus.
async fn placed_on_bus(
    stack: &Stack,
    customer: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<HashMap<String, usize>> {
    let audit = stack.output("AuditLogGroupName")?;
    let mut counts = HashMap::new();
    for line in stack
        .group_log_lines(&audit, &[customer, "order.placed"], Some(since))
        .await?
    {
        let event: Value = serde_json::from_str(&line)?;
        if event["detail-type"] != "order.placed" {
            continue;
        }
        let order = event["detail"]["data"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *counts.entry(order).or_default() += 1;
    }
    Ok(counts)
}

// Run alone after the pattern suite (`make patterns-test`): it slows every outbox event
// for about two minutes, which would hold up the other patterns' orders, and their load
// would make LocalStack's own share of a PutEvents unpredictable.
#[tokio::test]
#[ignore = "slows the shared relay: run alone by make patterns-test"]
async fn a_burst_through_a_slow_bus_is_published_once_and_each_order_fulfilled_once(
) -> anyhow::Result<()> {
    skip_on_aws!(
        "slows the bus with a proxy on this machine's loopback, which a function on AWS \
         cannot reach"
    );
    let stack = Stack::load().await?;
    let _relay = RELAY.lock().await;
    let function = stack.output("OutboxRelayFunctionName")?;
    let timeout = stack
        .lambda
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await?
        .timeout();
    let proxy = FaultProxy::in_front_of_localstack().await?;
    proxy.set(Mode::Delay(BUS_DELAY_MS));
    let started = chrono::Utc::now();
    relay_settings(&stack, Some(&proxy.endpoint()), Some(RELAY_TIMEOUT_S)).await?;
    let customer = unique("cust-burst");
    let outcome = async {
        let base = stack.api_base()?;
        let posts = (0..BURST).map(|i| {
            let order = json!({"customer": customer, "kind": "digital",
                "lines": [{"sku": "ebook", "quantity": 1, "unit_price": 100 + i}]});
            let url = format!("{base}/orders");
            async move {
                let (status, body) = http("POST", &url, Some(&order), &[]).await?;
                anyhow::ensure!(status == 202, "POST /orders answered {status}: {body}");
                Ok(body["order_id"].as_str().unwrap_or_default().to_owned())
            }
        });
        let ids = futures::future::try_join_all(posts).await?;
        // Every order on the bus at least once (its view placed)...
        for id in &ids {
            stack
                .wait_for_item(
                    "OrderViewsTableName",
                    id,
                    "PLACED",
                    Duration::from_secs(240),
                    |v| v.get("status") == Some(&json!("PLACED")),
                )
                .await?;
        }
        Ok::<_, anyhow::Error>(ids)
    }
    .await;
    relay_settings(&stack, None, timeout).await?;
    // What LocalStack added to the hold, so a failure can be read against the margin.
    println!(
        "slowest PutEvents past the hold: {} ms (margin {} ms)",
        proxy.slowest_upstream_ms(),
        RELAY_TIMEOUT_S as u64 * 1000 - 250 - BUS_DELAY_MS
    );
    let ids = outcome?;
    // ...and the relay did stop before its deadline: the case this test is about happened.
    let stops = stack
        .log_lines_since(
            "OutboxRelayFunctionName",
            &["outbox relay: stopping before"],
            Some(started),
        )
        .await?;
    anyhow::ensure!(
        !stops.is_empty(),
        "no relay batch had to stop at its deadline: the bus was not slow enough to test it"
    );

    // Each published once: the audit log saw each order's event once (it logs every event
    // on the bus), waiting until it has seen them all.
    let counts = wait_for(
        "every order.placed in the audit log",
        Duration::from_secs(120),
        || async {
            let counts = placed_on_bus(&stack, &customer, started).await?;
            Ok(ids
                .iter()
                .all(|id| counts.contains_key(id))
                .then_some(counts))
        },
    )
    .await?;
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");

    // Each order's fulfilment workflow started once.
    let runs = wait_for(
        "a fulfilment execution per order",
        Duration::from_secs(120),
        || async {
            let runs = stack
                .executions_by_input("OrderFulfilmentStateMachineArn", "order_id", &ids)
                .await?;
            Ok((runs.len() == ids.len()).then_some(runs))
        },
    )
    .await?;
    let again: Vec<_> = runs
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(order, r)| (order, r.len()))
        .collect();
    assert!(
        again.is_empty(),
        "fulfilment started more than once: {again:?}"
    );
    Ok(())
}
