"""Rollout benchmark: alarm-to-rollback time, traffic split per linear step, failures through updates."""

# Method (issue 7, "Performance and reliability"), against one `sagemill serve` started here with
# SAGEMILL_ALARM_EVALUATION_SECONDS=1, dev auth, on 127.0.0.1:
#
# Two XGBoost models on two features: "A" predicts about -10, "B" about +10, so the sign of each answer
# tells which fleet served it. Requests are raw HTTP/1.1 keep-alive POSTs from client threads (one
# connection each) with a fixed, well-formed SigV4 header that dev auth accepts (see bench/serving.py).
#
# (a) rollback: a CANARY update (1 of 2 instances, 600 s bake) from A to B under load; once B answers,
#     `SetAlarmState ALARM` on the deployment's alarm at t0 (taken just *before* the call). Measured:
#     the last answer from B minus t0 (B's last request may have been sent before t0), and the first
#     DescribeEndpoint that shows the rollback (InService, old config, no PendingDeploymentSummary) minus
#     t0. The alarm watches a metric nobody writes, with TreatMissingData=ignore, so the evaluator keeps
#     the state SetAlarmState gave it.
# (b) split: a LINEAR update of 4 instances in 25% steps with a wait sized to hold 10,000 requests; in
#     each bake (VariantStatus message equal to the plan's) 10,000 requests are sent and B's share compared
#     with the plan's green_weight (green active / total active). The bake must still be the same one (its
#     message and StartTime) after the batch, or the cell does not count.
# (c) steady load: closed-loop clients (bounded concurrency) through successful ALL_AT_ONCE, CANARY, LINEAR
#     and rolling updates with short waits; every non-200 answer or socket error is a failure. An update
#     the server refuses (RollingUpdatePolicy, until it is implemented) is reported as refused.
#
# Usage: python bench/rollout.py [--reps 3] [--requests 10000] [--threads 4] [--only rollback|split|steady]

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import math
import os
import signal
import statistics
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sagemill.domain.rollout import plan_blue_green
from sagemill.testing.live_server import LiveServer

ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "bench-rollout"
AMZ_DATE = "20260101T000000Z"
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)
BODY = b"0.5,-0.25\n"
HEADERS = {
    "Authorization": AUTHORIZATION,
    "X-Amz-Date": AMZ_DATE,
    "Content-Type": "text/csv",
    "Accept": "text/csv",
}
LONG_TIMEOUT = 3600  # MaximumExecutionTimeoutInSeconds where the bench never wants it to fire


# models and endpoints


