//! One fact, two consumers. With the source down, the state-transfer replica keeps
//! applying (newer wins, duplicates and reordering absorbed) while every notification
//! fails its callback and waits in its queue; when the source is back, every notification
//! applies. The callbacks are counted: the load the seeds warn about.

use std::time::Duration;

use eventkit::Envelope;
use eventkit_contracts::customers::{PROFILE_UPDATED, SOURCE, UPDATE_PROFILE};
use eventkit_e2e::stack::Stack;
use eventkit_e2e::{unique, wait_for};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);
const CUSTOMERS: usize = 3;
const CHANGES: usize = 2;

/// Turns the notification consumer's queue polling on or off.
async fn notifications_flow(stack: &Stack, enabled: bool) -> anyhow::Result<()> {
    let function = stack.output("CustomerNotificationFunctionName")?;
    let mappings = stack
        .lambda
        .list_event_source_mappings()
        .function_name(&function)
        .send()
        .await?;
    for mapping in mappings.event_source_mappings() {
        stack
            .lambda
            .update_event_source_mapping()
            .uuid(mapping.uuid().unwrap_or_default())
            .enabled(enabled)
            .send()
            .await?;
    }
    anyhow::ensure!(
        !mappings.event_source_mappings().is_empty(),
        "{function} has no event source mapping"
    );
    Ok(())
}

/// Takes the source down (reserved concurrency 0: every call is throttled) or back up.
async fn source_up(stack: &Stack, up: bool) -> anyhow::Result<()> {
    let function = stack.output("CustomerServiceFunctionName")?;
    if up {
        stack
            .lambda
            .delete_function_concurrency()
            .function_name(&function)
            .send()
            .await?;
    } else {
        stack
            .lambda
            .put_function_concurrency()
            .function_name(&function)
            .reserved_concurrent_executions(0)
            .send()
            .await?;
    }
    Ok(())
}

fn update(customer: &str, n: usize) -> Value {
    let command = Envelope::new(
        "eventkit.crm",
        UPDATE_PROFILE,
        json!({"customer_id": customer,
        "name": format!("Name {n}"), "email": format!("{customer}@example.com"), "tier": if n % 2 == 0 { "gold" } else { "silver" }}),
    );
    serde_json::to_value(command).unwrap_or_default()
}

#[tokio::test]
async fn state_transfer_keeps_working_without_the_source_and_notifications_wait_for_it(
) -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let customers: Vec<String> = (0..CUSTOMERS).map(|_| unique("cust-nst")).collect();
    // Hold the notifications back until the source is down, so every one meets the outage.
    notifications_flow(&stack, false).await?;
    let outcome = async {
        for customer in &customers {
            for n in 1..=CHANGES {
                stack
                    .invoke("CustomerServiceFunctionName", &update(customer, n))
                    .await?;
            }
        }
        source_up(&stack, false).await?;
        notifications_flow(&stack, true).await?;
        // The replica keeps up: every customer at the last version, source or no source.
        for customer in &customers {
            stack
                .wait_for_item(
                    "CustomerReplicaTableName",
                    customer,
                    "at the last version",
                    DEADLINE,
                    |i| i["version"] == json!(CHANGES),
                )
                .await?;
        }
        // Every notification tried to call back and failed.
        for customer in &customers {
            stack
                .wait_for_item(
                    "CustomerNotifiedTableName",
                    &format!("callbacks#{customer}"),
                    "a failed callback",
                    DEADLINE,
                    |i| i["attempts"].as_i64() > Some(0) && i.get("answered") == Some(&json!(0)),
                )
                .await?;
            anyhow::ensure!(
                stack
                    .item("CustomerNotifiedTableName", customer)
                    .await?
                    .is_none(),
                "{customer} applied while its source was down"
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    source_up(&stack, true).await?;
    notifications_flow(&stack, true).await?;
    outcome?;

    // Back up: every notification applies, none was lost.
    let mut attempts = 0;
    let mut answered = 0;
    for customer in &customers {
        let notified = stack
            .wait_for_item(
                "CustomerNotifiedTableName",
                customer,
                "at the last version",
                DEADLINE,
                |i| i["version"] == json!(CHANGES),
            )
            .await?;
        let state: Value = serde_json::from_str(notified["state"].as_str().unwrap_or("null"))?;
        assert_eq!(state["name"], json!(format!("Name {CHANGES}")));
        // Every notification is answered once the source is back (the first callback may
        // already have brought the newest version, so wait for each, not just the view).
        let counts = stack
            .wait_for_item(
                "CustomerNotifiedTableName",
                &format!("callbacks#{customer}"),
                "every notification answered",
                DEADLINE,
                |i| i["answered"].as_i64() >= Some(CHANGES as i64),
            )
            .await?;
        attempts += counts["attempts"].as_i64().unwrap_or(0);
        answered += counts["answered"].as_i64().unwrap_or(0);
    }
    let events = CUSTOMERS * CHANGES;
    println!(
        "notification: {events} events x 1 consumer -> {attempts} callbacks ({answered} answered, {} during the outage); state transfer: 0 callbacks",
        attempts - answered
    );
    assert!(
        answered >= events as i64,
        "every notification was answered at least once"
    );
    Ok(())
}

#[tokio::test]
async fn the_replica_absorbs_duplicates_and_reordering_newer_wins() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let customer = unique("cust-order");
    let fat = |version: i64| {
        let mut e = Envelope::new(
            SOURCE,
            PROFILE_UPDATED,
            json!({"customer_id": customer, "name": format!("v{version}"),
            "email": "x@example.com", "tier": "gold", "version": version}),
        )
        .with_subject(&customer)
        .with_id(eventkit::envelope::stable_id(&[
            &customer,
            &version.to_string(),
        ]));
        e.extensions
            .insert("sequence".into(), json!(version.to_string()));
        e
    };
    // Delivered newest first, with duplicates: the replica must end at v5 and stay there.
    let deliveries: Vec<Envelope> = [5, 3, 5, 1, 4, 2, 4].into_iter().map(fat).collect();
    for one in &deliveries {
        stack.publisher.publish(std::slice::from_ref(one)).await?;
    }
    let item = stack
        .wait_for_item("CustomerReplicaTableName", &customer, "v5", DEADLINE, |i| {
            i["version"] == json!(5)
        })
        .await?;
    // Wait until all seven deliveries were handled (applied or skipped as stale): whatever
    // the order they arrived in, v5 stays, and it is the only event kept.
    wait_for("every delivery to be handled", DEADLINE, || async {
        let applied = stack
            .log_lines(
                "CustomerStateTransferFunctionName",
                &[&customer, "replica updated"],
            )
            .await?;
        let skipped = stack
            .log_lines(
                "CustomerStateTransferFunctionName",
                &[&customer, "stale or duplicate"],
            )
            .await?;
        Ok((applied.len() + skipped.len() >= deliveries.len()).then_some(()))
    })
    .await?;
    let after = stack
        .item("CustomerReplicaTableName", &customer)
        .await?
        .unwrap_or_default();
    assert_eq!(
        (after["version"].clone(), after["event_id"].clone()),
        (json!(5), item["event_id"].clone())
    );
    Ok(())
}
