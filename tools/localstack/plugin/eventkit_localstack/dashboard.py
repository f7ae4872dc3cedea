"""AWS::CloudWatch::Dashboard for LocalStack's CloudFormation, which has no provider for it.

Without one, LocalStack skips the resource with a warning. This provider puts the
dashboard with PutDashboard, so a test can read it back with GetDashboard (LocalStack's
PutDashboard checks the name only; `make lint` checks the body: tools/infra/aws_rules.py).
"""

from __future__ import annotations

import localstack.services.cloudformation.provider_utils as util

from eventkit_localstack.put_provider import PutProvider, plugin_for


class DashboardProvider(PutProvider):
    TYPE = "AWS::CloudWatch::Dashboard"
    SCHEMA_FILE = "aws_cloudwatch_dashboard.schema.json"

    def put(self, request, model):
        if not model.get("DashboardName"):
            model["DashboardName"] = util.generate_default_name(
                stack_name=request.stack_name, logical_resource_id=request.logical_resource_id
            )
        request.aws_client_factory.cloudwatch.put_dashboard(
            DashboardName=model["DashboardName"], DashboardBody=model["DashboardBody"]
        )

    def remove(self, request, model):
        request.aws_client_factory.cloudwatch.delete_dashboards(DashboardNames=[model["DashboardName"]])


DashboardProviderPlugin = plugin_for(DashboardProvider)
