"""Blue/green deployments across a SIGKILL of the server in each phase: resumed, on time, nothing leaked."""

from __future__ import annotations

import io
import json
import random
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from sagemill.config import Settings
from sagemill.domain.resources import ResourceKey
from sagemill.executors.local import LocalExecutor
from sagemill.metrics import alarm_records
from sagemill.store.sql.repositories import SqlStore
from sagemill.testing.live_server import LiveServer

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ENV = {"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}
MODEL_SERVER = b"sagemill.serving.model_server"


def _archive(sign: int) -> bytes:
    """An XGBoost model whose every answer is near `sign` * 10: the answer tells which fleet served it."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(100, 2))
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=sign * 10 + 0.1 * x[:, 0]), 10)
    data = bytes(booster.save_raw("ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Deployment:
    """One endpoint on model "A", a config for model "B", the alarm that guards the update, and its server."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.account = str(random.randint(10**11, 10**12 - 1))
        self.server = LiveServer(data_dir, env=ENV).start()
        self._clients()
        bucket = f"models-{self.account}"
        self.s3.create_bucket(Bucket=bucket)
        self.configs = {}
        for label, sign, count in (("A", -1, 2), ("B", 1, 2)):
            key = f"{label}/model.tar.gz"
            self.s3.put_object(Bucket=bucket, Key=key, Body=_archive(sign))
            model = f"m-{label}-{uuid.uuid4().hex[:6]}"
            self.sm.create_model(
                ModelName=model,
                ExecutionRoleArn=ROLE,
                PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": f"s3://{bucket}/{key}"},
            )
            self.configs[label] = f"c-{label}-{uuid.uuid4().hex[:6]}"
            self.sm.create_endpoint_config(
                EndpointConfigName=self.configs[label],
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": count,
                    }
                ],
            )
        self.name = f"ep-{uuid.uuid4().hex[:8]}"
        self.alarm = f"{self.name}-guard"
        # Only SetAlarmState moves it: nothing writes its metric, and missing data keeps the state.
        self.cw.put_metric_alarm(
            AlarmName=self.alarm,
            ActionsEnabled=False,
            Namespace="Sagemill/Test",
            MetricName="NeverWritten",
            Dimensions=[{"Name": "EndpointName", "Value": self.name}],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore",
        )
        self.sm.create_endpoint(EndpointName=self.name, EndpointConfigName=self.configs["A"])
        endpoint = self.wait()
        assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
        [self.blue_dir] = self.fleets()
        self.blue = dict(self.fleets()[self.blue_dir])

    def _clients(self) -> None:
        self.sm = self.server.client("sagemaker", account=self.account)
        self.s3 = self.server.client("s3", account=self.account)
        self.cw = self.server.client("cloudwatch", account=self.account)
        self.runtime = self.server.client("sagemaker-runtime", account=self.account)

    def update(self, routing: dict[str, Any], termination: int) -> None:
        config = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": routing,
                "TerminationWaitInSeconds": termination,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": self.alarm}]},
        }
        self.sm.update_endpoint(
            EndpointName=self.name, EndpointConfigName=self.configs["B"], DeploymentConfig=config
        )

    def crash_and_restart(self) -> float:
        """SIGKILL the server, start a new one on the same data dir and port; the time of the kill."""
        self.server.kill()
        killed = time.time()
        self.server = LiveServer(self.data_dir, port=self.server.port, env=ENV).start()
        self._clients()
        return killed

    def describe(self) -> Any:
        return self.sm.describe_endpoint(EndpointName=self.name)

    def wait(self, timeout: float = 40.0, until: tuple[str, ...] = ("InService", "Failed")) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.describe()
            if endpoint["EndpointStatus"] in until or time.monotonic() > deadline:
                return endpoint
            time.sleep(0.05)

    def wait_for(self, what: str, check: Callable[[Any], bool], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.describe()
            if check(endpoint):
                return endpoint
            assert time.monotonic() < deadline, f"{what} never happened: {endpoint}"
            time.sleep(0.02)

    def answers(self, count: int) -> dict[str, int]:
        """Which model answered `count` invocations ({"A": n, "B": m}); a failed one fails the test."""
        seen = {"A": 0, "B": 0}
        for _ in range(count):
            reply = self.runtime.invoke_endpoint(
                EndpointName=self.name, ContentType="text/csv", Accept="text/csv", Body="0.5,-0.25"
            )
            seen["B" if float(reply["Body"].read().split(b"\n")[0]) > 0 else "A"] += 1
        return seen

    def answers_after_restart(self, count: int) -> dict[str, int]:
        """As `answers`, once the restarted server has published the endpoint's routes (first tick)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return self.answers(count)
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def fleets(self) -> dict[str, dict[str, int]]:
        """Model directory (one per deployment) -> instance id -> port, for every instance ever started."""
        base = self.data_dir / "endpoints" / self.account / "us-east-1" / self.name.lower() / "instances"
        found: dict[str, dict[str, int]] = {}
        for spec in sorted(base.glob("*/worker/spec.json")):
            argv = json.loads(spec.read_text())["argv"]
            model_dir = argv[argv.index("--model-dir") + 1]
            found.setdefault(model_dir, {})[spec.parent.parent.name] = int(argv[argv.index("--port") + 1])
        return found

    def green(self) -> dict[str, int]:
        return {i: p for d, fleet in self.fleets().items() if d != self.blue_dir for i, p in fleet.items()}

    def assert_only_running(self, kept: dict[str, int], discarded: dict[str, int]) -> None:
        """Within 10 s the discarded fleet's model servers are gone and the kept fleet's all run."""
        deadline = time.monotonic() + 10
        while (running := _model_server_ports()) & set(discarded.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running & set(discarded.values()), f"leaked: {discarded}, running {running}"
        assert set(kept.values()) <= running, f"kept fleet {kept} not all running: {running}"
        every = {p for fleet in self.fleets().values() for p in fleet.values()}
        assert running & every == set(kept.values())

    def stop(self) -> None:
        try:
            self.sm.delete_endpoint(EndpointName=self.name)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                self.describe()
                time.sleep(0.1)
        except ClientError:
            pass  # gone
        finally:
            self.server.stop()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    live = Deployment(tmp_path / "data")
    yield live
    live.stop()


def _model_server_ports() -> set[int]:
    """The --port of every model-server process running on this machine (a /proc scan)."""
    ports = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MODEL_SERVER in argv and b"--port" in argv:
            ports.add(int(argv[argv.index(b"--port") + 1]))
    return ports


def _status(endpoint: Any) -> dict[str, Any]:
    """The new fleet's VariantStatus entry ({} when there is none)."""
    for variant in (endpoint.get("PendingDeploymentSummary") or {}).get("ProductionVariants", []):
        for status in variant.get("VariantStatus") or []:
            return dict(status)
    return {}


def _started(status: dict[str, Any]) -> float:
    start = status["StartTime"]
    assert isinstance(start, datetime)
    return start.timestamp()


CANARY = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}


