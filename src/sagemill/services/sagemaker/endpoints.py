"""CreateEndpoint, DescribeEndpoint, ListEndpoints, DeleteEndpoint, UpdateEndpoint(WeightsAndCapacities).

The API writes the desired endpoint and returns; control/endpoints.py brings its fleet up.

LIMITATIONS:
- DeploymentConfig: blue/green (ALL_AT_ONCE, CANARY, LINEAR) with auto-rollback alarms is walked by
  domain/deployment.py, RollingUpdatePolicy by domain/rolling_deployment.py. Without a config the
  new fleet comes up and becomes healthy before traffic moves to it all at once.
- RollingUpdatePolicy is refused for endpoints (or endpoint configs) with more than one production variant,
  as SageMaker excludes them, for a new config that renames the variant, and with shadow variants.
- Shadow variants run their own instances and get a copy of a share of requests: the shadow's weight over
  the production variant's (capped at 1); their answers are discarded, their metrics recorded.
- Alarm names in AutoRollbackConfiguration must exist when the update is accepted (our decision).
- RetainAllVariantProperties / ExcludeRetainedVariantProperties are accepted and ignored.
- Serverless variants, data capture and async inference are not served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.aws.errors import ServiceError
from sagemill.domain import deployment as rollouts
from sagemill.domain.deployment_config import (
    DeploymentConfigError,
    check_deployment_config,
    effective_deployment_config,
)
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Variant, move, update_refusal
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.metrics.alarm_records import KIND as ALARM_KIND
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.sagemaker import resources
from sagemill.services.sagemaker.errors import could_not_find, validation
from sagemill.services.sagemaker.listing import list_page
from sagemill.store.base import Store

KIND = "endpoint"
CONFIG_KIND = "endpoint_config"
E = EndpointStatus


def resolved_image(image: str) -> str:
    """A stable digest form of the image, as DeployedImages reports what a tag resolved to."""
    repository = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image.split(":", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _variant(variant: Variant) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VariantName": variant.name,
        "DeployedImages": [
            {
                "SpecifiedImage": variant.image,
                "ResolvedImage": resolved_image(variant.image),
                "ResolutionTime": to_datetime(variant.deployed_at),
            }
        ],
        "CurrentWeight": variant.current_weight,
        "DesiredWeight": variant.desired_weight,
        "CurrentInstanceCount": len(variant.ready),
        "DesiredInstanceCount": variant.desired_count,
    }
    if variant.statuses:
        out["VariantStatus"] = [
            {"Status": s.status, "StatusMessage": s.message, "StartTime": to_datetime(s.start_time)}
            for s in variant.statuses
        ]
    return out


def describe(resource: Resource) -> dict[str, Any]:
    state = EndpointState.from_json(resource.observed)
    out: dict[str, Any] = {
        "EndpointName": resource.key.name,
        "EndpointArn": resource.arn,
        "EndpointConfigName": state.config_name or resource.desired["EndpointConfigName"],
        "EndpointStatus": state.status.value,
        "CreationTime": to_datetime(resource.created_at),
        "LastModifiedTime": to_datetime(resource.updated_at),
    }
    if state.fleet:
        out["ProductionVariants"] = [_variant(v) for v in state.fleet]
    if state.shadows:
        out["ShadowProductionVariants"] = [_variant(v) for v in state.shadows]
    if state.failure_reason:
        out["FailureReason"] = state.failure_reason
    if state.extra.get(rollouts.LAST_CONFIG):
        out["LastDeploymentConfig"] = state.extra[rollouts.LAST_CONFIG]
    if state.pending_config:
        out["PendingDeploymentSummary"] = {
            "EndpointConfigName": state.pending_config,
            "StartTime": to_datetime(state.pending_since or resource.updated_at),
            "ProductionVariants": [{**_variant(v), "InstanceType": v.instance_type} for v in state.pending],
        }
        if state.pending_shadows:
            out["PendingDeploymentSummary"]["ShadowProductionVariants"] = [
                {**_variant(v), "InstanceType": v.instance_type} for v in state.pending_shadows
            ]
    return out


def _reweighed(variants: tuple[Variant, ...], wanted: Mapping[str, Any]) -> tuple[Variant, ...]:
    """The variants with the DesiredWeightsAndCapacities asked for them."""
    out = []
    for variant in variants:
        item = wanted.get(variant.name)
        if item is not None:
            variant = replace(
                variant,
                desired_weight=float(item.get("DesiredWeight", variant.desired_weight)),
                desired_count=int(item.get("DesiredInstanceCount", variant.desired_count)),
            )
        out.append(variant)
    return tuple(out)


def _summary(resource: Resource) -> dict[str, Any]:
    state = EndpointState.from_json(resource.observed)
    return {
        "EndpointName": resource.key.name,
        "EndpointArn": resource.arn,
        "CreationTime": to_datetime(resource.created_at),
        "LastModifiedTime": to_datetime(resource.updated_at),
        "EndpointStatus": state.status.value,
    }


def operations(
    store: Store, clock: Clock, on_change: Callable[[], None] = lambda: None
) -> dict[str, Handler]:
    """The handlers; `on_change` tells the control loop that an endpoint needs it now."""

    def require_config(context: RequestContext, name: str) -> Resource:
        config = resources.find(store, context, CONFIG_KIND, name)
        if config is None:
            raise could_not_find(CONFIG_KIND, resources.arn_for(context, CONFIG_KIND, name))
        return config

    def change(
        context: RequestContext,
        name: str,
        edit: Callable[[Resource, EndpointState], tuple[dict[str, Any], EndpointState]],
    ) -> Resource:
        """Apply `edit` (desired, state) to the endpoint under optimistic locking."""
        for _ in range(5):
            resource = resources.require(store, context, KIND, name)
            desired, state = edit(resource, EndpointState.from_json(resource.observed))
            now = clock()
            updated = replace(
                resource,
                desired=desired,
                observed=state.to_json(),
                status=state.status.value,
                next_action_at=now,
                updated_at=round(now, 3),
            )
            if resources.try_update(store, updated, resource.version):
                on_change()
                return updated
        raise ServiceError("ThrottlingException", "The endpoint is changing; retry the request.")

    def create_endpoint(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        endpoint_config = require_config(context, params["EndpointConfigName"])
        state = EndpointState(config_name=params["EndpointConfigName"])
        if params.get("DeploymentConfig"):
            # Recorded for later updates (RetainDeploymentConfig); creation itself is not a deployment.
            check_deployment(context, params["DeploymentConfig"], endpoint_config)
            state = replace(state, extra={rollouts.LAST_CONFIG: dict(params["DeploymentConfig"])})
        resource = resources.create(
            store,
            clock,
            context,
            KIND,
            params["EndpointName"],
            params,
            status=state.status.value,
            next_action_at=clock(),
            observed=state.to_json(),
        )
        on_change()
        return {"EndpointArn": resource.arn}

    def describe_endpoint(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return describe(resources.require(store, context, KIND, params["EndpointName"]))

    def list_endpoints(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return list_page(store, context, KIND, params, _summary, "Endpoints")

    def delete_endpoint(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def deleting(resource: Resource, state: EndpointState) -> tuple[dict[str, Any], EndpointState]:
            return resource.desired, move(state, E.DELETING)

        change(context, params["EndpointName"], deleting)
        return {}

    def check_deployment(
        context: RequestContext, config: Mapping[str, Any], endpoint_config: Resource
    ) -> None:
        counts = {
            v["VariantName"]: int(v.get("InitialInstanceCount") or 1)
            for v in endpoint_config.desired.get("ProductionVariants") or []
        }
        try:
            check_deployment_config(config, counts)
        except DeploymentConfigError as exc:
            raise validation(str(exc)) from exc
        if config.get("RollingUpdatePolicy") and len(counts) > 1:
            raise validation(
                "RollingUpdatePolicy is not supported for endpoints with more than one production variant "
                f"(endpoint configuration {endpoint_config.key.name} has {len(counts)}); "
                "use BlueGreenUpdatePolicy."
            )
        names = [a["AlarmName"] for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        missing = [
            n
            for n in names
            if store.get_resource(ResourceKey(context.account_id, context.region, ALARM_KIND, n)) is None
        ]
        if missing:
            raise validation(
                f"The alarm(s) [{', '.join(missing)}] in AutoRollbackConfiguration do not exist."
            )

    def check_rolling_variants(state: EndpointState, endpoint_config: Resource) -> None:
        """A rolling update replaces one variant's instances in place: the variant keeps its name."""
        serving = [v.name for v in state.fleet]
        wanted = [v["VariantName"] for v in endpoint_config.desired.get("ProductionVariants") or []]
        if len(serving) > 1:
            raise validation(
                "RollingUpdatePolicy is not supported for endpoints with more than one production variant "
                f"(the endpoint serves {len(serving)}); use BlueGreenUpdatePolicy."
            )
        if serving and serving != wanted:
            raise validation(
                f"A rolling update must keep the production variant name: the endpoint serves variant "
                f"'{serving[0]}' and endpoint configuration {endpoint_config.key.name} has "
                f"'{', '.join(wanted)}'; use BlueGreenUpdatePolicy to rename variants."
            )

    def update_endpoint(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        config_name = params["EndpointConfigName"]

        def updating(resource: Resource, state: EndpointState) -> tuple[dict[str, Any], EndpointState]:
            refusal = update_refusal(state.status, resource.arn)
            if refusal:
                raise validation(refusal)
            endpoint_config = require_config(context, config_name)
            deployment = effective_deployment_config(params, state.extra.get(rollouts.LAST_CONFIG))
            extra = {k: v for k, v in state.extra.items() if k != rollouts.DEPLOYMENT}
            if deployment is not None:
                rolling = bool(deployment.get("RollingUpdatePolicy"))
                if rolling and (state.shadows or endpoint_config.desired.get("ShadowProductionVariants")):
                    raise validation(
                        "RollingUpdatePolicy is not supported for endpoints with shadow variants; "
                        "use BlueGreenUpdatePolicy."
                    )
                check_deployment(context, deployment, endpoint_config)
                if rolling:
                    check_rolling_variants(state, endpoint_config)
                extra[rollouts.LAST_CONFIG] = dict(deployment)
                extra[rollouts.DEPLOYMENT] = rollouts.start(deployment, clock())
            desired = {**resource.desired, "EndpointConfigName": config_name}
            updated = replace(
                move(state, E.UPDATING),
                pending_config=config_name,
                pending=(),
                pending_shadows=(),
                failure_reason="",
                extra=extra,
            )
            return desired, replace(updated, pending_since=clock())

        resource = change(context, params["EndpointName"], updating)
        return {"EndpointArn": resource.arn}

    def update_weights_and_capacities(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        wanted = {item["VariantName"]: item for item in params["DesiredWeightsAndCapacities"]}

        def updating(resource: Resource, state: EndpointState) -> tuple[dict[str, Any], EndpointState]:
            refusal = update_refusal(state.status, resource.arn)
            if refusal:
                raise validation(refusal)
            known = {v.name for v in state.fleet + state.shadows}
            unknown = sorted(set(wanted) - known)
            if unknown:
                raise validation(
                    f"The variant name(s) [{', '.join(unknown)}] are not present in endpoint "
                    f'"{resource.arn}".'
                )
            return resource.desired, replace(
                move(state, E.UPDATING),
                fleet=_reweighed(state.fleet, wanted),
                shadows=_reweighed(state.shadows, wanted),
                failure_reason="",
            )

        for item in wanted.values():
            if "DesiredWeight" not in item and "DesiredInstanceCount" not in item:
                raise validation(
                    f"Variant {item['VariantName']}: DesiredWeight or DesiredInstanceCount must be specified."
                )
        resource = change(context, params["EndpointName"], updating)
        return {"EndpointArn": resource.arn}

    return {
        "CreateEndpoint": create_endpoint,
        "DescribeEndpoint": describe_endpoint,
        "ListEndpoints": list_endpoints,
        "DeleteEndpoint": delete_endpoint,
        "UpdateEndpoint": update_endpoint,
        "UpdateEndpointWeightsAndCapacities": update_weights_and_capacities,
    }
