"""Shared pieces of the live-server API tests: accounts, the walkthrough alarm, polling, the CLI."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sagemill.testing.live_server import LiveServer

T = TypeVar("T")


def new_account() -> str:
    """A random 12-digit account id: in dev auth the access key id picks the account."""
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def create_alarm(cw: Any, name: str, **overrides: Any) -> None:
    """The alarm function of AWS's deployment-guardrails walkthrough, unchanged but for the name."""
    params: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": "Average 5XX errors",
        "ActionsEnabled": False,
        "MetricName": "Invocation5XXErrors",
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "Dimensions": [
            {"Name": "EndpointName", "Value": "ep"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    params.update(overrides)
    cw.put_metric_alarm(**{k: v for k, v in params.items() if v is not None})


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Read until `done` holds or the deadline passes; the caller asserts on what came back."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def cli_env(server: LiveServer, account: str) -> dict[str, str]:
    """The environment a user's shell would give `sagemill` to reach `server` as `account`."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": server.url,
    }


def run_sagemill(server: LiveServer, account: str, *args: str, timeout: float = 60) -> str:
    """`python -m sagemill ARGS` against `server` as `account`; its standard output, once it exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "sagemill", *args],
        env=cli_env(server, account),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
