"""CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs and DeleteEndpointConfig.

LIMITATIONS:
- DataCaptureConfig, AsyncInferenceConfig, ExplainerConfig and KmsKeyId are recorded and reported only.
"""

from __future__ import annotations

from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.resources import Resource
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.sagemaker import resources
from sagemill.services.sagemaker.errors import could_not_find, validation
from sagemill.services.sagemaker.listing import list_page
from sagemill.store.base import Store

KIND = "endpoint_config"


def describe(resource: Resource) -> dict[str, Any]:
    return {
        **resource.desired,
        "EndpointConfigArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
    }


def _summary(resource: Resource) -> dict[str, Any]:
    return {
        "EndpointConfigName": resource.key.name,
        "EndpointConfigArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
    }


def _checked_variants(store: Store, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check variants as SageMaker does and fill the defaults its Describe reports."""
    variants = [dict(v) for v in params["ProductionVariants"]]
    shadows = [dict(v) for v in params.get("ShadowProductionVariants") or []]
    names = [v["VariantName"] for v in variants + shadows]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise validation(
            f"Variant names must be unique within an endpoint configuration: {', '.join(repeated)}."
        )
    if shadows and (len(variants) != 1 or len(shadows) != 1):
        raise validation(
            "An endpoint configuration with ShadowProductionVariants must have exactly one variant in "
            f"ProductionVariants and one in ShadowProductionVariants (found {len(variants)} and "
            f"{len(shadows)})."
        )
    for variant in variants + shadows:
        serverless = variant.get("ServerlessConfig") is not None
        if serverless and (variant.get("InstanceType") or variant.get("InitialInstanceCount")):
            raise validation(
                f"Variant {variant['VariantName']}: ServerlessConfig cannot be combined with "
                "InstanceType or InitialInstanceCount."
            )
        if not serverless and not variant.get("InstanceType"):
            raise validation(f"Variant {variant['VariantName']}: InstanceType must be specified.")
        if not serverless and not variant.get("InitialInstanceCount"):
            raise validation(f"Variant {variant['VariantName']}: InitialInstanceCount must be specified.")
        model_name = variant.get("ModelName")
        if model_name is None:
            raise validation(f"Variant {variant['VariantName']}: ModelName must be specified.")
        if resources.find(store, context, "model", model_name) is None:
            raise could_not_find("model", resources.arn_for(context, "model", model_name))
        variant.setdefault("InitialVariantWeight", 1.0)
    checked = dict(params)
    checked["ProductionVariants"] = variants
    if shadows:
        checked["ShadowProductionVariants"] = shadows
    return checked


def operations(store: Store, clock: Clock) -> dict[str, Handler]:
    def create_endpoint_config(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        checked = _checked_variants(store, context, params)
        resource = resources.create(store, clock, context, KIND, params["EndpointConfigName"], checked)
        return {"EndpointConfigArn": resource.arn}

    def describe_endpoint_config(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return describe(resources.require(store, context, KIND, params["EndpointConfigName"]))

    def list_endpoint_configs(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return list_page(store, context, KIND, params, _summary, "EndpointConfigs")

    def delete_endpoint_config(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resources.delete(store, context, KIND, params["EndpointConfigName"])
        return {}

    return {
        "CreateEndpointConfig": create_endpoint_config,
        "DescribeEndpointConfig": describe_endpoint_config,
        "ListEndpointConfigs": list_endpoint_configs,
        "DeleteEndpointConfig": delete_endpoint_config,
    }
