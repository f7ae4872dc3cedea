"""CloudFormation providers for resource types LocalStack's CloudFormation lacks, whose
create and update are one idempotent put and whose delete is one call (a dashboard, a
log resource policy). Without a provider LocalStack skips such a resource with a warning.
"""

from __future__ import annotations

from pathlib import Path

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)
import localstack.services.cloudformation.provider_utils as util


class PutProvider(ResourceProvider[dict]):
    """Subclasses set TYPE and SCHEMA_FILE and implement ``put`` and ``remove``."""

    TYPE: str
    SCHEMA_FILE: str

    @classmethod
    def schema_path(cls) -> str:
        # get_schema_path maps `<name>.py` to `<name>.schema.json` beside it.
        return util.get_schema_path(Path(__file__).with_name(cls.SCHEMA_FILE.replace(".schema.json", ".py")))

    def put(self, request: ResourceRequest[dict], model: dict) -> None:
        raise NotImplementedError

    def remove(self, request: ResourceRequest[dict], model: dict) -> None:
        raise NotImplementedError

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        self.put(request, request.desired_state)
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)

    update = create

    def read(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        raise NotImplementedError

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        self.remove(request, request.desired_state)
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)


def plugin_for(provider: type[PutProvider]) -> type[CloudFormationResourceProviderPlugin]:
    """The plugin class LocalStack's entry point names, for one provider."""
    provider.SCHEMA = provider.schema_path()

    class Plugin(CloudFormationResourceProviderPlugin):
        name = provider.TYPE

        def __init__(self):
            self.factory: type[ResourceProvider] | None = None

        def load(self):
            self.factory = provider

    Plugin.__name__ = f"{provider.__name__}Plugin"
    return Plugin
