"""EventBridge (LocalStack 4.9.2's events provider).

* Archive replay: the archive stores each event's ``time`` as an ISO string, and replay
  treats it as a ``datetime`` (``str.replace() takes no keyword arguments``, HTTP 500 from
  ``StartReplay`` whenever the archive holds an event). The fix parses the string where
  replay reads it. AWS: ``StartReplay`` replays the archived events of the window
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-replay-archived-event.html).
* A Step Functions target with an input transformer: the target names the execution after
  the event's ``id``, which the transformed input no longer has (``Failed to deliver to
  target ...: 'id'``). AWS starts the execution with a name of its own; so does the fix,
  when the input has no ``id``
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html).
"""

from __future__ import annotations

from datetime import datetime, timezone


def _to_datetime(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _patch_archive_replay() -> None:
    from localstack.services.events import archive, replay

    normalize = archive.ArchiveService._normalize_datetime

    def _normalize_datetime(self, dt):
        return normalize(self, _to_datetime(dt))

    archive.ArchiveService._normalize_datetime = _normalize_datetime

    reformat = replay.ReplayService.re_format_events_from_archive

    def re_format_events_from_archive(self, events, replay_name):
        out = reformat(self, events, replay_name)
        for event in out:
            if "Time" in event:
                event["Time"] = _to_datetime(event["Time"])
        return out

    def _set_event_last_replayed_time(self, events):
        self.replay.event_last_replayed_time = max(_to_datetime(e["time"]) for e in events)

    replay.ReplayService.re_format_events_from_archive = re_format_events_from_archive
    replay.ReplayService._set_event_last_replayed_time = _set_event_last_replayed_time


def _patch_states_target() -> None:
    import uuid

    from localstack.services.events import target

    def send_event(self, event, trace_header):
        self.service = "stepfunctions"
        name = event.get("id") if isinstance(event, dict) and event.get("id") else str(uuid.uuid4())
        self.client.start_execution(
            stateMachineArn=self.target["Arn"], name=name, input=target.to_json_str(event)
        )

    target.StatesTargetSender.send_event = send_event