def _archive(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def booster_bytes(sign: int) -> bytes:
    """A small XGBoost model whose answers are all near `sign` * 10."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(5 + sign)
    x = rng.uniform(-1, 1, size=(200, 2))
    y = sign * 10 + 0.1 * x[:, 0]
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=y), 20)
    return bytes(booster.save_raw("ubj"))


class Bench:
    """The server, its clients, the two models and helpers to deploy them."""

    def __init__(self, workdir: Path) -> None:
        self.server = LiveServer(workdir / "sagemill", env={"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"})
        self.server.start()
        self.sm = self.server.client("sagemaker", account=ACCOUNT)
        self.cw = self.server.client("cloudwatch", account=ACCOUNT)
        s3 = self.server.client("s3", account=ACCOUNT)
        s3.create_bucket(Bucket=BUCKET)
        self.models = {}
        for label, sign in (("A", -1), ("B", 1)):
            key = f"{label}/model.tar.gz"
            s3.put_object(Bucket=BUCKET, Key=key, Body=_archive("xgboost-model", booster_bytes(sign)))
            name = f"bench-rollout-{label.lower()}"
            self.sm.create_model(
                ModelName=name,
                ExecutionRoleArn=ROLE,
                PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"},
            )
            self.models[label] = name
        self.endpoints: list[str] = []

    def config(self, label: str, count: int) -> str:
        name = f"c-{label}-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": self.models[label],
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": count,
                }
            ],
        )
        return name

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.sm.describe_endpoint(EndpointName=name))

    def wait(self, name: str, timeout: float, until: tuple[str, ...] = ("InService", "Failed")) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self.describe(name)
            if endpoint["EndpointStatus"] in until:
                return endpoint
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} is still {endpoint['EndpointStatus']} after {timeout} s")
            time.sleep(0.05)

    def deploy(self, label: str, count: int) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=self.config(label, count))
        self.endpoints.append(name)
        endpoint = self.wait(name, 120)
        if endpoint["EndpointStatus"] != "InService":
            raise RuntimeError(f"{name} failed: {endpoint.get('FailureReason')}")
        return name

    def alarm(self, name: str) -> str:
        """An alarm only SetAlarmState moves: its metric gets no data and missing data keeps the state."""
        alarm = f"{name}-guard"
        self.cw.put_metric_alarm(
            AlarmName=alarm,
            ActionsEnabled=False,
            Namespace="Sagemill/Bench",
            MetricName="NeverWritten",
            Dimensions=[{"Name": "EndpointName", "Value": name}],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore",
        )
        return alarm

    def set_alarm(self, alarm: str, state: str) -> None:
        self.cw.set_alarm_state(AlarmName=alarm, StateValue=state, StateReason=f"bench: {state}")

    def close(self) -> None:
        for name in self.endpoints:
            with contextlib.suppress(Exception):
                self.sm.delete_endpoint(EndpointName=name)
        deadline = time.monotonic() + 20
        while running_workers(self.server.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.server.stop()
        for pid in running_workers(self.server.data_dir):  # instances outlive a server by design
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def running_workers(data_dir: Path) -> list[int]:
    found = []
    for worker in data_dir.glob("endpoints/*/*/*/instances/*/worker"):
        if (worker / "exit.json").exists() or not (worker / "worker.json").exists():
            continue
        pid = int(json.loads((worker / "worker.json").read_text())["pid"])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 0)
            found.append(pid)
    return found


def blue_green(kind: str, wait: int, termination: int, alarm: str | None, **size: Any) -> dict[str, Any]:
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait, **size}
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": LONG_TIMEOUT,
        }
    }
    if alarm:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm}]}
    return config


# load


def fleet_of(status: int, body: bytes) -> str:
    """Model "A" or "B" for an answer, else an error label."""
    if status != 200:
        try:
            code = json.loads(body).get("__type") or json.loads(body).get("ErrorCode") or ""
        except ValueError:
            code = ""
        return f"HTTP {status} {code}".strip()
    try:
        value = float(body.split(b"\n", 1)[0].split(b",", 1)[0])
    except ValueError:
        return "unparseable answer"
    return "B" if value > 0 else "A"


@dataclass
class Load:
    """Closed-loop client threads, one keep-alive connection each; every answer recorded with its time."""

    port: int
    endpoint: str
    threads: int
    limit: int | None = None
    """Stop after this many requests in all (None: run until `stop`)."""
    answers: list[tuple[float, str]] = field(default_factory=list)
    _sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pool: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._pool = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for thread in self._pool:
            thread.start()
        return self

    def stop(self) -> Load:
        self._stop.set()
        for thread in self._pool:
            thread.join(30)
        return self

    def join(self) -> Load:
        for thread in self._pool:
            thread.join()
        return self

    def _claim(self) -> bool:
        if self._stop.is_set():
            return False
        if self.limit is None:
            return True
        with self._lock:
            if self._sent >= self.limit:
                return False
            self._sent += 1
            return True

    def _run(self) -> None:
        path = f"/endpoints/{self.endpoint}/invocations"
        record = self.answers.append  # atomic under the GIL; readers see answers as they come
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while self._claim():
            try:
                connection.request("POST", path, BODY, HEADERS)
                reply = connection.getresponse()
                outcome = fleet_of(reply.status, reply.read())
                if reply.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"socket {type(exc).__name__}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            record((time.monotonic(), outcome))
        connection.close()

    def counts(self, since: float = 0.0, until: float = math.inf) -> Counter[str]:
        return Counter(outcome for t, outcome in list(self.answers) if since <= t <= until)


def failures(counts: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in ("A", "B")}


# (a) alarm to full rollback


@dataclass
class Rollback:
    last_green_s: float
    describe_s: float
    failed: dict[str, int]
    reason: str


def bench_rollback(bench: Bench, reps: int, threads: int) -> list[Rollback]:
    name = bench.deploy("A", 2)
    alarm = bench.alarm(name)
    green = bench.config("B", 2)
    canary = blue_green("CANARY", 600, 0, alarm, CanarySize={"Type": "INSTANCE_COUNT", "Value": 1})
    results = []
    for rep in range(reps):
        bench.set_alarm(alarm, "OK")
        load = Load(bench.server.port, name, threads).start()
        try:
            bench.sm.update_endpoint(EndpointName=name, EndpointConfigName=green, DeploymentConfig=canary)
            deadline = time.monotonic() + 60
            while not load.counts().get("B"):  # the canary bake is on: B answers a share
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer from the canary fleet: {bench.describe(name)}")
                time.sleep(0.05)
            time.sleep(1.0)
            t0 = time.monotonic()
            bench.set_alarm(alarm, "ALARM")
            while True:
                endpoint = bench.describe(name)
                seen = time.monotonic()
                if endpoint["EndpointStatus"] == "InService" and "PendingDeploymentSummary" not in endpoint:
                    break
                if seen - t0 > 30:
                    raise RuntimeError(f"no rollback 30 s after the alarm: {endpoint}")
                time.sleep(0.01)
            time.sleep(1.0)
        finally:
            load.stop()
        if endpoint["EndpointConfigName"] == green:
            raise RuntimeError(f"the deployment completed instead of rolling back: {endpoint}")
        green_times = [t for t, outcome in load.answers if outcome == "B"]
        late = max(green_times) - t0 if green_times else float("nan")
        result = Rollback(late, seen - t0, failures(load.counts()), endpoint.get("FailureReason", ""))
        print(
            f"  rollback rep {rep + 1}: last B answer {result.last_green_s * 1000:.0f} ms, "
            f"DescribeEndpoint {result.describe_s * 1000:.0f} ms after the alarm; "
            f"{len(load.answers)} requests, failures {result.failed or 0}",
            flush=True,
        )
        results.append(result)
    return results


# (b) traffic split per linear step


@dataclass
class Split:
    label: str
    target: float
    measured: float
    requests: int
    failed: dict[str, int]
    same_bake: bool


def bench_split(bench: Bench, requests: int, threads: int) -> tuple[list[Split], str]:
    name = bench.deploy("A", 4)
    started = time.monotonic()
    calibration = Load(bench.server.port, name, threads, limit=requests).start().join()
    seconds = time.monotonic() - started
    if set(calibration.counts()) != {"A"}:
        raise RuntimeError(f"the endpoint does not answer as model A alone: {calibration.counts()}")
    # Each bake must hold a batch, the wait for the step to show, and a margin for a slower batch.
    wait = max(15, math.ceil(2 * seconds + 8))
    print(f"  split: {requests} requests take {seconds:.1f} s; bakes of {wait} s", flush=True)
    config = blue_green("LINEAR", wait, wait, None, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 25})
    plan = plan_blue_green(config, 4, 4)
    bakes = [s for s in plan if s.kind in ("bake", "final_bake")]
    bench.sm.update_endpoint(
        EndpointName=name, EndpointConfigName=bench.config("B", 4), DeploymentConfig=config
    )
    cells = []
    for index, step in enumerate(bakes):
        label = f"step {index + 1}/{len(bakes)}: {step.green_instances} B + {step.blue_instances} A active"
        status = _wait_for_status(bench, name, step.message, 60 + wait)
        if status is None:
            print(f"  {label}: MISSED (the step was over before it could be measured)", flush=True)
            continue
        load = Load(bench.server.port, name, threads, limit=requests).start().join()
        after = _pending_status(bench.describe(name))
        counts = load.counts()
        served = counts.get("A", 0) + counts.get("B", 0)
        share = 100 * counts.get("B", 0) / served if served else float("nan")
        same = after is not None and (after["StatusMessage"], after["StartTime"]) == (
            status["StatusMessage"],
            status["StartTime"],
        )
        cell = Split(label, 100 * step.green_weight, share, sum(counts.values()), failures(counts), same)
        print(
            f"  {label}: B {share:.2f}% (target {cell.target:.2f}%), {cell.requests} requests, "
            f"failures {cell.failed or 0}{'' if same else ', CROSSED A STEP BOUNDARY'}",
            flush=True,
        )
        cells.append(cell)
    done = bench.wait(name, wait + 60)
    return cells, f"{done['EndpointStatus']} on {done['EndpointConfigName']}"


def _pending_status(endpoint: dict[str, Any]) -> dict[str, Any] | None:
    for variant in (endpoint.get("PendingDeploymentSummary") or {}).get("ProductionVariants", []):
        for status in variant.get("VariantStatus") or []:
            return dict(status)
    return None


def _wait_for_status(bench: Bench, name: str, message: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = bench.describe(name)
        if "PendingDeploymentSummary" not in endpoint and endpoint["EndpointStatus"] != "Updating":
            return None
        status = _pending_status(endpoint)
        if status is not None and status["StatusMessage"] == message:
            return status
        time.sleep(0.05)
    return None


# (c) steady load through successful updates


@dataclass
class Steady:
    mode: str
    requests: int
    failed: dict[str, int]
    outcome: str
    ok: bool
    seconds: float = 0.0
    stale_after: int = 0
    """Answers from the old model later than 0.5 s after DescribeEndpoint showed the update done."""


def steady_configs() -> list[tuple[str, dict[str, Any]]]:
    instances = {"Type": "INSTANCE_COUNT", "Value": 1}
    rolling = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": instances,
            "WaitIntervalInSeconds": 2,
            "MaximumExecutionTimeoutInSeconds": 600,
        }
    }
    return [
        ("ALL_AT_ONCE", blue_green("ALL_AT_ONCE", 0, 2, None)),
        ("CANARY", blue_green("CANARY", 3, 2, None, CanarySize=instances)),
        (
            "LINEAR",
            blue_green("LINEAR", 2, 2, None, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 50}),
        ),
        ("ROLLING", rolling),
    ]


def bench_steady(bench: Bench, threads: int) -> list[Steady]:
    label = "A"
    name = bench.deploy(label, 2)
    results = []
    for mode, config in steady_configs():
        target = "B" if label == "A" else "A"
        new_config = bench.config(target, 2)
        load = Load(bench.server.port, name, threads).start()
        began = time.monotonic()
        try:
            time.sleep(0.5)
            try:
                bench.sm.update_endpoint(
                    EndpointName=name, EndpointConfigName=new_config, DeploymentConfig=config
                )
            except ClientError as exc:
                error = exc.response["Error"]
                results.append(Steady(mode, 0, {}, f"refused: {error['Code']}: {error['Message']}", False))
                print(f"  steady {mode}: {results[-1].outcome}", flush=True)
                continue
            bench.wait(name, 10, until=("Updating",))
            done = bench.wait(name, 120)
            done_at = time.monotonic()
            time.sleep(1.5)  # the old fleet drains and stops under load
        finally:
            load.stop()
        counts = load.counts()
        success = done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == new_config
        outcome = f"{done['EndpointStatus']}, {'new' if success else 'old'} config"
        if done.get("FailureReason"):
            outcome += f" ({done['FailureReason'][:80]})"
        stale = sum(1 for t, o in load.answers if o == label and t > done_at + 0.5)
        result = Steady(
            mode, sum(counts.values()), failures(counts), outcome, success, done_at - began, stale
        )
        print(
            f"  steady {mode}: {result.requests} requests, {counts.get(label, 0)} {label} + "
            f"{counts.get(target, 0)} {target}, failures {result.failed or 0}; {outcome} after "
            f"{result.seconds:.1f} s; old-model answers after done+0.5 s: {stale}",
            flush=True,
        )
        results.append(result)
        if success:
            label = target
    return results


# report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3, help="rollbacks measured in (a)")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per linear step in (b)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (connections)")
    parser.add_argument("--only", choices=("rollback", "split", "steady"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("rollback", "split", "steady"))
    checks: list[tuple[str, str, str, bool | None]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sagemill-rollout-") as tmp:
        bench = Bench(Path(tmp))
        try:
            if "rollback" in only:
                print("(a) alarm -> all traffic on the old fleet ...", flush=True)
                runs = bench_rollback(bench, args.reps, args.threads)
                late = [r.last_green_s for r in runs]
                shown = [r.describe_s for r in runs]
                checks.append(
                    (
                        f"alarm -> last new-fleet answer, median/max of {len(runs)}",
                        "<= 1 s",
                        f"{statistics.median(late):.3f} / {max(late):.3f} s",
                        max(late) <= 1.0,
                    )
                )
                checks.append(
                    (
                        "alarm -> DescribeEndpoint shows the rollback, median/max",
                        "",
                        f"{statistics.median(shown):.3f} / {max(shown):.3f} s",
                        None,
                    )
                )
                failed = sum(sum(r.failed.values()) for r in runs)
                checks.append(("failed requests during the rollbacks", "", str(failed), None))
                print(f"  FailureReason: {runs[-1].reason}", flush=True)
            if "split" in only:
                print("(b) traffic split per linear step ...", flush=True)
                cells, outcome = bench_split(bench, args.requests, args.threads)
                for cell in cells:
                    error = cell.measured - cell.target
                    checks.append(
                        (
                            f"split {cell.label} ({cell.requests} req)",
                            f"{cell.target:.1f}% +-2",
                            f"{cell.measured:.2f}% ({error:+.2f})",
                            abs(error) <= 2.0 and cell.same_bake and not cell.failed,
                        )
                    )
                if len(cells) < 4:
                    checks.append(("split: steps measured", "4", str(len(cells)), False))
                checks.append(("split: LINEAR update ends", "InService", outcome, None))
            if "steady" in only:
                print("(c) steady load through updates ...", flush=True)
                for run in bench_steady(bench, args.threads):
                    if run.outcome.startswith("refused"):
                        checks.append((f"steady {run.mode} (not run: see the note)", "0", "refused", None))
                        notes.append(f"steady {run.mode}: the update was {run.outcome}")
                        continue
                    failed = sum(run.failed.values())
                    checks.append(
                        (
                            f"steady {run.mode}: failed of {run.requests} requests",
                            "0",
                            f"{failed} {run.failed or ''}".strip(),
                            failed == 0 and run.ok and run.stale_after == 0,
                        )
                    )
        finally:
            bench.close()
    print(f"\nhost {os.cpu_count()} CPUs, {args.threads} client threads, keep-alive, 127.0.0.1")
    print(f"{'check':62} {'target':>12} {'measured':>26}")
    for label, target, measured, ok in checks:
        mark = "" if ok is None else ("  ok" if ok else "  MISS")
        print(f"{label:62} {target:>12} {measured:>26}{mark}")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
