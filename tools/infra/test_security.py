"""Tests of the template's security invariants (run by `make infra-check`)."""

import os
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import assemble  # noqa: E402
import security  # noqa: E402

# A template that keeps every invariant; each test breaks one thing.
GOOD = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: AES256
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: !Sub ${Bucket.Arn}/*
            Condition:
              Bool:
                aws:SecureTransport: "false"
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      SSESpecification:
        SSEEnabled: true
      PointInTimeRecoverySpecification:
        PointInTimeRecoveryEnabled: true
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Queue.Arn
      Events:
        Stream:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            DestinationConfig:
              OnFailure:
                Destination: !GetAtt Queue.Arn
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Sid: Table
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt Table.Arn
            - Sid: Objects
              Effect: Allow
              Action: s3:GetObject
              Resource: !Sub ${Bucket.Arn}/claims/*
            - Sid: Traces
              Effect: Allow
              Action: xray:PutTraceSegments
              Resource: "*"
  Rule:
    Type: AWS::Events::Rule
    Properties:
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
"""


def problems(text):
    return security.security_problems(yaml.load(text, Loader=assemble.CfnLoader)["Resources"])  # noqa: S506


def edited(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


class SecurityInvariants(unittest.TestCase):
    def test_a_template_keeping_every_invariant_passes(self):
        self.assertEqual(problems(GOOD), [])

    def test_the_kits_template_passes(self):
        with open(assemble.TEMPLATE, encoding="utf-8") as f:
            self.assertEqual(problems(f.read()), [])

    def test_a_wildcard_action_is_named(self):
        found = problems(edited("Action: [dynamodb:GetItem, dynamodb:PutItem]", "Action: dynamodb:*"))
        self.assertEqual(found, ["Fn.Policies[0] statement 'Table' allows 'dynamodb:*': list the actions it needs"])

    def test_every_resource_for_an_action_that_can_name_one_is_named(self):
        found = problems(edited("Resource: !GetAtt Table.Arn", 'Resource: "*"'))
        self.assertEqual(found, ["Fn.Policies[0] statement 'Table' allows dynamodb:GetItem, dynamodb:PutItem "
                                 "on every resource ('*'): name the resources"])

    def test_a_wildcard_inside_an_arn_that_is_not_a_buckets_keys_is_named(self):
        found = problems(edited("Resource: !GetAtt Table.Arn",
                                "Resource: !Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"))
        self.assertEqual(len(found), 1)
        self.assertIn("statement 'Table' has a wildcard in the resource", found[0])

    def test_a_sam_policy_template_or_managed_policy_is_refused(self):
        found = problems(edited("      Policies:\n", "      Policies:\n        - AmazonSQSFullAccess\n"))
        self.assertEqual(len(found), 1)
        self.assertIn("'AmazonSQSFullAccess', a managed policy or SAM policy template", found[0])

    def test_an_allowed_wildcard_principal_is_named(self):
        found = problems(edited("Effect: Deny", "Effect: Allow"))
        self.assertIn("BucketPolicy statement allows any principal ('*'): name the service or account", found)

    def test_a_queue_table_or_bucket_without_encryption_is_named(self):
        self.assertEqual(problems(edited("      SqsManagedSseEnabled: true\n", "")),
                         ["Queue: a queue without encryption at rest: set SqsManagedSseEnabled: true"])
        self.assertEqual(problems(edited("SSEEnabled: true", "SSEEnabled: false")),
                         ["Table: a table without SSESpecification: SSEEnabled: true"])
        self.assertEqual(problems(edited("PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: false")),
                         ["Table: a table without point-in-time recovery: "
                          "PointInTimeRecoverySpecification: PointInTimeRecoveryEnabled: true"])
        self.assertEqual(problems(edited("RestrictPublicBuckets: true", "RestrictPublicBuckets: false")),
                         ["Bucket: PublicAccessBlockConfiguration.RestrictPublicBuckets is not true"])

    def test_a_bucket_reachable_over_plain_http_is_named(self):
        found = problems(edited('aws:SecureTransport: "false"', 'aws:SecureTransport: "true"'))
        self.assertEqual(found, ["Bucket: no bucket policy denies aws:SecureTransport false"])

    def test_a_rule_target_function_without_a_failure_destination_is_named(self):
        found = problems(edited("      EventInvokeConfig:\n        DestinationConfig:\n          OnFailure:\n"
                                "            Type: SQS\n            Destination: !GetAtt Queue.Arn\n", ""))
        self.assertEqual(found, ["Fn: EventBridge invokes it asynchronously, but it has no "
                                 "EventInvokeConfig.DestinationConfig.OnFailure: a failed event would be lost"])

    def test_a_stream_source_without_a_failure_queue_is_named(self):
        found = problems(edited("            DestinationConfig:\n              OnFailure:\n"
                                "                Destination: !GetAtt Queue.Arn\n", ""))
        self.assertEqual(len(found), 1)
        self.assertIn("Fn: a stream event source without DestinationConfig.OnFailure", found[0])


class ScannerSkips(unittest.TestCase):
    def test_each_resource_of_a_type_gets_the_types_skips_in_its_metadata(self):
        text = ("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: true\n"
                "  F:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n"
                "    Properties:\n      Handler: bootstrap\n")
        skips = {"AWS::SQS::Queue": [{"id": "CKV_AWS_27", "comment": "why"}],
                 "AWS::Serverless::Function": [{"id": "CKV_AWS_117", "comment": "because"}]}
        out = yaml.load(assemble.with_scanner_skips(text, skips), Loader=assemble.CfnLoader)["Resources"]  # noqa: S506
        self.assertEqual(out["Q"]["Metadata"], {"checkov": {"skip": [{"id": "CKV_AWS_27", "comment": "why"}]}})
        self.assertEqual(out["F"]["Metadata"]["BuildMethod"], "rust-cargolambda")
        self.assertEqual(out["F"]["Metadata"]["checkov"]["skip"], [{"id": "CKV_AWS_117", "comment": "because"}])
        self.assertEqual(out["F"]["Properties"], {"Handler": "bootstrap"})


if __name__ == "__main__":
    unittest.main()
