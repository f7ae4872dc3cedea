"""Lambda's SQS event source mappings (LocalStack 4.9.2's pollers).

* They short-poll (``WaitTimeSeconds`` is the batching window, 0 or 1 s here) and back off
  at most 1 s on an empty queue: about one ``ReceiveMessage`` a second for each mapping,
  each through the whole gateway, a quarter of a core with the stack idle. Lambda on AWS
  long-polls, 20 s
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). The fix
  long-polls too (a receive still returns with the first message); a poll that returns
  after its mapping was disabled, updated or deleted puts its messages back at once
  instead of invoking, as a disabled mapping on AWS invokes nothing
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html).
"""

from __future__ import annotations

import functools
import logging

LOG = logging.getLogger(__name__)


LONG_POLL_SECONDS = 20  # Lambda's SQS pollers on AWS; SQS's longest wait


def long_polling(init):
    """``SqsPoller.__init__`` whose receives wait up to 20 s. The poller passes
    ``min(maximum_batching_window, 20)`` as ``WaitTimeSeconds`` and, above 20, a LocalStack
    header that waits for a full batch; a window of at most 20 s keeps the plain long poll,
    which returns as soon as one message is there, as before."""

    @functools.wraps(init)
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.maximum_batching_window <= LONG_POLL_SECONDS:
            self.maximum_batching_window = LONG_POLL_SECONDS

    patched.eventkit_patched = True
    return patched


def platform_sqs(queue_arn: str):
    """An SQS client of the platform itself, not the poller's, which runs as the function's
    role: on AWS the service returns a stopped mapping's messages with no permission of the
    role (the IAM audit would rightly find none granted)."""
    from localstack.aws.connect import connect_to
    from localstack.utils.aws.arns import parse_arn

    arn = parse_arn(queue_arn)
    return connect_to(aws_access_key_id=arn["account"], region_name=arn["region"]).sqs


def returned_when_stopped(handle_messages):
    """``SqsPoller.handle_messages`` that, once its mapping stopped polling (disabled,
    updated or deleted while a long poll waited), makes the messages visible again
    instead of invoking the function: the mapping's state decides, as on AWS."""

    @functools.wraps(handle_messages)
    def patched(self, messages):
        if not getattr(self, "eventkit_stopped", False):
            return handle_messages(self, messages)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        sqs = platform_sqs(self.source_arn)
        for start in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries[start : start + 10])
        LOG.debug("eventkit: %d message(s) returned to %s: its mapping stopped", len(entries), self.queue_url)

    patched.eventkit_patched = True
    return patched


def marking_poller(method, stopped: bool):
    """An ``EsmWorker`` state change that also tells its poller whether it may invoke."""

    @functools.wraps(method)
    def patched(self, *args, **kwargs):
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.eventkit_stopped = stopped
        return method(self, *args, **kwargs)

    patched.eventkit_patched = True
    return patched


def _patch_sqs_long_poll() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    if getattr(SqsPoller.__init__, "eventkit_patched", False):
        return
    SqsPoller.__init__ = long_polling(SqsPoller.__init__)
    SqsPoller.handle_messages = returned_when_stopped(SqsPoller.handle_messages)
    for name in ("stop", "delete", "stop_for_shutdown"):
        setattr(EsmWorker, name, marking_poller(getattr(EsmWorker, name), stopped=True))
    EsmWorker.start = marking_poller(EsmWorker.start, stopped=False)

