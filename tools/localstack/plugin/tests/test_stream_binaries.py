"""A stream record's binary attributes, as moto keeps them (the base64 text it was sent)
and LocalStack would encode again, come out decoded once: the bytes that were written.
The end-to-end proof is the event-sourcing pattern's relay reading its event table's
stream (tests/tests/patterns/event_sourcing.rs)."""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eventkit_localstack.dynamodb import decode_binaries  # noqa: E402


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class DecodeBinaries(unittest.TestCase):
    def test_binaries_at_any_depth_are_decoded_once(self):
        written = b'{"Opened":{"customer":"c-1"}}'
        kept = b64(written)  # what moto stores and its stream record carries
        image = {
            "Payload": {"B": kept},
            "Set": {"BS": [kept, b64(b"\x00\xff")]},
            "Nested": {"M": {"inner": {"L": [{"B": kept}, {"S": "text"}]}}},
            "Name": {"S": kept},
            "Count": {"N": "3"},
        }
        out = {k: decode_binaries(v) for k, v in image.items()}
        self.assertEqual(out["Payload"], {"B": written})
        self.assertEqual(out["Set"], {"BS": [written, b"\x00\xff"]})
        self.assertEqual(out["Nested"]["M"]["inner"]["L"][0], {"B": written})
        self.assertEqual(out["Name"], {"S": kept}, "strings are left alone")
        self.assertEqual(out["Count"], {"N": "3"})

    def test_a_value_that_is_not_base64_is_left_as_it_is(self):
        self.assertEqual(decode_binaries({"B": "not base64!"}), {"B": "not base64!"})


if __name__ == "__main__":
    unittest.main()
