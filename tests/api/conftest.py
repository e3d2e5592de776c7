"""Fixtures of the API tests beyond the session's server: one that evaluates alarms every second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sagemill.testing.live_server import LiveServer


@pytest.fixture(scope="module")
def alarm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Alarms evaluated every second (one server per test module), so evaluation tests take seconds."""
    live = LiveServer(
        tmp_path_factory.mktemp("alarms"), env={"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}
    ).start()
    yield live
    live.stop()
