"""Fixes for LocalStack 4.9.2 defects the kit's tests meet, applied at start-up: one
module per service, each fix naming the defect and the AWS behaviour it restores.

Loaded by the ``localstack.hooks.on_infra_start`` entry point ``eventkit_patches``. Remove
a fix when the pinned LocalStack has it right. ``EVENTKIT_PATCHES`` (an environment
variable of the LocalStack process; ``make localstack-up`` passes it through) selects
them: ``all`` (the default), ``none``, or a comma-separated list of the names in
``PATCHES``. ``infra/README.md`` says which tests depend on which fix (a pattern-suite run
with ``EVENTKIT_PATCHES=none``). A fix may make LocalStack do what AWS does, or make it
cheaper while giving the same answers; none may make the kit pass where AWS would make it
fail.
"""

from __future__ import annotations

import logging
import os

from localstack.runtime import hooks

from eventkit_localstack.patches import dynamodb, events, lambda_, logs, stepfunctions

LOG = logging.getLogger(__name__)

# name -> (what it fixes, the function applying it)
PATCHES = {
    "events-replay": ("EventBridge archive replay", events._patch_archive_replay),
    "events-states-target": ("EventBridge Step Functions target with an input transformer", events._patch_states_target),
    "logs-filter": ("CloudWatch Logs filterPattern", logs._patch_logs_filter),
    "logs-describe": ("CloudWatch Logs DescribeLogGroups copies (cost)", logs._patch_logs_describe),
    "dynamodb-transactions": ("moto TransactWriteItems rollback and streams", dynamodb._patch_moto_transactions),
    "dynamodb-write-lock": ("moto DynamoDB writes serialised", dynamodb._patch_moto_write_lock),
    "stepfunctions-jsonpath": ("Step Functions JSONPath parsing (cost)", stepfunctions._patch_jsonpath_parse),
    "lambda-sqs-long-poll": ("Lambda SQS pollers long-poll", lambda_._patch_sqs_long_poll),
    # Applied in eventkit_localstack/dynamodb.py's GetRecords, which asks enabled().
    "streams-binary": ("DynamoDB Streams binary attributes encoded once", None),
}


def enabled(name: str) -> bool:
    """Whether the fix ``name`` is selected by ``EVENTKIT_PATCHES``."""
    chosen = os.environ.get("EVENTKIT_PATCHES", "all").strip()
    if chosen == "all":
        return True
    if chosen == "none":
        return False
    names = {n.strip() for n in chosen.split(",") if n.strip()}
    unknown = names - PATCHES.keys()
    if unknown:
        raise ValueError(f"EVENTKIT_PATCHES names no fix {sorted(unknown)}; the fixes are {sorted(PATCHES)}, or all, or none")
    return name in names


@hooks.on_infra_start()
def eventkit_patches() -> None:
    for name, (what, patch) in PATCHES.items():
        if not enabled(name):
            LOG.warning("eventkit: %s (%s) is NOT patched (EVENTKIT_PATCHES)", name, what)
            continue
        if patch is None:
            continue
        try:
            patch()
            LOG.info("eventkit: patched %s", what)
        except Exception:  # a newer LocalStack may have moved things: say so, keep running
            LOG.exception("eventkit: could not patch %s; see eventkit_localstack/patches/", what)
