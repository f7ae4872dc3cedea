"""Unit tests of the IAM audit: recorded calls into IAM actions and resources, and moto's
verdicts over policies shaped like the template's (no LocalStack needed)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import audit  # noqa: E402

ACCOUNT, REGION = "000000000000", "us-east-1"


def call(service, operation, **params):
    return {"service": service, "operation": operation, "params": params, "account": ACCOUNT, "region": REGION}


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


class Authorisations(unittest.TestCase):
    def test_sqs_batch_operations_are_authorised_as_their_single_action(self):
        url = f"http://127.0.0.1:4566/queue/{REGION}/{ACCOUNT}/ledger"
        self.assertEqual(audit.authorisations(call("sqs", "SendMessageBatch", QueueUrl=url)),
                         [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:ledger")])
        self.assertEqual(audit.authorisations(call("sqs", "DeleteMessageBatch", QueueUrl=url))[0][0], "sqs:DeleteMessage")

    def test_a_transaction_needs_each_items_action_on_its_table(self):
        items = [{"Put": {"TableName": "events"}}, {"ConditionCheck": {"TableName": "heads"}}]
        self.assertEqual(audit.authorisations(call("dynamodb", "TransactWriteItems", TransactItems=items)), [
            ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/events"),
            ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/heads"),
        ])

    def test_a_query_on_an_index_names_the_index(self):
        got = audit.authorisations(call("dynamodb", "Query", TableName="t", IndexName="by-time"))
        self.assertEqual(got, [("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/index/by-time")])

    def test_s3_head_is_get_object_on_the_key(self):
        got = audit.authorisations(call("s3", "HeadObject", Bucket="b", Key="claims/x%2Fy"))
        self.assertEqual(got, [("s3:GetObject", "arn:aws:s3:::b/claims/x/y")])

    def test_put_events_names_each_bus_and_the_default_one(self):
        got = audit.authorisations(call("events", "PutEvents", Entries=[{"EventBusName": "kit"}, {}]))
        self.assertEqual(sorted(got), [("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
                                       ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/kit")])

    def test_invoke_by_name_and_by_qualified_name(self):
        fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:supplier"
        self.assertEqual(audit.authorisations(call("lambda", "Invoke", FunctionName="supplier")),
                         [("lambda:InvokeFunction", fn)])
        self.assertEqual(audit.authorisations(call("lambda", "Invoke", FunctionName=fn, Qualifier="live")),
                         [("lambda:InvokeFunction", fn + ":live")])

    def test_a_redrive_needs_the_dlq_and_the_destination(self):
        dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
        actions = [a for a, _ in audit.authorisations(call("sqs", "StartMessageMoveTask", SourceArn=dlq))]
        self.assertEqual(actions, ["sqs:StartMessageMoveTask", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                   "sqs:GetQueueAttributes"])

    def test_an_unknown_call_is_named_not_guessed(self):
        with self.assertRaises(audit.Unmapped):
            audit.authorisations(call("kinesis", "PutRecord", StreamName="s"))
        with self.assertRaises(audit.Unmapped):
            audit.authorisations(call("dynamodb", "GetItem"))


class Justifications(unittest.TestCase):
    names = {"eventkit-IdempotencyTable-1a2b": "IdempotencyTable", "eventkit-claims-9f": "ClaimCheckBucket",
             "eventkit-LedgerDLQ-77": "LedgerDLQ", "eventkit-LedgerDLQ-77-other": "Other"}

    def test_a_grant_names_the_resource_of_its_arn(self):
        self.assertEqual(audit.logical_id(self.names, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/eventkit-IdempotencyTable-1a2b"),
                         "IdempotencyTable")
        self.assertEqual(audit.logical_id(self.names, "arn:aws:s3:::eventkit-claims-9f/*"), "ClaimCheckBucket")
        self.assertEqual(audit.logical_id(self.names, f"arn:aws:sqs:{REGION}:{ACCOUNT}:eventkit-LedgerDLQ-77"), "LedgerDLQ")
        self.assertIsNone(audit.logical_id(self.names, f"arn:aws:sqs:{REGION}:{ACCOUNT}:eventkit-LedgerDLQ-7"))
        self.assertIsNone(audit.logical_id(self.names, "*"))


class Sources(unittest.TestCase):
    def test_a_rule_is_named_by_its_name_and_an_api_by_its_id(self):
        self.assertEqual(audit.source_name(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eventkit-bus/eventkit-LedgerRule-1a"),
                         "eventkit-LedgerRule-1a")
        self.assertEqual(audit.source_name(f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ledger"), "ledger")
        self.assertEqual(audit.source_name(f"arn:aws:execute-api:{REGION}:{ACCOUNT}:vuo8bqvcp5/Prod/POST/orders/{{id}}"),
                         "vuo8bqvcp5")


class Verdicts(unittest.TestCase):
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger"

    def test_a_granted_call_is_allowed_and_a_missing_grant_denied(self):
        docs = [policy(allow(["dynamodb:GetItem", "dynamodb:PutItem"], self.table))]
        self.assertTrue(audit.evaluate(docs, "dynamodb:PutItem", self.table))
        self.assertFalse(audit.evaluate(docs, "dynamodb:DeleteItem", self.table))
        self.assertFalse(audit.evaluate(docs, "dynamodb:PutItem", self.table + "-other"))

    def test_an_explicit_deny_wins_over_an_allow(self):
        docs = [policy(allow("s3:GetObject", "arn:aws:s3:::b/*")),
                policy({"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/secret/*"})]
        self.assertTrue(audit.evaluate(docs, "s3:GetObject", "arn:aws:s3:::b/claims/1"))
        self.assertFalse(audit.evaluate(docs, "s3:GetObject", "arn:aws:s3:::b/secret/1"))

    def test_a_resource_policy_applies_only_to_the_service_it_names(self):
        queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ledger"
        doc = policy({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                      "Action": "sqs:SendMessage", "Resource": queue})
        self.assertTrue(audit.evaluate([audit.statements_for_service(doc, "events.amazonaws.com")],
                                       "sqs:SendMessage", queue))
        self.assertFalse(audit.evaluate([audit.statements_for_service(doc, "sns.amazonaws.com")],
                                        "sqs:SendMessage", queue))


if __name__ == "__main__":
    unittest.main()
