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

One fix on the way: moto keeps a binary attribute (``B``, ``BS``) as the base64 text it
was sent, and its stream records carry that text, which LocalStack's serializer then
encodes again. ``GetRecords`` therefore decodes binary values once before they are
returned, so a stream record's ``B`` is the base64 of the bytes written, as on AWS (a
Lambda reading the stream otherwise gets base64 of base64).
"""

import base64
import binascii

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.dynamodb import DynamodbApi
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.moto import MotoFallbackDispatcher, call_moto
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """No methods: every DynamoDB operation falls through to moto."""


def _once(value):
    """The bytes a binary value stands for: its base64 text decoded once."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return value


def decode_binaries(attribute: dict) -> dict:
    """One attribute value with its binaries (at any depth) decoded once."""
    out = dict(attribute)
    if "B" in out:
        out["B"] = _once(out["B"])
    if "BS" in out:
        out["BS"] = [_once(v) for v in out["BS"]]
    if "M" in out:
        out["M"] = {k: decode_binaries(v) for k, v in out["M"].items()}
    if "L" in out:
        out["L"] = [decode_binaries(v) for v in out["L"]]
    return out


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """Every DynamoDB Streams operation falls through to moto; ``GetRecords`` fixes the
    double-encoded binaries on the way out."""

    @handler("GetRecords", expand=False)
    def get_records(self, context: RequestContext, request):
        response = call_moto(context)
        from eventkit_localstack.patches import enabled

        if not enabled("streams-binary"):
            return response
        for record in response.get("Records") or []:
            change = record.get("dynamodb") or {}
            for image in ("Keys", "NewImage", "OldImage"):
                if image in change:
                    change[image] = {k: decode_binaries(v) for k, v in change[image].items()}
        return response


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
