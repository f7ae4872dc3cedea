"""The fixes' switch and the fixes no other test covers alone: EVENTKIT_PATCHES selects
them by name and refuses an unknown one; the logs filter matches what the kit's CLI sends
and nothing else; archived times read as datetimes; every fix applies to the pinned
LocalStack."""

import os
import sys
import unittest
from datetime import datetime, timezone
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eventkit_localstack.patches import PATCHES, enabled  # noqa: E402
from eventkit_localstack.patches.events import _to_datetime  # noqa: E402
from eventkit_localstack.patches.logs import pattern_matcher  # noqa: E402


class Switch(unittest.TestCase):
    def test_all_none_and_a_list(self):
        for value, want in (("all", True), ("none", False), ("logs-filter", True), ("events-replay,streams-binary", False)):
            with mock.patch.dict(os.environ, {"EVENTKIT_PATCHES": value}):
                self.assertEqual(enabled("logs-filter"), want, value)
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertTrue(enabled("logs-filter"))

    def test_an_unknown_name_is_refused_with_the_known_ones(self):
        with mock.patch.dict(os.environ, {"EVENTKIT_PATCHES": "logs-filtre"}):
            with self.assertRaisesRegex(ValueError, "logs-filtre.*logs-filter"):
                enabled("logs-filter")

    def test_every_fix_applies_to_the_pinned_localstack(self):
        for name, (_what, patch) in PATCHES.items():
            if patch is not None:
                patch()  # raises if LocalStack moved what it patches


class LogsFilter(unittest.TestCase):
    def test_terms_must_all_occur(self):
        match = pattern_matcher('order "o-1"')
        self.assertTrue(match(None, {"message": "order o-1 placed"}))
        self.assertFalse(match(None, {"message": "order o-2 placed"}))

    def test_a_json_filter_compares_the_field(self):
        match = pattern_matcher('{ $.correlationid = "c-9" }')
        self.assertTrue(match(None, {"message": '{"correlationid": "c-9"}'}))
        self.assertFalse(match(None, {"message": '{"correlationid": "c-10"}'}))
        self.assertFalse(match(None, {"message": "not json c-9"}))


class ArchivedTimes(unittest.TestCase):
    def test_an_iso_string_and_a_naive_datetime_become_aware_datetimes(self):
        want = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)
        self.assertEqual(_to_datetime("2026-12-06T20:00:00Z"), want)
        self.assertEqual(_to_datetime(datetime(2026, 12, 6, 20, 0)), want)


if __name__ == "__main__":
    unittest.main()
