"""EndpointReconciler steps against fakes: lost saves adopt or stop their workers; crash loops back off."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sagemill.control.endpoints import EndpointReconciler
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Instance, Variant
from sagemill.domain.errors import VersionConflict
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.executors.base import WorkerPhase, WorkerSpec, WorkerState
from sagemill.serving import instances
from sagemill.serving.router import RoutingTable

ARN = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/ep"


class FakeStore:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.conflicts = 0

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        due = self.resource.next_action_at
        return [self.resource] if due is not None and due <= now else []

    def get_resource(self, key: ResourceKey) -> Resource | None:
        return self.resource

    def update_resource(self, resource: Resource, expected_version: int) -> Resource:
        if self.conflicts or expected_version != self.resource.version:
            self.conflicts = max(0, self.conflicts - 1)
            raise VersionConflict("changed")
        self.resource = replace(resource, version=expected_version + 1)
        return self.resource

    @property
    def state(self) -> EndpointState:
        return EndpointState.from_json(self.resource.observed)

    def write(self, state: EndpointState) -> None:
        """A concurrent writer (an API call) changes the endpoint."""
        self.resource = replace(
            self.resource, observed=state.to_json(), version=self.resource.version + 1, next_action_at=0.0
        )


class FakeExecutor:
    def __init__(self) -> None:
        self.workers: dict[Path, WorkerState] = {}
        self.starts: list[Path] = []

    def start(self, spec: WorkerSpec) -> None:
        if spec.workdir not in self.workers:  # idempotent, as the Executor contract says
            self.starts.append(spec.workdir)
            self.workers[spec.workdir] = WorkerState(WorkerPhase.RUNNING, 1, 0.0)

    def observe(self, workdir: Path) -> WorkerState | None:
        return self.workers.get(workdir)

    def stop(self, workdir: Path, grace_seconds: float) -> None:
        self.kill(workdir, -15)

    def kill(self, workdir: Path, code: int = -9) -> None:
        if workdir in self.workers and self.workers[workdir].phase is WorkerPhase.RUNNING:
            self.workers[workdir] = WorkerState(WorkerPhase.EXITED, 1, 0.0, 0.0, code)

    def log_path(self, workdir: Path) -> Path:
        return workdir / "output.log"

    def running(self) -> set[str]:
        return {w.parent.name for w, s in self.workers.items() if s.phase is WorkerPhase.RUNNING}


class NoLogs:
    def append(self, account: str, region: str, group: str, stream: str, lines: Any) -> int:
        return len(lines)


def _variant(tmp_path: Path, count: int) -> Variant:
    return Variant(
        "AllTraffic",
        "m",
        "xgboost",
        str(tmp_path / "model"),
        "ml.m5.large",
        "xgboost",
        {},
        count,
        1.0,
        1.0,
        5.0,
    )


def _setup(tmp_path: Path, status: EndpointStatus, count: int) -> tuple[FakeStore, FakeExecutor, Any]:
    state = EndpointState(status=status, config_name="c", fleet=(_variant(tmp_path, count),))
    key = ResourceKey("111122223333", "us-east-1", "endpoint", "ep")
    store = FakeStore(
        Resource(key, ARN, {}, 0.0, 0.0, status.value, observed=state.to_json(), next_action_at=0)
    )
    executor = FakeExecutor()
    reconciler = EndpointReconciler(
        store,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        executor,
        NoLogs(),
        RoutingTable(),
        tmp_path / "endpoints",
    )
    return store, executor, reconciler


@pytest.fixture(autouse=True)
def _pings_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "ping", lambda port, timeout, host="": True)


def _ids(state: EndpointState) -> set[str]:
    return {i.instance_id for i in state.fleet[0].instances}


def test_a_step_retried_after_a_lost_save_adopts_the_workers_it_started(tmp_path: Path) -> None:
    store, executor, reconciler = _setup(tmp_path, EndpointStatus.CREATING, 2)
    store.conflicts = 1
    reconciler.tick(1.0)  # starts two workers, then loses the save
    assert len(executor.running()) == 2 and _ids(store.state) == set()
    reconciler.tick(1.1)
    assert _ids(store.state) == executor.running() and len(executor.starts) == 2
    ports = {i.port for i in store.state.fleet[0].instances}
    assert len(ports) == 2  # each adopted worker keeps the port it was started on
    reconciler.tick(1.5)
    assert store.state.status is EndpointStatus.IN_SERVICE and len(executor.starts) == 2


def test_workers_of_a_lost_save_the_next_state_does_not_want_are_stopped(tmp_path: Path) -> None:
    store, executor, reconciler = _setup(tmp_path, EndpointStatus.CREATING, 2)
    store.conflicts = 1
    reconciler.tick(1.0)
    state = store.state
    store.write(replace(state, fleet=(replace(state.fleet[0], desired_count=1),)))
    reconciler.tick(1.1)
    assert len(executor.running()) == 1 and executor.running() == _ids(store.state)


def test_orphans_from_before_a_crash_are_stopped_on_the_next_tick(tmp_path: Path) -> None:
    _, executor, reconciler = _setup(tmp_path, EndpointStatus.CREATING, 1)
    stray = tmp_path / "endpoints" / "111122223333" / "us-east-1" / "ep" / "instances" / "i-stray" / "worker"
    stray.mkdir(parents=True)
    executor.start(WorkerSpec(stray, ["model-server"], {}))
    reconciler.tick(1.0)
    assert "i-stray" not in executor.running() and len(executor.running()) == 1


def test_a_crash_looping_instance_is_replaced_with_backoff_while_serving(tmp_path: Path) -> None:
    store, executor, reconciler = _setup(tmp_path, EndpointStatus.IN_SERVICE, 2)
    for now in (1.0, 1.1):
        reconciler.tick(now)
    assert len(executor.running()) == 2
    now = 10.0
    waits = []
    for failures in range(1, 7):
        victim = executor.starts[-1].parent.name  # the newest: the replacement crashes again
        executor.kill(executor.starts[-1])
        now = round(now + 0.5, 1)
        reconciler.tick(now)
        failed_at = now
        variant = store.state.fleet[0]
        assert store.state.status is EndpointStatus.IN_SERVICE
        assert variant.failures == failures and len(variant.instances) == 1
        [status] = variant.statuses
        assert f"{failures} consecutive failure(s)" in status.message
        assert f"instance {victim} was killed by signal 9" in status.message
        # Nothing starts until the backoff has passed, even across a restart of the server.
        reconciler = EndpointReconciler(
            store,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            executor,
            NoLogs(),
            RoutingTable(),
            tmp_path / "endpoints",
        )
        started = len(executor.starts)
        while len(executor.starts) == started:
            now = round(now + 0.1, 1)
            reconciler.tick(now)
        waits.append(round(now - failed_at, 1))
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    # Healthy long enough: the count resets and the status clears.
    reconciler.tick(now + 40)
    variant = store.state.fleet[0]
    assert (variant.failures, variant.statuses, len(variant.ready)) == (0, (), 2)


def test_old_observed_state_without_the_new_fields_still_loads() -> None:
    data = _variant(Path("/m"), 1).to_json()
    for name in ("launched", "failures", "retry_at", "last_failure"):
        data.pop(name)
    data["instances"] = [{"instance_id": "i-1", "port": 1, "started_at": 0.0}]
    variant = Variant.from_json(data)
    assert variant.failures == 0 and variant.instances == (Instance("i-1", 1, 0.0),)
