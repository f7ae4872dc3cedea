//! Claim check end to end: a 3 MiB document through the bus (dataref) and through a queue
//! (SQS Extended Client format), both redeemed and verified by the consumer; a pointer to
//! an object that does not exist ends in the DLQ with the reason.

use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use eventkit::claim_check::{S3Ref, SIZE_ATTRIBUTE};
use eventkit_contracts::documents::PRODUCE_DOCUMENT;
use eventkit_e2e::stack::Stack;
use eventkit_e2e::unique;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_multi_mib_document_arrives_by_bus_and_by_queue_and_verifies() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let document = unique("doc");
    let size = 3 * 1024 * 1024;
    let command = eventkit::Envelope::new(
        "eventkit.scanner",
        PRODUCE_DOCUMENT,
        json!({"document_id": document, "size": size}),
    );
    let answer = stack
        .invoke(
            "ClaimCheckProducerFunctionName",
            &serde_json::to_value(&command)?,
        )
        .await?;
    let sha256 = answer["sha256"].as_str().unwrap_or_default().to_owned();
    assert_eq!(sha256.len(), 64, "{answer}");
    for via in ["bus", "queue"] {
        let item = stack
            .wait_for_item(
                "DocumentsTableName",
                &format!("{document}#{via}"),
                "received",
                DEADLINE,
                |_| true,
            )
            .await?;
        assert_eq!(
            (item["sha256"].as_str(), item["size"].as_u64()),
            (Some(sha256.as_str()), Some(size as u64)),
            "{via}"
        );
    }
    // 3 MiB fits neither transport (1 MiB at most): both copies were redeemed from S3.
    Ok(())
}

#[tokio::test]
async fn a_pointer_to_a_missing_object_ends_in_the_dlq_with_the_reason() -> anyhow::Result<()> {
    let stack = Stack::load().await?;
    let missing = S3Ref {
        bucket: stack.output("ClaimCheckBucketName")?,
        key: unique("gone"),
    };
    let out = stack
        .sqs
        .send_message()
        .queue_url(stack.output("DocumentsQueueUrl")?)
        .message_body(missing.to_sqs_pointer())
        .message_attributes(
            SIZE_ATTRIBUTE,
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("4000000")
                .build()?,
        )
        .send()
        .await?;
    let message_id = out.message_id().unwrap_or_default().to_owned();
    stack
        .wait_for_body_in(
            "DocumentsDlqUrl",
            "the dangling pointer",
            Duration::from_secs(120),
            |b| b.contains(&missing.key),
        )
        .await?;
    let lines = stack
        .log_lines(
            "ClaimCheckConsumerFunctionName",
            &[&message_id, "not found"],
        )
        .await?;
    assert!(
        !lines.is_empty(),
        "the consumer's log names the missing object for message {message_id}"
    );
    Ok(())
}

#[tokio::test]
async fn the_deployed_consumer_redeems_what_the_python_extended_client_sends() -> anyhow::Result<()>
{
    let stack = Stack::load().await?;
    let document = unique("doc-py");
    let content = claim_check::make_content(&document, 2 * 1024 * 1024);
    // The documents producer's contract, written in Python: same source, same schema.
    let mut envelope = eventkit::Envelope::new(
        eventkit_contracts::documents::SOURCE,
        eventkit_contracts::documents::DOCUMENT_SUBMITTED,
        json!({"document_id": document, "sha256": claim_check::sha256_hex(content.as_bytes()), "content": content}),
    );
    envelope
        .extensions
        .insert("via".into(), json!("python-extended-client"));
    let file = eventkit_e2e::TempFile::with("doc-py", &envelope.to_json())?;
    let (queue, bucket) = (
        stack.output("DocumentsQueueUrl")?,
        stack.output("ClaimCheckBucketName")?,
    );
    eventkit_e2e::run_python_peer(
        "sqs_extended_peer.py",
        &["send", &queue, &bucket, file.arg()],
    )?;
    let item = stack
        .wait_for_item(
            "DocumentsTableName",
            &format!("{document}#python-extended-client"),
            "received",
            DEADLINE,
            |_| true,
        )
        .await?;
    assert_eq!(item["size"], json!(2 * 1024 * 1024));
    Ok(())
}
