"""The SageMaker provider: every implemented operation, composed from the per-resource modules."""

from __future__ import annotations

from sagemill.aws.dispatch import Handler
from sagemill.services.clock import Clock
from sagemill.services.sagemaker import endpoint_configs, models, tags
from sagemill.store.base import Store


def operations(store: Store, clock: Clock) -> dict[str, Handler]:
    return {
        **models.operations(store, clock),
        **endpoint_configs.operations(store, clock),
        **tags.operations(store),
    }
