"""Tests of tools/infra/aws_rules.py (run by `make infra-check`): each rule family accepts
the examples of the AWS page it cites and refuses a definition AWS refuses."""

import os
import shutil
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import aws_rules  # noqa: E402
from assemble import CfnLoader  # noqa: E402


def template(text):
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506


def with_resource(kind, properties, **resources):
    """A template of one resource `R` (plus `resources`: name -> (type, properties))."""
    out = {"Resources": {"R": {"Type": kind, "Properties": properties}}}
    for name, (k, p) in resources.items():
        out["Resources"][name] = {"Type": k, "Properties": p}
    return out


def alarm(**properties):
    return aws_rules.alarm_problems(with_resource("AWS::CloudWatch::Alarm", properties))


def metric(i, name="Invocations", **extra):
    return {"Id": i, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": name}, "Period": 60, "Stat": "Sum"}, **extra}


class Alarms(unittest.TestCase):
    def test_the_documented_examples_pass(self):
        # AWS::CloudWatch::Alarm's anomaly detection example (the band returns data beside
        # the metric; neither sets ReturnData).
        self.assertEqual(alarm(ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold", EvaluationPeriods=1,
                               Metrics=[{"Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Id": "ad1"},
                                        {"Id": "m1", "MetricStat": {"Metric": {"MetricName": "Invocations", "Namespace": "AWS/Lambda"},
                                                                    "Period": 86400, "Stat": "Sum"}}],
                               ThresholdMetricId="ad1"), [])
        # Metric math: "errors divided by requests" with the inputs not returned.
        self.assertEqual(alarm(EvaluationPeriods=5, DatapointsToAlarm=3, Threshold=0.05, Metrics=[
            metric("errors", "Errors", ReturnData=False), metric("requests", ReturnData=False),
            {"Id": "rate", "Expression": "errors / requests", "ReturnData": True}]), [])
        self.assertEqual(alarm(EvaluationPeriods=1, Metrics=[
            metric("m1", ReturnData=False), {"Id": "e1", "Expression": "SUM(METRICS())", "Label": "total"}]), [])
        # A single metric with a percentile, and a high-resolution period.
        self.assertEqual(alarm(Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage", ExtendedStatistic="p99",
                               Period=60, EvaluationPeriods=1440), [])
        self.assertEqual(alarm(Namespace="app", MetricName="Latency", Statistic="Maximum", Period=10, EvaluationPeriods=3), [])

    def test_what_put_metric_alarm_refuses_is_reported(self):
        cases = {
            "exactly one may": [metric("m1"), {"Id": "e1", "Expression": "m1 * 2"}],  # ReturnData defaults to true
            "used twice": [metric("m1", ReturnData=False), metric("m1", ReturnData=False), {"Id": "e1", "Expression": "m1"}],
            "lower-case letter": [metric("Errors", ReturnData=False), {"Id": "e1", "Expression": "Errors"}],
            "no metric Id here": [metric("m1", ReturnData=False), {"Id": "e1", "Expression": "m1 / m2"}],
            "not both or neither": [{**metric("m1"), "Expression": "m1"}],
            "at most 20": [metric(f"m{i}", ReturnData=False) for i in range(11)] + [{"Id": "e1", "Expression": "SUM(METRICS())"}],
        }
        for expected, metrics in cases.items():
            with self.subTest(expected):
                self.assertIn(expected, " ".join(alarm(EvaluationPeriods=1, Metrics=metrics)))
        single = dict(Namespace="AWS/SQS", MetricName="NumberOfMessagesSent", Statistic="Sum", Period=60, EvaluationPeriods=1)
        for expected, change in {
            "exactly one of Statistic": dict(ExtendedStatistic="p99"),
            "not 10, 20, 30": dict(Period=45),
            "86400 s": dict(EvaluationPeriods=1441),
            "604800 s": dict(Period=3600, EvaluationPeriods=169),
            "M <= N": dict(DatapointsToAlarm=2),
            "needs Namespace and MetricName": dict(MetricName=None),
        }.items():
            with self.subTest(expected):
                props = {k: v for k, v in {**single, **change}.items() if v is not None}
                self.assertIn(expected, " ".join(alarm(**props)))
        self.assertIn("cannot be given with Metrics", " ".join(alarm(
            EvaluationPeriods=1, Period=60, Metrics=[metric("m1")])))


def dashboard(body, **extra):
    return aws_rules.dashboard_problems(with_resource("AWS::CloudWatch::Dashboard", {"DashboardBody": body, **extra}))


# The first example of "Dashboard Body Structure and Syntax".
DOC_BODY = """{"start": "-PT6H", "periodOverride": "inherit", "widgets": [
  {"type":"metric", "x":0, "y":0, "width":12, "height":6, "properties":{
     "metrics":[["AWS/EC2", "CPUUtilization", "InstanceId", "i-012345"]], "period":300, "stat":"Average",
     "region":"us-east-1", "title":"EC2 Instance CPU", "liveData": false, "legend": {"position": "right"}}},
  {"type":"text", "x":0, "y":7, "width":3, "height":3, "properties":{"markdown":"Hello world"}}]}"""


class Dashboards(unittest.TestCase):
    def test_the_documented_example_passes_also_as_a_sub_with_placeholders(self):
        self.assertEqual(dashboard(DOC_BODY), [])
        sub = {"Fn::Sub": [DOC_BODY.replace("us-east-1", "${AWS::Region}").replace("i-012345", "${Id}"), {"Id": "i-1"}]}
        self.assertEqual(dashboard(sub, DashboardName={"Fn::Sub": "${AWS::StackName}-ops"}), [])
        # Shorthand for "same as the metric above", and an expression of its own.
        self.assertEqual(dashboard('{"widgets": [{"type": "metric", "properties": {"region": "eu-west-1", "metrics": ['
                                   '["AWS/Lambda", "Errors", "FunctionName", "a"], ["...", "b"], '
                                   '[{"expression": "SUM(METRICS())", "label": "all"}]]}}]}'), [])

    def test_a_body_put_dashboard_refuses_is_reported(self):
        cases = {
            "widgets array": '{"start": "-PT6H"}',
            "not JSON": '{"widgets": [}',
            "width 25": DOC_BODY.replace('"width":12', '"width":25'),
            "needs its region": DOC_BODY.replace('"region":"us-east-1",', ""),
            "is not [Namespace": DOC_BODY.replace('"InstanceId", "i-012345"', '"InstanceId"'),
            "type 'graph'": DOC_BODY.replace('"type":"metric"', '"type":"graph"'),
            "period 90": DOC_BODY.replace('"period":300', '"period":90'),
            "needs markdown": DOC_BODY.replace('"markdown":"Hello world"', '"text":"Hello"'),
        }
        for expected, body in cases.items():
            with self.subTest(expected):
                self.assertIn(expected, " ".join(dashboard(body)))
        self.assertIn("letters, digits", " ".join(dashboard(DOC_BODY, DashboardName="ops.main")))
        # The resource's schema (the LocalStack plugin's) refuses unknown properties.
        self.assertIn("Additional properties", " ".join(dashboard(DOC_BODY, Widgets=[])))


def patterns(pattern):
    return aws_rules.event_pattern_problems(with_resource("AWS::Events::Rule", {"EventPattern": pattern}))


class EventPatterns(unittest.TestCase):
    def test_the_documented_operators_pass(self):
        # The examples of "Content filtering in Amazon EventBridge event patterns".
        for pattern in [
            {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
            {"time": [{"prefix": "2017-10-02"}]},
            {"detail": {"FileName": [{"suffix": ".png"}]}},
            {"detail": {"state": [{"anything-but": "initializing"}]}},
            {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
            {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}]}},
            {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}},
            {"detail": {"c-count": [{"exists": False}]}},
            {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
            {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
            {"detail": {"$or": [{"c-count": [{"numeric": [">", 0]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}},
            '{"source": ["aws.s3"]}',
            {"account": [{"Ref": "AWS::AccountId"}]},
        ]:
            with self.subTest(pattern):
                self.assertEqual(patterns(pattern), [])

    def test_what_put_rule_refuses_is_reported(self):
        for pattern in [
            {"source": "aws.ec2"},  # a value, not an array
            {"source": []},
            {"detail": {"state": [{"begins-with": "init"}]}},
            {"detail": {"c-count": [{"numeric": ["<", 5, ">", 0]}]}},
            {"detail": {"c-count": [{"numeric": [">", "zero"]}]}},
            {"detail": {"ip": [{"cidr": "10.0.0.0"}]}},
            {"detail": {"x": [{"exists": "yes"}]}},
            {"detail": {"x": [{"prefix": "a", "suffix": "b"}]}},
            '{"source": ["aws.s3"]',
            {"source": ["x" * 4100]},
        ]:
            with self.subTest(pattern):
                self.assertTrue(patterns(pattern))
        archive = {"Resources": {"A": {"Type": "AWS::Events::Archive", "Properties": {"EventPattern": {"source": []}}}}}
        self.assertIn("A: EventBridge refuses", " ".join(aws_rules.event_pattern_problems(archive)))


def transformer(paths, text, samples=(), pattern=None):
    rule = {"EventPattern": pattern or {"source": ["aws.ec2"]},
            "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q",
                         "InputTransformer": {"InputPathsMap": paths, "InputTemplate": text}}]}
    return aws_rules.input_transformer_problems(with_resource("AWS::Events::Rule", rule), samples)


EC2_EVENT = {"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification",
             "source": "aws.ec2", "account": "123456789012", "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
             "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
             "detail": {"instance-id": "i-0123456789", "state": "RUNNING"}}


class InputTransformers(unittest.TestCase):
    def test_the_documented_examples_pass(self):
        # API_InputTransformer's examples, and the user guide's EC2 event and predefined variables.
        paths = {"instance": "$.detail.instance-id", "status": "$.detail.state"}
        self.assertEqual(transformer(paths, "<instance> is in state <status>"), [])
        self.assertEqual(transformer(paths, '<instance> is in state "<status>"'), [])
        self.assertEqual(transformer(paths, '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}',
                                     [("ec2.json", EC2_EVENT)]), [])
        self.assertEqual(transformer({"resource": "$.resources[0]", "all": "$"},
                                     '{"rule": "<aws.events.rule-name>", "at": <aws.events.event.ingestion-time>, '
                                     '"event": <aws.events.event.json>, "first": <resource>, "whole": <all>}',
                                     [("ec2.json", EC2_EVENT)]), [])

    def test_what_eventbridge_refuses_or_mangles_is_reported(self):
        ok = {"instance": "$.detail.instance-id"}
        cases = {
            "over the 100 allowed": ({f"k{i}": "$.detail" for i in range(101)}, '{"a": 1}'),
            "not starting with AWS": ({"AWSinstance": "$.detail"}, "<AWSinstance>"),
            "must be letters": ({"the.instance": "$.detail"}, "x"),
            "starting with '$'": ({"instance": "detail.instance-id"}, "<instance>"),
            "does not define": (ok, "<instance> is <status>"),
            "not valid JSON": (ok, '{"a": <instance> <instance>}'),
            "as an object key": (ok, '{<instance>: 1}'),
            "inside a JSON string": (ok, '{"event": "<aws.events.event.json>"}'),
        }
        for expected, (paths, text) in cases.items():
            with self.subTest(expected):
                found = " ".join(transformer(paths, text))
                self.assertIn(expected, found)
        found = transformer({"zone": "$.detail.availability-zone"}, '{"zone": <zone>}', [("events/ec2.json", EC2_EVENT)])
        self.assertIn("missing from events/ec2.json", " ".join(found))
        # A sample the rule does not match is not asked for the path.
        self.assertEqual(transformer({"zone": "$.detail.availability-zone"}, '{"zone": <zone>}',
                                     [("events/ec2.json", EC2_EVENT)], {"source": ["aws.s3"]}), [])

    def test_the_samples_are_read_from_files_and_sqs_bodies(self):
        found = aws_rules.sample_events()
        self.assertTrue(any(p.endswith("eventbridge-order-placed.json") for p, _ in found))
        self.assertTrue(any(p.endswith("sqs-order-events.json") for p, _ in found))


SQS_TEMPLATE = """
Parameters:
  FunctionTimeout: {Type: Number, Default: 10}
  QueueVisibilityTimeout: {Type: Number, Default: 70}
Globals:
  Function:
    Timeout: !Ref FunctionTimeout
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: !Ref QueueVisibilityTimeout}
  Fifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Q: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn, BatchSize: 10, FunctionResponseTypes: [ReportBatchItemFailures]}}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {FunctionName: !Ref Fn, EventSourceArn: !GetAtt Table.StreamArn, StartingPosition: TRIM_HORIZON, BatchSize: 100}
"""


def mappings(change=None, parameter_sets=({},), text=SQS_TEMPLATE):
    t = template(text)
    if change:
        change(t["Resources"])
    return aws_rules.event_source_mapping_problems(t, parameter_sets)


class EventSourceMappings(unittest.TestCase):
    def test_the_documented_examples_pass(self):
        self.assertEqual(mappings(), [])
        # AWS::Serverless::Function's SQS and DynamoDB event examples (sources by ARN).
        self.assertEqual(mappings(text="""
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Q: {Type: SQS, Properties: {Queue: arn:aws:sqs:us-west-2:012345678901:my-queue, BatchSize: 10, Enabled: false}}
        S:
          Type: DynamoDB
          Properties:
            Stream: arn:aws:dynamodb:us-east-1:123456789012:table/TestTable/stream/2016-08-11T21:21:33.291
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            Enabled: false
"""), [])

    def test_what_create_event_source_mapping_refuses_is_reported(self):
        def sqs(**props):
            return lambda r: r["Fn"]["Properties"]["Events"]["Q"]["Properties"].update(props)
        cases = {
            "needs MaximumBatchingWindowInSeconds >= 1": sqs(BatchSize=100),
            "over the 10000": sqs(BatchSize=10001, MaximumBatchingWindowInSeconds=1),
            "over the 10 allowed for a FIFO": sqs(Queue={"Fn::GetAtt": ["Fifo", "Arn"]}, BatchSize=11),
            "FIFO queue takes no": sqs(Queue={"Fn::GetAtt": ["Fifo", "Arn"]}, MaximumBatchingWindowInSeconds=5),
            "only valid value": sqs(FunctionResponseTypes=["ReportFailures"]),
            "streams only": sqs(StartingPosition="LATEST"),
            "outside 0..300": sqs(MaximumBatchingWindowInSeconds=301),
            "needs StartingPosition": lambda r: r["Mapping"]["Properties"].pop("StartingPosition"),
            "times out after 90 s": lambda r: r["Fn"]["Properties"].update(Timeout=90),
        }
        for expected, change in cases.items():
            with self.subTest(expected):
                self.assertIn(expected, " ".join(mappings(change)))

    def test_timeouts_are_checked_with_each_parameter_set(self):
        local = {"FunctionTimeout": "10", "QueueVisibilityTimeout": "12"}
        self.assertEqual(mappings(parameter_sets=({}, local)), [])
        found = mappings(parameter_sets=({}, {"QueueVisibilityTimeout": "6"}))
        self.assertEqual(len(found), 1)
        self.assertIn("with QueueVisibilityTimeout=6", found[0])
        # An unset visibility timeout is SQS's default, 30 s.
        self.assertIn("is 30 s", " ".join(mappings(
            lambda r: (r["Queue"]["Properties"].clear(), r["Fn"]["Properties"].update(Timeout=31)))))

    def test_the_makefile_gives_the_local_parameters(self):
        self.assertEqual({k: v for k, v in aws_rules.local_parameters().items() if "Timeout" in k},
                         {"FunctionTimeout": "10", "QueueVisibilityTimeout": "12"})


def environment(variables, **resources):
    props = {"Environment": {"Variables": variables}}
    return aws_rules.environment_problems(with_resource("AWS::Serverless::Function", props, **resources))


class Environments(unittest.TestCase):
    def test_the_documented_example_passes(self):
        # configuration-envvars: "BUCKET" and "KEY" variables; a reference counted at its longest.
        self.assertEqual(environment({"BUCKET": "amzn-s3-demo-bucket", "KEY": "file.txt",
                                      "TABLE": {"Ref": "T"}}, T=("AWS::DynamoDB::Table", {})), [])

    def test_reserved_names_and_size_are_reported(self):
        self.assertIn("AWS_REGION is reserved", " ".join(environment({"AWS_REGION": "us-east-1"})))
        self.assertIn("must match", " ".join(environment({"1ST": "x"})))
        self.assertIn("over Lambda's 4 KB", " ".join(environment({"BIG": "x" * 4000, "TABLE": {"Ref": "T"}},
                                                                 T=("AWS::DynamoDB::Table", {}))))
        # Globals count: SAM merges them into each function's variables.
        t = with_resource("AWS::Serverless::Function", {})
        t["Globals"] = {"Function": {"Environment": {"Variables": {"_HANDLER": "x"}}}}
        self.assertIn("_HANDLER is reserved", " ".join(aws_rules.environment_problems(t)))

    def test_a_constrained_parameter_counts_at_its_longest(self):
        t = with_resource("AWS::Serverless::Function", {"Environment": {"Variables": {"STAGE": {"Ref": "Stage"}}}})
        t["Parameters"] = {"Stage": {"Type": "String", "Default": "dev", "AllowedPattern": "^[a-z]{1,5000}$"}}
        self.assertIn("over Lambda's 4 KB", " ".join(aws_rules.environment_problems(t)))


class PayloadLimits(unittest.TestCase):
    def test_the_kits_constants_fit_the_documented_limits(self):
        kit = aws_rules.kit_limits()
        self.assertEqual(set(kit["limits"]), set(aws_rules.DOCUMENTED_LIMITS))
        self.assertEqual(aws_rules.kit_limit_problems(kit), [])

    def test_a_constant_past_its_limit_fails(self):
        edits = {
            "shared/src/claim_check.rs": [("Transport::Sns | Transport::StepFunctions => 262_144",
                                           "Transport::Sns | Transport::StepFunctions => 1_048_576"),
                                          ("self.limit() - 8 * 1024", "self.limit() - 0")],
            "shared/src/outbox.rs": [("const BATCH: usize = 10;", "const BATCH: usize = 25;")],
        }
        with tempfile.TemporaryDirectory() as root:
            for rel in ("shared/src/claim_check.rs", "shared/src/outbox.rs", "shared/src/aws/eventbridge.rs"):
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                shutil.copy(os.path.join(aws_rules.ROOT, rel), os.path.join(root, rel))
            for rel, changes in edits.items():
                path = os.path.join(root, rel)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for old, new in changes:
                    self.assertIn(old, text)
                    text = text.replace(old, new)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            found = " ".join(aws_rules.kit_limit_problems(aws_rules.kit_limits(root)))
        self.assertIn("Transport::StepFunctions.limit() is 1048576", found)
        self.assertIn("Transport::Sns.limit()", found)
        self.assertIn("no headroom", found)
        self.assertIn("outbox.rs BATCH is 25", found)

    def test_hops_the_template_makes_too_small_are_reported(self):
        kit = aws_rules.kit_limits()
        t = template("""
Resources:
  Machine: {Type: AWS::Serverless::StateMachine, Properties: {}}
  Queue: {Type: AWS::SQS::Queue, Properties: {MaximumMessageSize: 262144}}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [a]}
      Targets:
        - {Id: machine, Arn: !Ref Machine}
        - {Id: queue, Arn: !GetAtt Queue.Arn}
""")
        found = " ".join(aws_rules.payload_problems(t, kit))
        self.assertIn("Machine gets whole bus events", found)
        self.assertIn("Queue: MaximumMessageSize 262144", found)
        t["Resources"]["Rule"]["Properties"]["Targets"][0]["InputTransformer"] = {"InputTemplate": '{"id": <id>}'}
        t["Resources"]["Queue"]["Properties"]["MaximumMessageSize"] = 1048576
        self.assertEqual(aws_rules.payload_problems(t, kit), [])


class StateMachineDefinitions(unittest.TestCase):
    def test_substitutions_take_values_of_their_kind_and_a_missing_one_is_reported(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "m.asl.json"), "w", encoding="utf-8") as f:
                f.write('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${FnArn}", "Next": "B"},'
                        ' "B": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",'
                        ' "Parameters": {"QueueUrl": "${Url}"}, "End": true}}}')
            t = template("""
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {}}
  Q: {Type: AWS::SQS::Queue, Properties: {}}
  File:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: m.asl.json
      DefinitionSubstitutions: {FnArn: !GetAtt Fn.Arn, Url: !Ref Q}
  Inline:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Task, Resource: "${Missing}", End: true}}}
""")
            found, problems = aws_rules.state_machine_definitions(t, d)
        definitions = dict(found)
        self.assertIn('"Resource": "arn:aws:lambda:us-east-1:123456789012:function:eventkit-Fn"', definitions["File"])
        self.assertIn('"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/eventkit-Q"', definitions["File"])
        self.assertIn("Inline", definitions)
        self.assertEqual(len(problems), 1)
        self.assertIn("${Missing}", problems[0])


if __name__ == "__main__":
    unittest.main()
