"""AWS::Logs::ResourcePolicy for LocalStack's CloudFormation, which has no provider for it.

Without one, LocalStack skips the resource with a warning: the policy that lets
EventBridge write the audit log group would not exist, and the IAM audit
(``tools/iam/audit.py``), which reads resource policies back as deployed, would rightly
find EventBridge's writes denied. This provider puts it with PutResourcePolicy.
"""

from __future__ import annotations

from eventkit_localstack.put_provider import PutProvider, plugin_for


class ResourcePolicyProvider(PutProvider):
    TYPE = "AWS::Logs::ResourcePolicy"
    SCHEMA_FILE = "aws_logs_resourcepolicy.schema.json"

    def put(self, request, model):
        request.aws_client_factory.logs.put_resource_policy(
            policyName=model["PolicyName"], policyDocument=model["PolicyDocument"]
        )

    def remove(self, request, model):
        request.aws_client_factory.logs.delete_resource_policy(policyName=model["PolicyName"])


ResourcePolicyProviderPlugin = plugin_for(ResourcePolicyProvider)
