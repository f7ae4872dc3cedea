"""The CloudEvents Python SDK (cloudevents 2.x, core API: a strict reader and writer) as a
peer of the kit's envelope.

Usage:
  cloudevents_peer.py read FILE   each line of FILE is a structured-mode JSON event; parses
                                  it with the SDK's JSON format (which validates required
                                  attributes, types and extension names) and prints one
                                  JSON line per event: {"ok": true, "attributes": {...},
                                  "data": ...} or {"ok": false, "error": "..."}
  cloudevents_peer.py write       prints events the SDK made, one per line: JSON data;
                                  binary data; JSON bytes; the four required attributes only
"""

import base64
import json
import sys
from datetime import datetime, timezone

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent


def attributes_as_json(event):
    out = {}
    for k, v in event.get_attributes().items():
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


def read(path):
    fmt = JSONFormat()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                event = fmt.read(None, line)
                data = event.get_data()
                if isinstance(data, (bytes, bytearray)):
                    data = {"base64": base64.b64encode(data).decode()}
                print(json.dumps({"ok": True, "attributes": attributes_as_json(event), "data": data}))
            except Exception as e:  # the test asserts there are none
                print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))


def write():
    fmt = JSONFormat()
    base = {"specversion": "1.0", "source": "/sdk/python", "type": "order.placed"}
    events = [
        CloudEvent({**base, "id": "sdk-json", "time": datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=timezone.utc),
                    "datacontenttype": "application/json", "subject": "o-sdk-1", "tenant": "acme"},
                   {"order_id": "o-sdk-1", "total": 42}),
        CloudEvent({**base, "id": "sdk-binary", "datacontenttype": "application/octet-stream"}, bytes([0, 1, 2, 255])),
        CloudEvent({**base, "id": "sdk-json-bytes", "datacontenttype": "application/json"},
                   json.dumps({"order_id": "o-sdk-2", "total": 7}).encode()),
        CloudEvent({**base, "id": "sdk-minimal"}, None),
    ]
    for event in events:
        print(fmt.write(event).decode())


if sys.argv[1] == "read":
    read(sys.argv[2])
elif sys.argv[1] == "write":
    write()
else:
    raise SystemExit(f"unknown command {sys.argv[1]}")
