"""Prints, as one JSON line {"durations": [...]}, the `Duration` in ms of every invocation in
a Lambda log group, from its REPORT lines. e2e-bench reads them through this script (boto3,
from the compat venv it already uses) so that `make bench`'s release build needs no
CloudWatch Logs SDK crate, 79 s of CPU on 2 cores.

Usage: report_durations.py LOG_GROUP (AWS_ENDPOINT_URL and credentials from the environment)
"""

import json
import sys

import boto3

logs = boto3.client("logs")
request = {"logGroupName": sys.argv[1], "filterPattern": "REPORT"}
durations = []
while True:
    page = logs.filter_log_events(**request)
    for event in page.get("events", []):
        _, found, rest = event.get("message", "").partition("\tDuration: ")
        if found:
            durations.append(float(rest.split(" ", 1)[0]))
    token = page.get("nextToken")
    if not token or not page.get("events"):
        break
    request["nextToken"] = token
print(json.dumps({"durations": durations}))
