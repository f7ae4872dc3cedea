"""The ledger consumer written with Powertools for AWS Lambda (Python), as its documentation
shows: the peer of `functions/p2p-consumer` in `make bench`'s end-to-end benchmark.

An SQS batch of EventBridge events (a bus rule's delivery); each record's envelope (`detail`)
posted once to its account: `BatchProcessor` with `process_partial_response`, the posting an
`idempotent_function` keyed on the envelope id in a Powertools idempotency table. The effect
is the kit consumer's: `balance` and `entries` added, on an account that is open. A record
that fails is reported in `batchItemFailures`, returns to its queue and reaches its DLQ.

Handler: `powertools_ledger_consumer.handler`. Environment: `LEDGER_TABLE`,
`IDEMPOTENCY_TABLE`.
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

dynamodb = boto3.client("dynamodb")
LEDGER_TABLE = os.environ["LEDGER_TABLE"]
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
config = IdempotencyConfig(event_key_jmespath="id")
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="envelope", persistence_store=persistence, config=config)
def post(envelope):
    data = envelope["data"]
    dynamodb.update_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": f"account#{data['account']}"}},
        UpdateExpression="ADD balance :amount, entries :one",
        ConditionExpression="attribute_exists(pk) AND #open = :true",
        ExpressionAttributeNames={"#open": "open"},
        ExpressionAttributeValues={
            ":amount": {"N": str(data["amount"])},
            ":one": {"N": "1"},
            ":true": {"BOOL": True},
        },
    )
    return {"account": data["account"], "amount": data["amount"]}


def record_handler(record):
    post(envelope=json.loads(record.body)["detail"])


def handler(event, context):
    config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
