"""DynamoDB and DynamoDB Streams served by moto, for LocalStack without Docker.

LocalStack's own DynamoDB provider runs DynamoDB Local (a Java jar it downloads on
first use). On a machine without internet that download fails, so DynamoDB is
unusable. moto (shipped inside LocalStack as ``moto-ext``) implements DynamoDB in
pure Python; these providers hand every operation to it.

How it works: the generated ``DynamodbApi`` / ``DynamodbstreamsApi`` classes raise
``NotImplementedError`` from every operation. ``MotoFallbackDispatcher`` wraps the
provider so that any ``NotImplementedError`` is answered by moto's backend for the
same service name. A subclass with no methods therefore sends everything to moto.

Select them with ``PROVIDER_OVERRIDE_DYNAMODB=moto`` and
``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``. They must be used together: LocalStack's
default DynamoDB Streams provider reads stream records from the Kinesis streams that
LocalStack's own DynamoDB provider feeds, and knows nothing about moto's tables;
moto's DynamoDB Streams backend reads the stream records moto's tables keep.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """No methods: every DynamoDB operation falls through to moto."""


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """No methods: every DynamoDB Streams operation falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    return Service.for_provider(
        MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto() -> Service:
    return Service.for_provider(
        MotoDynamoDBStreamsProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