def test_killed_while_provisioning_the_new_fleet(deployment: Deployment) -> None:
    deployment.update({**CANARY, "WaitIntervalInSeconds": 2}, termination=1)
    # Kill as soon as the new fleet is launching (persisted), before its instances answer /ping.
    launching = deployment.wait_for("launching", lambda e: _status(e).get("Status") == "Creating")
    assert _status(launching)["StatusMessage"] == "Launching 2 instance(s).", launching
    assert launching["PendingDeploymentSummary"]["ProductionVariants"][0]["CurrentInstanceCount"] < 2
    green_before = deployment.green()
    deployment.crash_and_restart()

    done = deployment.wait()
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == deployment.configs["B"]
    assert "FailureReason" not in done and "PendingDeploymentSummary" not in done
    assert deployment.answers(10) == {"A": 0, "B": 10}
    green = deployment.green()
    # The instances started before the crash were adopted, not launched a second time.
    assert len(green) == 2 and set(green_before) <= set(green)
    deployment.assert_only_running(kept=green, discarded=deployment.blue)


def test_killed_between_linear_steps_resumes_at_its_step(deployment: Deployment) -> None:
    # 2 instances in 50% steps: step 1 of 2 holds half the traffic for 15 s, then the full shift.
    linear = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}
    deployment.update({**linear, "WaitIntervalInSeconds": 15}, termination=0)
    baking = deployment.wait_for("step 1's bake", lambda e: "linear capacity of 1" in str(_status(e)))
    bake = _status(baking)
    shifted = deployment.answers(40)
    assert shifted["A"] and shifted["B"], shifted
    time.sleep(2)
    deployment.crash_and_restart()

    # The persisted step, its traffic split and its start time, not a new deployment from the start.
    split = deployment.answers_after_restart(60)
    assert split["A"] >= 10 and split["B"] >= 10, split
    resumed = _status(deployment.describe())
    assert (resumed["StatusMessage"], resumed["StartTime"]) == (bake["StatusMessage"], bake["StartTime"])
    assert len(deployment.green()) == 2
    done = deployment.wait()
    ended = time.time()
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == deployment.configs["B"]
    assert 14.5 <= ended - _started(bake) <= 21, ended - _started(bake)
    deployment.assert_only_running(kept=deployment.green(), discarded=deployment.blue)


