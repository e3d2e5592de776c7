"""CreateModel, DescribeModel, ListModels and DeleteModel (SageMaker Model resources, not ORM models).

LIMITATIONS:
- The container image and model data are recorded, not checked, until an endpoint hosts the model.
- VpcConfig and network isolation are recorded and reported, never enforced.
"""

from __future__ import annotations

from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.resources import Resource
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.sagemaker import resources
from sagemill.services.sagemaker.errors import validation
from sagemill.services.sagemaker.listing import list_page
from sagemill.store.base import Store

KIND = "model"


def describe(resource: Resource) -> dict[str, Any]:
    return {
        **resource.desired,
        "ModelArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
    }


def _summary(resource: Resource) -> dict[str, Any]:
    return {
        "ModelName": resource.key.name,
        "ModelArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
    }


def _check_containers(params: dict[str, Any]) -> None:
    has_primary = params.get("PrimaryContainer") is not None
    containers = params.get("Containers") or []
    if has_primary and containers:
        raise validation("PrimaryContainer and Containers cannot both be specified; use one of them.")
    if not has_primary and not containers:
        raise validation("Either PrimaryContainer or Containers must be specified.")
    for container in [params["PrimaryContainer"]] if has_primary else containers:
        if not container.get("Image") and not container.get("ModelPackageName"):
            raise validation("Each container must specify either Image or ModelPackageName.")


def operations(store: Store, clock: Clock) -> dict[str, Handler]:
    def create_model(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _check_containers(params)
        resource = resources.create(store, clock, context, KIND, params["ModelName"], params)
        return {"ModelArn": resource.arn}

    def describe_model(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return describe(resources.require(store, context, KIND, params["ModelName"]))

    def list_models(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return list_page(store, context, KIND, params, _summary, "Models")

    def delete_model(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resources.delete(store, context, KIND, params["ModelName"])
        return {}

    return {
        "CreateModel": create_model,
        "DescribeModel": describe_model,
        "ListModels": list_models,
        "DeleteModel": delete_model,
    }
