"""Endpoints across a SIGKILL of the server, crash-looping instances, and the model timeout, live."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from endpoint_tenant import archive

from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ACCOUNT = "777788889999"
ROWS = "0.5,-0.25\n-0.75,0.1"

SLOW_INFERENCE = """
import time
def model_fn(model_dir):
    return "model"
def input_fn(body, content_type):
    return body.decode() if isinstance(body, bytes) else body
def predict_fn(data, model):
    if data.startswith("sleep"):
        time.sleep(float(data.split()[1]))
    return {"echo": data}
"""


def _xgboost_model() -> bytes:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(100, 2))
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=x[:, 0]), 5)
    return archive({"xgboost-model": bytes(booster.save_raw("ubj"))})


class Client:
    """The account's clients on one server, with deploy helpers."""

    def __init__(self, server: LiveServer) -> None:
        self.sm = server.client("sagemaker", account=ACCOUNT)
        self.s3 = server.client("s3", account=ACCOUNT)
        self.runtime = server.client("sagemaker-runtime", account=ACCOUNT)

    def model(self, archive: bytes, image: str = XGBOOST, env: dict[str, str] | None = None) -> str:
        name = f"m-{uuid.uuid4().hex[:8]}"
        bucket = "recovery-models"
        if not self.s3.list_buckets()["Buckets"]:
            self.s3.create_bucket(Bucket=bucket)
        self.s3.put_object(Bucket=bucket, Key=f"{name}/model.tar.gz", Body=archive)
        container = {"Image": image, "ModelDataUrl": f"s3://{bucket}/{name}/model.tar.gz"}
        self.sm.create_model(
            ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={**container, "Environment": env or {}}
        )
        return name

    def create(self, model: str, count: int) -> str:
        name = f"ep-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint_config(
            EndpointConfigName=f"c-{name}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": count,
                }
            ],
        )
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=f"c-{name}")
        return name

    def wait(self, name: str, until: tuple[str, ...] = ("InService", "Failed"), timeout: float = 40) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.sm.describe_endpoint(EndpointName=name)
            if endpoint["EndpointStatus"] in until or time.monotonic() > deadline:
                return endpoint
            time.sleep(0.05)

    def invoke(self, name: str, body: str = ROWS, content_type: str = "text/csv") -> Any:
        reply = self.runtime.invoke_endpoint(
            EndpointName=name, ContentType=content_type, Accept="application/json", Body=body
        )
        return json.loads(reply["Body"].read())


def _workers(data_dir: Path, name: str) -> dict[str, int]:
    """Instance id -> pid of every worker the endpoint ever started."""
    base = data_dir / "endpoints" / ACCOUNT / "us-east-1" / name / "instances"
    found = {}
    for record in sorted(base.glob("*/worker/worker.json")):
        found[record.parent.parent.name] = int(json.loads(record.read_text())["pid"])
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_in_service_endpoint_is_adopted_after_a_server_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir).start()
    client = Client(server)
    name = client.create(client.model(_xgboost_model()), 2)
    assert client.wait(name)["EndpointStatus"] == "InService"
    assert client.invoke(name)["predictions"]
    before = _workers(data_dir, name)
    assert len(before) == 2
    server.kill()
    assert all(_alive(pid) for pid in before.values())  # the instances outlive the server

    restarted = LiveServer(data_dir, port=server.port).start()
    try:
        client = Client(restarted)
        deadline = time.monotonic() + 5  # routes are rebuilt from the store on the first tick
        while True:
            try:
                assert client.invoke(name)["predictions"]
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for _ in range(10):
            assert client.invoke(name)["predictions"]
        endpoint = client.sm.describe_endpoint(EndpointName=name)
        assert endpoint["EndpointStatus"] == "InService"
        assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        time.sleep(1.5)  # a few health ticks: nothing is replaced or duplicated
        assert _workers(data_dir, name) == before
        assert all(_alive(pid) for pid in before.values())
        client.sm.delete_endpoint(EndpointName=name)
    finally:
        restarted.stop()


