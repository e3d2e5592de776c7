"""What an endpoint leaves on disk: retired deployments' model directories go once the endpoint settles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from endpoint_tenant import Tenant, booster
from live_helpers import poll

from sagemill.testing.live_server import LiveServer


@pytest.fixture
def tenant(server: LiveServer) -> Iterator[Tenant]:
    tenant = Tenant(server)
    yield tenant
    tenant.delete_endpoints()


def _model_dirs(server: LiveServer, tenant: Tenant, endpoint: str) -> set[str]:
    models = server.data_dir / "endpoints" / tenant.account / "us-east-1" / endpoint.lower() / "models"
    return {f"{c.name}/{m.name}" for c in models.iterdir() for m in c.iterdir()} if models.is_dir() else set()


def test_updates_remove_retired_model_directories(tenant: Tenant, server: LiveServer) -> None:
    first = tenant.config([("AllTraffic", tenant.model(booster(1)), 1, 1.0)])
    name, _, _ = tenant.deploy_config(first)
    (original,) = _model_dirs(server, tenant, name)
    assert original.startswith(first.lower() + "/")
    for seed in (2, 3):
        config = tenant.config([("AllTraffic", tenant.model(booster(seed)), 1, 1.0)])
        tenant.sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
        assert tenant.wait(name)["EndpointStatus"] == "InService"
        kept = poll(lambda: _model_dirs(server, tenant, name), lambda dirs: len(dirs) == 1, timeout=10)
        assert next(iter(kept)).startswith(config.lower() + "/"), kept
    tenant.invoke(name)  # the kept directory is the one the live fleet serves from
    tenant.sm.delete_endpoint(EndpointName=name)
