//! Wire compatibility with Powertools for AWS Lambda (Python) on one idempotency table: a
//! record written by either side answers the other side's duplicate, and a reused key with
//! another payload is refused by both. Runs the real Powertools package (installed by
//! `make compat-venv` into build/compat-venv) against LocalStack's DynamoDB.

use eventkit::aws::dynamodb::DynamoIdempotencyStore;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, Outcome};
use eventkit_e2e::{create_table, require_localstack, run_python_peer};
use serde_json::{json, Value};

fn python_peer(table: &str, order: &str, amount: i64) -> anyhow::Result<Value> {
    run_python_peer("powertools_peer.py", &[table, order, &amount.to_string()])
}

#[tokio::test]
async fn powertools_and_eventkit_share_one_idempotency_table() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = create_table(&dynamodb, "id").await?;
    let mut settings = IdempotencyConfig::for_handler("unused")
        .key_pointer("/order")
        .validate_payload("/amount")
        .local_cache(0);
    settings.key_prefix = "compat".into();
    let idem = Idempotency::new(DynamoIdempotencyStore::new(dynamodb, &table), settings);
    let charge = |order: &str, amount: i64| {
        let event = json!({"order": order, "amount": amount});
        let idem = &idem;
        async move {
            idem.run(&event, None, || async move {
                Ok::<_, String>(json!({"charged": amount, "by": "rust"}))
            })
            .await
        }
    };

    // Rust first: Powertools sees the completed record and returns Rust's response.
    assert_eq!(
        charge("rs-1", 10)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        Outcome::Executed(json!({"charged": 10, "by": "rust"}))
    );
    let python = python_peer(&table, "rs-1", 10)?;
    assert_eq!(
        python,
        json!({"executed": false, "response": {"charged": 10, "by": "rust"}})
    );

    // Python first: eventkit replays Python's response.
    let python = python_peer(&table, "py-1", 10)?;
    assert_eq!(
        python,
        json!({"executed": true, "response": {"charged": 10, "by": "python"}})
    );
    assert_eq!(
        charge("py-1", 10)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        Outcome::Replayed(json!({"charged": 10, "by": "python"}))
    );

    // Same key, other payload: both sides refuse, on each other's validation hash.
    let err = charge("py-1", 99).await.unwrap_err();
    assert!(
        matches!(err, IdempotencyError::PayloadMismatch { .. }),
        "{err}"
    );
    let python = python_peer(&table, "rs-1", 99)?;
    assert_eq!(python["error"], "IdempotencyValidationError", "{python}");
    Ok(())
}
