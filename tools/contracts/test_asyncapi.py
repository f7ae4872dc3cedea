"""The AsyncAPI generator refuses what it cannot describe truthfully, and the parser check
refuses a broken document (so a green `make contracts-check` means something)."""

import copy
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import asyncapi  # noqa: E402


class Generator(unittest.TestCase):
    def setUp(self):
        self.contracts, self.topo, self.schemas, self.envelope = asyncapi.load()

    def build(self, contracts):
        return asyncapi.build(contracts, self.topo, self.schemas, self.envelope)

    def test_every_rule_target_receives_what_the_rule_routes(self):
        doc, _, receivers = self.build(self.contracts)
        self.assertIn("order.placed.v1", receivers[("SenderRouterFunction", "OrdersToRouteQueue")])
        self.assertIn("order.placed.v1", doc["channels"]["OrdersToRouteDLQ"]["messages"])
        self.assertIn("quote.requested.v1", receivers[("SupplierAFunction", "bus")])

    def test_a_producer_missing_from_the_template_is_refused(self):
        contracts = copy.deepcopy(self.contracts)
        contracts[0]["producers"] = ["GhostFunction"]
        with self.assertRaises(SystemExit):
            self.build(contracts)

    def test_a_routed_type_missing_from_the_catalogue_is_refused(self):
        contracts = [c for c in self.contracts if c["type"] != "order.cancelled"]
        with self.assertRaises(SystemExit):
            self.build(contracts)


class ParserCheck(unittest.TestCase):
    def test_a_broken_document_fails_the_parser_check(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asyncapi-check.sh")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            # An operation on a channel that does not exist.
            f.write("asyncapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
                    "operations:\n  op:\n    action: send\n    channel: {$ref: '#/channels/nowhere'}\n")
        try:
            run = subprocess.run([script, f.name], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("error", run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
