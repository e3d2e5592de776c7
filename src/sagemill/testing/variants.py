"""Deployed-variant builders for the unit tests of endpoint, deployment and rolling-update logic."""

from __future__ import annotations

from sagemill.domain.endpoints import Instance, Variant


def variant(
    model: str,
    count: int,
    *,
    ready: int | None = None,
    started_at: float = 0.0,
    deployed_at: float = 0.0,
    current_weight: float = 1.0,
) -> Variant:
    """Variant "AllTraffic" of `model` wanting `count` instances, `ready` of them (default all) healthy.

    Instance ids and ports follow the slots (`<model>-<n>`, 9000 + n), as the reconciler's launches do.
    """
    up = count if ready is None else ready
    return Variant(
        name="AllTraffic",
        model_name=model,
        image="xgboost",
        model_dir=f"/models/{model}",
        instance_type="ml.m5.large",
        kind="xgboost",
        environment={},
        desired_count=count,
        desired_weight=1.0,
        current_weight=current_weight,
        deployed_at=deployed_at,
        instances=tuple(Instance(f"{model}-{i}", 9000 + i, started_at, ready=True) for i in range(up)),
        launched=up,
    )
