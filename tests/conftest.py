"""Shared fixtures: one live Sagemill server per test session, real boto3 clients against it."""

from __future__ import annotations

import contextlib
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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Model servers outlive the API server by design; reap those this session's servers started."""
    import os
    import signal

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = str(factory.getbasetemp())
    except (OSError, ValueError):
        return
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if base in cmdline and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
