"""Shared fixtures: one live Sagemill server per test session, real boto3 clients against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("sagemill")).start()
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, for tests that restart or kill it."""
    live = LiveServer(tmp_path / "data").start()
    yield live
    live.stop()


@pytest.fixture
def sagemaker(server: LiveServer) -> Any:
    return server.client("sagemaker")
