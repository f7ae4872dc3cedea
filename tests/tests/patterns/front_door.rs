//! The front door over HTTP: 202 with the correlation id, a retry with the same
//! Idempotency-Key answered from the first, 400 naming the field, cancel and read back,
//! and the order reaching the read model behind the bus.

use std::time::Duration;

use eventkit_e2e::stack::Stack;
use eventkit_e2e::{http, unique};
use serde_json::json;

#[tokio::test]
async fn orders_are_accepted_over_http_and_followed_through_the_bus() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let base = stack.api_base()?;
    let customer = unique("cust-http");
    let order = json!({"customer": customer, "kind": "physical", "lines": [{"sku": "mug", "quantity": 2, "unit_price": 1250}]});
    let key = unique("key");
    let correlation = unique("corr");
    let headers = [
        ("Idempotency-Key", key.as_str()),
        ("X-Correlation-Id", correlation.as_str()),
    ];

    let (status, accepted) =
        http("POST", &format!("{base}/orders"), Some(&order), &headers).await?;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["correlation_id"], json!(correlation));
    let id = accepted["order_id"].as_str().unwrap_or_default().to_owned();
    // A client retry with the same key: the first answer, not a second order.
    let (status, again) = http("POST", &format!("{base}/orders"), Some(&order), &headers).await?;
    assert_eq!((status, &again), (202, &accepted));

    let (status, stored) = http("GET", &format!("{base}/orders/{id}"), None, &[]).await?;
    assert_eq!(
        (status, stored["status"].as_str(), stored["total"].as_i64()),
        (200, Some("PLACED"), Some(2500))
    );

    let bad = json!({"customer": customer, "kind": "physical", "lines": [{"sku": "mug", "quantity": 0, "unit_price": 1}]});
    let (status, problem) = http("POST", &format!("{base}/orders"), Some(&bad), &[]).await?;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("lines[0].quantity"),
        "{problem}"
    );

    let (status, cancelling) = http(
        "POST",
        &format!("{base}/orders/{id}/cancel"),
        Some(&json!({"reason": "changed mind"})),
        &[],
    )
    .await?;
    assert_eq!(status, 202, "{cancelling}");
    let (status, _) = http("POST", &format!("{base}/orders/{id}/cancel"), None, &[]).await?;
    assert_eq!(status, 409, "a cancelled order cannot be cancelled again");

    // Behind the bus, the order view follows: placed, then cancelled, under one correlation id.
    let view = stack
        .wait_for_item(
            "OrderViewsTableName",
            &id,
            "cancelled",
            Duration::from_secs(90),
            |i| i["status"] == "CANCELLED",
        )
        .await?;
    assert_eq!(
        (view["sequence"].clone(), view["correlation_id"].clone()),
        (json!(2), json!(correlation))
    );
    Ok(())
}
