"""Powertools for AWS Lambda (Python)'s own idempotency hash, for values the test generates.

Usage: powertools_hash_peer.py FILE

FILE holds one JSON value a line. Each is read with `json.loads` (as a Lambda event is) and
hashed by Powertools' `BasePersistenceLayer._generate_hash` (MD5 of `json.dumps(...,
sort_keys=True)`, its encoder); one JSON line each: {"hash": ..., "text": ...}, where
text is what was hashed.
"""

import json
import sys

from aws_lambda_powertools.utilities.idempotency.persistence.base import _IdempotencyKeyEncoder
from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

layer = DynamoDBPersistenceLayer(table_name="unused")  # no call is made: hashing is local
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        value = json.loads(line)
        text = json.dumps(value, cls=_IdempotencyKeyEncoder, sort_keys=True)
        print(json.dumps({"hash": layer._generate_hash(value), "text": text}))
