//! Wire compatibility with Powertools for AWS Lambda (Python) on one idempotency table: a
//! record written by either side answers the other side's duplicate, and a reused key with
//! another payload is refused by both. Runs the real Powertools package (installed by
//! `make compat-venv` into build/compat-venv) against LocalStack's DynamoDB.

use std::path::Path;
use std::process::Command;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use eventkit::aws::dynamodb::DynamoIdempotencyStore;
use eventkit::idempotency::{Idempotency, IdempotencyConfig, IdempotencyError, Outcome};
use eventkit_e2e::{endpoint, require_localstack, unique};
use serde_json::{json, Value};

fn python_peer(table: &str, order: &str, amount: i64) -> anyhow::Result<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("build/compat-venv/bin/python");
    anyhow::ensure!(
        python.exists(),
        "{} is missing; run `make compat-venv`",
        python.display()
    );
    let out = Command::new(python)
        .arg(root.join("tests/compat/powertools_peer.py"))
        .args([table, order, &amount.to_string()])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "Powertools peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test]
async fn powertools_and_eventkit_share_one_idempotency_table() -> anyhow::Result<()> {
    let config = require_localstack().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = unique("compat");
    dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await?;
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