def test_endpoint_killed_while_creating_comes_up_without_duplicates(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir).start()
    client = Client(server)
    name = client.create(client.model(_xgboost_model()), 2)
    deadline = time.monotonic() + 20
    while not _workers(data_dir, name) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    server.kill()
    restarted = LiveServer(data_dir, port=server.port).start()
    try:
        client = Client(restarted)
        endpoint = client.wait(name)
        assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
        assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        assert client.invoke(name)["predictions"]
        time.sleep(1.0)  # an orphan, had there been one, is stopped by now
        running = [pid for pid in _workers(data_dir, name).values() if _alive(pid)]
        assert len(running) == 2
    finally:
        restarted.stop()


def test_crash_looping_instance_backs_off_while_the_endpoint_serves(fresh_server: LiveServer) -> None:
    client = Client(fresh_server)
    name = client.create(client.model(_xgboost_model()), 2)
    assert client.wait(name)["EndpointStatus"] == "InService"
    data_dir = fresh_server.data_dir
    seen = dict(_workers(data_dir, name))
    os.kill(next(iter(seen.values())), signal.SIGKILL)
    starts: list[float] = []
    messages: set[str] = set()
    deadline = time.monotonic() + 40
    while len(starts) < 4 and time.monotonic() < deadline:
        endpoint = client.sm.describe_endpoint(EndpointName=name)
        assert endpoint["EndpointStatus"] == "InService"
        for status in endpoint["ProductionVariants"][0].get("VariantStatus", []):
            messages.add(status["StatusMessage"])
        assert client.invoke(name)["predictions"]  # the surviving instance serves
        for instance, pid in _workers(data_dir, name).items():
            if instance not in seen:  # a replacement: kill it as soon as it exists
                seen[instance] = pid
                starts.append(time.monotonic())
                if len(starts) < 4:
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    assert len(starts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Waits of 2 s, 4 s, 8 s after the 2nd, 3rd, 4th consecutive failure (plus detection time).
    assert gaps[0] >= 1.8 and gaps[1] >= 3.8 and gaps[2] >= 7.8, gaps
    assert any("3 consecutive failure(s), waiting 4 s" in m for m in messages), messages
    assert any("killed by signal 9" in m for m in messages), messages
    endpoint = client.wait(name, until=("InService",))
    deadline = time.monotonic() + 10
    while client.sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentInstanceCount"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.sm.delete_endpoint(EndpointName=name)


@pytest.fixture
def quick_timeout_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SAGEMILL_INVOKE_TIMEOUT_SECONDS", "1.5")
    live = LiveServer(tmp_path / "data").start()
    yield live
    live.stop()


def test_model_timeout_is_a_model_error_and_the_endpoint_keeps_serving(
    quick_timeout_server: LiveServer,
) -> None:
    client = Client(quick_timeout_server)
    packed = archive({"code/inference.py": SLOW_INFERENCE.encode(), "weights.txt": b"w"})
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    name = client.create(client.model(packed, image=SKLEARN, env=env), 1)
    endpoint = client.wait(name)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    assert client.invoke(name, "hello", "text/plain") == {"echo": "hello"}
    started = time.monotonic()
    with pytest.raises(client.runtime.exceptions.ModelError) as caught:
        client.invoke(name, "sleep 3", "text/plain")
    assert 1.4 < time.monotonic() - started < 3.0
    assert caught.value.response["Error"]["Message"].startswith(
        'Received server error (0) from primary with message "Your invocation timed out while waiting for a '
        "response from container primary."
    )
    time.sleep(2.0)  # the slow prediction ends; the instance answers again
    for _ in range(3):
        assert client.invoke(name, "again", "text/plain") == {"echo": "again"}
    assert client.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    client.sm.delete_endpoint(EndpointName=name)
