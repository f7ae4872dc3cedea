"""Records every AWS call a deployed principal makes, for the least-privilege audit.

LocalStack's community edition enforces no IAM, so a function missing a permission passes
every test here and fails on AWS. LocalStack does give each principal its own
credentials, as AWS does: a function's process runs with keys from ``AssumeRole`` on its
execution role, and Step Functions tasks, event source mappings and EventBridge targets
with a ``RoleArn`` call through clients that assumed their role. EventBridge targets
without one call with the account's key and name the rule as ``source_arn`` (AWS checks
the target's resource policy then).

With ``EVENTKIT_IAM_CALLS`` set to a file, a response handler appends one JSON line per
such call: service, operation, the role (resolved from the access key through moto's STS,
where ``AssumeRole`` stored it), the calling service and source ARN LocalStack's internal
clients pass, the status code, and the request parameters that name a resource (never
payloads). ``tools/iam/audit.py`` evaluates the lines against the roles' policies.
Calls with any other key (the tests', the deploy's) are not recorded.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)

# Request parameters that name the resource a call acts on, by any service the kit uses.
_RESOURCE_KEYS = {
    "QueueUrl", "QueueName", "SourceArn", "DestinationArn", "TaskHandle",
    "TableName", "IndexName", "StreamArn", "ShardIterator",
    "Bucket", "Key",
    "EventBusName", "Name",
    "FunctionName", "Qualifier",
    "stateMachineArn", "executionArn", "name",
    "logGroupName", "logGroupIdentifier", "Namespace", "TopicArn",
}
# Lists whose items name resources: PutEvents' entries, a transaction's items.
_NESTED = {"Entries", "TransactItems"}

_lock = threading.Lock()


def _slim(value):
    """The parts of a request that name resources, recursively through _NESTED lists."""
    out = {}
    for key, item in (value or {}).items():
        if key in _RESOURCE_KEYS and isinstance(item, (str, int)):
            out[key] = item
        elif key in _NESTED and isinstance(item, list):
            out[key] = [_slim(entry) for entry in item if isinstance(entry, dict)]
        elif key in ("Put", "Update", "Delete", "ConditionCheck", "Get") and isinstance(item, dict):
            out[key] = _slim(item)
        elif key == "RequestItems" and isinstance(item, dict):
            out[key] = sorted(item)
    return out


def _role_of(account_id: str, access_key: str | None) -> str | None:
    if not access_key:
        return None
    from moto.sts.models import sts_backends

    for partition in ("aws",):
        try:
            assumed = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key)
        except KeyError:
            continue
        if assumed:
            return assumed.role_arn
    return None


def _stream_of(iterator: str) -> str | None:
    """moto's shard iterators are ``<stream arn>|1|<id>``: the stream a ``GetRecords`` reads."""
    head = iterator.split("|", 1)[0]
    return head if head.startswith("arn:") else None


def _record(path: str):
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

    def handler(_chain, context, response):
        try:
            if context.service is None or context.operation is None:
                return
            internal = context.internal_request_params or {}
            role = _role_of(context.account_id, extract_access_key_id_from_auth_header(context.request.headers))
            caller = internal.get("service_principal")
            if role is None and not (caller and internal.get("source_arn")):
                return
            params = _slim(context.service_request)
            if "ShardIterator" in params:
                params["StreamArn"] = params.get("StreamArn") or _stream_of(params.pop("ShardIterator"))
            line = json.dumps(
                {
                    "service": context.service.service_name,
                    "signing_name": context.service.signing_name,
                    "operation": context.operation.name,
                    "region": context.region,
                    "account": context.account_id,
                    "role": role,
                    "caller": caller,
                    "source_arn": internal.get("source_arn"),
                    "status": response.status_code,
                    "params": params,
                },
                sort_keys=True,
            )
            with _lock, open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
        except Exception:  # never let the audit break a request
            LOG.exception("eventkit: could not record an IAM call")

    return handler


@hooks.on_infra_start()
def install() -> None:
    path = os.environ.get("EVENTKIT_IAM_CALLS")
    if not path:
        return
    from localstack.aws.handlers import run_custom_response_handlers

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_custom_response_handlers.append(_record(path))
    LOG.info("eventkit: recording principals' AWS calls in %s", path)