def test_killed_while_baking_keeps_the_bake_deadline(deployment: Deployment) -> None:
    deployment.update({**CANARY, "WaitIntervalInSeconds": 20}, termination=0)
    baking = deployment.wait_for("the canary bake", lambda e: _status(e).get("Status") == "Baking")
    started = _started(_status(baking))
    time.sleep(max(0.0, started + 8 - time.time()))
    deployment.crash_and_restart()

    split = deployment.answers_after_restart(40)
    assert split["A"] and split["B"], split  # still the canary split
    green = deployment.green()
    after = deployment.wait_for("the end of the canary bake", lambda e: "canary" not in str(_status(e)))
    ended = time.time()
    # 20 s after the bake began (a bake restarted at the restart would end about 10 s later).
    assert 19.5 <= ended - started <= 25, ended - started
    done = deployment.wait()
    assert done["EndpointStatus"] == "InService", (after, done.get("FailureReason"))
    assert done["EndpointConfigName"] == deployment.configs["B"]
    assert deployment.green() == green  # the canary fleet was not relaunched
    deployment.assert_only_running(kept=green, discarded=deployment.blue)


def test_killed_during_termination_wait_keeps_its_deadline(deployment: Deployment) -> None:
    deployment.update({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, termination=20)
    final = deployment.wait_for(
        "the final bake", lambda e: "TerminationWaitInSeconds" in str(_status(e).get("StatusMessage"))
    )
    started = _started(_status(final))
    assert deployment.answers(10) == {"A": 0, "B": 10}
    time.sleep(max(0.0, started + 8 - time.time()))
    deployment.crash_and_restart()

    # The old fleet is still warm (a rollback would need it) but takes no traffic.
    assert deployment.answers_after_restart(20) == {"A": 0, "B": 20}
    assert _model_server_ports() >= set(deployment.blue.values())
    green = deployment.green()
    done = deployment.wait()
    ended = time.time()
    assert done["EndpointStatus"] == "InService", done.get("FailureReason")
    assert done["EndpointConfigName"] == deployment.configs["B"]
    assert 19.5 <= ended - started <= 25, ended - started
    assert deployment.green() == green
    deployment.assert_only_running(kept=green, discarded=deployment.blue)


def test_killed_while_rolling_back_ends_rolled_back(deployment: Deployment) -> None:
    deployment.update({**CANARY, "WaitIntervalInSeconds": 60}, termination=0)
    deployment.wait_for("the canary bake", lambda e: _status(e).get("Status") == "Baking")
    green = deployment.green()
    assert len(green) == 2
    deployment.cw.set_alarm_state(AlarmName=deployment.alarm, StateValue="ALARM", StateReason="test")
    deployment.crash_and_restart()

    done = deployment.wait(timeout=20)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == deployment.configs["A"]
    assert deployment.alarm in done["FailureReason"] and "rolled back" in done["FailureReason"]
    assert "PendingDeploymentSummary" not in done
    assert deployment.answers_after_restart(20) == {"A": 20, "B": 0}
    # The old fleet served throughout: the same instances, none replaced.
    assert deployment.fleets()[deployment.blue_dir] == deployment.blue
    deployment.assert_only_running(kept=deployment.blue, discarded=green)


def test_killed_after_the_rollback_stopped_the_new_fleet_names_the_alarm(deployment: Deployment) -> None:
    deployment.update({**CANARY, "WaitIntervalInSeconds": 60}, termination=0)
    deployment.wait_for("the canary bake", lambda e: _status(e).get("Status") == "Baking")
    green = deployment.green()
    deployment.server.kill()
    # What a crash inside `_roll_back` leaves: the alarm in ALARM (as SetAlarmState writes it), the new
    # fleet told to stop (as `_stop_variant` does), the endpoint's state not yet saved (still baking).
    store = SqlStore(Settings(data_dir=deployment.data_dir).resolved_database_url)
    try:
        key = ResourceKey(deployment.account, "us-east-1", alarm_records.KIND, deployment.alarm)
        alarm = store.get_resource(key)
        assert alarm is not None
        assert alarm_records.change_state(store, alarm, "ALARM", "test", None, time.time(), forced=True)
    finally:
        store.close()
    base = deployment.data_dir / "endpoints" / deployment.account / "us-east-1" / deployment.name.lower()
    executor = LocalExecutor()
    for instance in green:
        executor.stop(base / "instances" / instance / "worker", 5.0)
    deadline = time.monotonic() + 10
    while _model_server_ports() & set(green.values()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    deployment.server = LiveServer(deployment.data_dir, port=deployment.server.port, env=ENV).start()
    deployment._clients()

    done = deployment.wait(timeout=20)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == deployment.configs["A"]
    assert deployment.alarm in done["FailureReason"], done["FailureReason"]
    deployment.assert_only_running(kept=deployment.blue, discarded=green)
