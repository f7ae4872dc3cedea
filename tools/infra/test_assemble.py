"""Tests of the template assembler's checks (run by `make infra-check`)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import assemble  # noqa: E402

QUEUES = """
Resources:
  WorkDLQ:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDLQ.Arn
        maxReceiveCount: 3
  FailureDLQ:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt FailureDLQ.Arn
  WorkDlqAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions:
        - Name: QueueName
          Value: !GetAtt WorkDLQ.QueueName
%s
"""

FAILURE_ALARM = """  FailureDlqAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions:
        - Name: QueueName
          Value: !GetAtt FailureDLQ.QueueName
"""


class QueueInvariants(unittest.TestCase):
    def test_queues_with_dlqs_and_alarmed_dlqs_pass(self):
        self.assertEqual(assemble.queue_problems(QUEUES % FAILURE_ALARM), [])

    def test_a_failure_destination_without_an_alarm_is_named(self):
        self.assertEqual(
            assemble.queue_problems(QUEUES % ""),
            ["FailureDLQ is a dead-letter queue without an alarm on ApproximateNumberOfMessagesVisible"],
        )

    def test_a_queue_without_a_dlq_is_named(self):
        text = (QUEUES % FAILURE_ALARM) + "  Lonely:\n    Type: AWS::SQS::Queue\n"
        self.assertEqual(
            assemble.queue_problems(text),
            ["Lonely is a work queue without a RedrivePolicy (every queue needs a DLQ)"],
        )


    def test_a_bucket_expiring_objects_before_a_queue_drops_its_messages_is_named(self):
        bucket = """  Store:
    Type: AWS::S3::Bucket
    Properties:
      LifecycleConfiguration:
        Rules:
          - Id: expire
            Status: Enabled
            ExpirationInDays: %d
"""
        keeping = (QUEUES % FAILURE_ALARM).replace(
            "  WorkDLQ:\n    Type: AWS::SQS::Queue\n",
            "  WorkDLQ:\n    Type: AWS::SQS::Queue\n    Properties:\n      MessageRetentionPeriod: 1209600\n",
        )
        self.assertEqual(assemble.queue_problems(keeping + bucket % 15), [])
        self.assertEqual(
            assemble.queue_problems(keeping + bucket % 7),
            ["Store expires objects after 7 days, but WorkDLQ keeps a message 14 days: a pointer "
             "redriven late would find nothing (expire later than the longest MessageRetentionPeriod)"],
        )
        # A queue left at SQS's default keeps messages 4 days.
        self.assertEqual(assemble.queue_problems((QUEUES % FAILURE_ALARM) + bucket % 5), [])

    def test_an_alarmed_parking_queue_needs_no_dlq(self):
        text = (QUEUES % FAILURE_ALARM) + """  Parked:
    Type: AWS::SQS::Queue
  ParkedAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions:
        - Name: QueueName
          Value: !GetAtt Parked.QueueName
"""
        self.assertEqual(assemble.queue_problems(text), [])


class Sections(unittest.TestCase):
    def test_sections_keep_comments_and_order(self):
        text = "# head\nPattern:\n  Id: x\n\nResources:\n  # a comment\n  A:\n    Type: T\n"
        found = assemble.sections(text, "x.yaml")
        self.assertEqual([n for n, _ in found], ["#preamble", "Pattern", "Resources"])
        self.assertIn("# a comment", assemble.body(dict(found)["Resources"]))


class Catalogue(unittest.TestCase):
    def test_every_pattern_has_a_row_naming_its_parts(self):
        patterns, _ = assemble.load_patterns()
        block = assemble.catalogue(patterns)
        for p in patterns:
            self.assertIn(p.meta["Doc"], block)
            for t in assemble.tests_of(p.meta):
                self.assertIn(t, block)
            for f in p.meta["Functions"]:
                self.assertIn(f"functions/{f}/", block)


class Observability(unittest.TestCase):
    def test_every_function_gets_alarms_and_its_pattern_a_dashboard_naming_its_metrics(self):
        patterns, _ = assemble.load_patterns()
        template = assemble.yaml.load(assemble.assemble(patterns), Loader=assemble.CfnLoader)  # noqa: S506
        resources = template["Resources"]
        for p in patterns:
            if not p.functions:
                continue
            dashboard = resources[assemble.camel(p.id) + "Dashboard"]
            self.assertEqual(dashboard["Condition"], "ObservabilityOn")
            body_text, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
            body = assemble.json.loads(body_text)
            names = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]}
            self.assertTrue({"RecordsProcessed", "RecordsFailed", "EventAge", "DuplicatesAbsorbed"} <= names, p.id)
            self.assertEqual(sorted(v["Ref"] for v in variables.values() if "Ref" in v), sorted(p.functions))
            if p.dlqs:
                self.assertIn("ApproximateNumberOfMessagesVisible", names, p.id)
            for fn in p.functions:
                env = resources[fn]["Properties"]["Environment"]["Variables"]
                self.assertEqual(env["EVENTKIT_PATTERN"], p.id)
                self.assertEqual(resources[fn + "EventAgeAlarm"]["Properties"]["MetricName"], "EventAge")
                rate = resources[fn + "FailureRateAlarm"]["Properties"]["Metrics"]
                self.assertEqual([m["Id"] for m in rate], ["failed", "processed", "rate"])

    def test_a_function_without_its_pattern_variable_is_refused(self):
        import tempfile
        with open(os.path.join(assemble.INFRA, "patterns", "point-to-point.yaml"), encoding="utf-8") as f:
            text = f.read().replace("EVENTKIT_PATTERN: point-to-point", "EVENTKIT_PATTERN: elsewhere")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "point-to-point.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            with self.assertRaises(SystemExit) as raised:
                assemble.Pattern(path)
            self.assertEqual(raised.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
