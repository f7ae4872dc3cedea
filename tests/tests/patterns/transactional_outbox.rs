//! Transactional outbox under a bus outage: orders written through the front door while
//! the relay cannot reach the bus are all delivered once it can, each applied once, and
//! each order's events in order.
//!
//! The outage is real: the relay's EventBridge endpoint (`AWS_ENDPOINT_URL_EVENTBRIDGE`,
//! read by the AWS SDK) points at a closed port on loopback, so every PutEvents fails to
//! connect. (A bus name that does not exist would not do: LocalStack accepts events for
//! it and drops them.)

use std::collections::HashMap;
use std::time::Duration;

use eventkit_e2e::stack::Stack;
use eventkit_e2e::{http, unique, wait_for};
use serde_json::{json, Value};

const ORDERS: usize = 8;

/// Where the relay's EventBridge calls go while the bus is "down": nothing listens there.
const UNREACHABLE: &str = "http://127.0.0.1:9";

/// Cuts the relay off from the bus (`reachable = false`) or reconnects it, and waits until
/// the change is live.
async fn bus_reachable(stack: &Stack, reachable: bool) -> anyhow::Result<()> {
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
    if reachable {
        variables.remove("AWS_ENDPOINT_URL_EVENTBRIDGE");
    } else {
        variables.insert("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), UNREACHABLE.into());
    }
    stack
        .lambda
        .update_function_configuration()
        .function_name(&function)
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
            let cut = c
                .environment()
                .and_then(|e| e.variables())
                .is_some_and(|v| v.contains_key("AWS_ENDPOINT_URL_EVENTBRIDGE"));
            let done = c.last_update_status()
                == Some(&aws_sdk_lambda::types::LastUpdateStatus::Successful);
            Ok((done && cut != reachable).then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn nothing_is_lost_or_doubled_while_the_bus_is_down_and_order_holds() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
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
                |v| v["status"] == status,
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
