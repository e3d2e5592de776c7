"""botocore's service models, loaded once per process and cached."""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore ServiceModel for a client name such as 'sagemaker' or 'sts'."""
    return _session().get_service_model(name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def resolved_protocol(model: ServiceModel) -> str:
    """The protocol a current botocore client of this service sends (first supported in priority)."""
    offered = model.metadata.get("protocols") or [model.metadata["protocol"]]
    for protocol in ("json", "rest-json", "rest-xml", "query"):
        if protocol in offered:
            return protocol
    return str(offered[0])
