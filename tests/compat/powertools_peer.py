"""Powertools for AWS Lambda (Python) as a peer on the same idempotency table as eventkit.

Usage: powertools_peer.py TABLE ORDER AMOUNT

Runs an idempotent function (key prefix "compat", key = payload["order"], payload
validation on payload["amount"]) and prints {"executed": bool, "response": ...} or
{"error": "<exception class>"} as one JSON line. The endpoint comes from AWS_ENDPOINT_URL.
"""

import json
import sys

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

table, order, amount = sys.argv[1], sys.argv[2], int(sys.argv[3])
persistence = DynamoDBPersistenceLayer(table_name=table)
config = IdempotencyConfig(event_key_jmespath="order", payload_validation_jmespath="amount")
executed = []


@idempotent_function(
    data_keyword_argument="payload",
    persistence_store=persistence,
    config=config,
    key_prefix="compat",
)
def charge(payload):
    executed.append(True)
    return {"charged": payload["amount"], "by": "python"}


try:
    response = charge(payload={"order": order, "amount": amount})
    print(json.dumps({"executed": bool(executed), "response": response}))
except Exception as e:  # the test asserts on the class name
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
