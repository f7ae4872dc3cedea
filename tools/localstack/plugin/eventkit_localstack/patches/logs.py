"""CloudWatch Logs (LocalStack 4.9.2's logs provider on moto).

* ``filterPattern``: the community matcher accepts every event. The fix matches plain
  terms (all must occur) and ``{ $.field = "value" }`` JSON filters, which is what the
  kit's CLI sends; AWS matches the pattern
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
* ``DescribeLogGroups`` deep-copies every log group, every stream and every event stored,
  twice, to sum stored bytes without a race: its cost grows with all the logs ever
  written. The fix reads a snapshot of the groups and streams instead (a cost; the answer
  is the same).
"""

from __future__ import annotations

import json
import re


_JSON_FILTER = re.compile(r'^\{\s*\$\.([A-Za-z0-9_.]+)\s*=\s*"?([^"}]*?)"?\s*\}$')


def pattern_matcher(pattern: str):
    """A matcher for the filter patterns the kit uses (see the module docstring)."""
    pattern = (pattern or "").strip()
    json_filter = _JSON_FILTER.match(pattern)
    if json_filter:
        path, expected = json_filter.group(1).split("."), json_filter.group(2)

        def match_json(_pattern, event):
            try:
                value = json.loads(event["message"])
                for part in path:
                    value = value[part]
            except (ValueError, KeyError, TypeError):
                return False
            return str(value) == expected

        return match_json
    terms = [t.strip('"') for t in re.findall(r'"[^"]*"|\S+', pattern)]
    return lambda _pattern, event: all(t in event.get("message", "") for t in terms)


def _patch_logs_filter() -> None:
    from localstack.services.logs import provider

    provider.get_pattern_matcher = pattern_matcher


def describe_group(group) -> dict:
    """A moto log group's ``DescribeLogGroups`` entry, as LocalStack's own, from a snapshot
    of its streams (``list`` of a dict's values is atomic) instead of a deep copy."""
    arn = group.arn if group.arn.endswith(":*") else f"{group.arn}:*"
    described = {
        "arn": arn,
        "creationTime": group.creation_time,
        "logGroupName": group.name,
        "metricFilterCount": 0,
        "storedBytes": sum(s.stored_bytes for s in list(group.streams.values())),
    }
    if group.retention_in_days:
        described["retentionInDays"] = group.retention_in_days
    if group.kms_key_id:
        described["kmsKeyId"] = group.kms_key_id
    return described


def described_groups(backend, prefix: str = "", pattern: str = "") -> list[dict]:
    """The described groups of ``backend`` whose names match, sorted by name."""
    groups = [
        describe_group(group)
        for name, group in list(backend.groups.items())
        if not (prefix or pattern) or (prefix and name.startswith(prefix)) or (pattern and pattern in name)
    ]
    return sorted(groups, key=lambda g: g["logGroupName"])


def _patch_logs_describe() -> None:
    from localstack.aws.api import handler
    from localstack.aws.api.logs import DescribeLogGroupsResponse, InvalidParameterException
    from localstack.services.logs import provider
    from moto.logs.models import LogGroup

    if getattr(provider.LogsProvider.describe_log_groups, "eventkit_patched", False):
        return

    # LocalStack dispatches to the provider attribute named as the function
    @handler("DescribeLogGroups", expand=False)
    def describe_log_groups(self, context, request):
        prefix = request.get("logGroupNamePrefix", "")
        pattern = request.get("logGroupNamePattern", "")
        if pattern and prefix:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        backend = provider.get_moto_logs_backend(context.account_id, context.region)
        return DescribeLogGroupsResponse(logGroups=described_groups(backend, prefix, pattern))

    describe_log_groups.eventkit_patched = True
    provider.LogsProvider.describe_log_groups = describe_log_groups
    LogGroup.to_describe_dict = describe_group


