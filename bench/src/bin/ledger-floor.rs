//! The floor for `coldpath-bench`: the ledger consumer's work written by hand on
//! `lambda_runtime` and the SDK, without the kit. Per SQS record, the same two DynamoDB
//! calls the kit makes: a conditional `PutItem` of the in-progress idempotency record, then
//! one `TransactWriteItems` adding the amount to the open account and completing the
//! record; records of a batch concurrently; failures reported as partial batch failures.
//! No tracing, metrics, validation or claim check: what is left is the least any function
//! doing this work pays.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;

/// What the queue holds: the bus rule's EventBridge event, the envelope its `detail`.
#[derive(Deserialize)]
struct Body {
    detail: Envelope,
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    data: Entry,
}

#[derive(Deserialize)]
struct Entry {
    account: String,
    amount: i64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn post(client: &Client, ledger: &str, idempotency: &str, body: &str) -> Result<(), Error> {
    let envelope = serde_json::from_str::<Body>(body)?.detail;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let key = format!("ledger-floor#{}", envelope.id);
    client
        .put_item()
        .table_name(idempotency)
        .item("id", s(&key))
        .item("status", s("INPROGRESS"))
        .item("expiration", n(now + 3600))
        .condition_expression("attribute_not_exists(id) OR expiration < :now")
        .expression_attribute_values(":now", n(now))
        .send()
        .await?;
    let change = Update::builder()
        .table_name(ledger)
        .key("pk", s(format!("account#{}", envelope.data.account)))
        .update_expression("ADD balance :amount, entries :one")
        .condition_expression("attribute_exists(pk) AND #open = :true")
        .expression_attribute_names("#open", "open")
        .expression_attribute_values(":amount", n(envelope.data.amount))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":true", AttributeValue::Bool(true))
        .build()?;
    let complete = Put::builder()
        .table_name(idempotency)
        .item("id", s(&key))
        .item("status", s("COMPLETED"))
        .item("expiration", n(now + 3600))
        .build()?;
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(change).build())
        .transact_items(TransactWriteItem::builder().put(complete).build())
        .send()
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let ledger = std::env::var("LEDGER_TABLE")?;
    let idempotency = std::env::var("IDEMPOTENCY_TABLE")?;
    let (client, ledger, idempotency) = (&client, ledger.as_str(), idempotency.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let posts = event.payload.records.into_iter().map(|record| async move {
            let body = record.body.unwrap_or_default();
            post(client, ledger, idempotency, &body)
                .await
                .err()
                .map(|_| {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = record.message_id.unwrap_or_default();
                    failure
                })
        });
        let failures = futures::future::join_all(posts).await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures.into_iter().flatten().collect();
        Ok::<_, Error>(response)
    }))
    .await
}
