"""AWS::CloudWatch::Dashboard for LocalStack's CloudFormation, which has no provider for it.

Without one, LocalStack skips the resource with a warning, so a template's dashboards
could be broken and nothing would say so. This provider puts the dashboard with
PutDashboard (CloudWatch validates the body), so a deploy fails on a bad one and a test
can read it back with GetDashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
import localstack.services.cloudformation.provider_utils as util


class DashboardProperties(TypedDict):
    DashboardName: str | None
    DashboardBody: str | None


class DashboardProvider(ResourceProvider[DashboardProperties]):
    TYPE = "AWS::CloudWatch::Dashboard"
    SCHEMA = util.get_schema_path(Path(__file__).with_name("aws_cloudwatch_dashboard.py"))

    def _put(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        model = request.desired_state
        if not model.get("DashboardName"):
            model["DashboardName"] = util.generate_default_name(
                stack_name=request.stack_name, logical_resource_id=request.logical_resource_id
            )
        request.aws_client_factory.cloudwatch.put_dashboard(
            DashboardName=model["DashboardName"], DashboardBody=model["DashboardBody"]
        )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def create(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        return self._put(request)

    def update(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        return self._put(request)

    def read(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        raise NotImplementedError

    def delete(self, request: ResourceRequest[DashboardProperties]) -> ProgressEvent[DashboardProperties]:
        model = request.desired_state
        request.aws_client_factory.cloudwatch.delete_dashboards(DashboardNames=[model["DashboardName"]])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class DashboardProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::CloudWatch::Dashboard"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = DashboardProvider
