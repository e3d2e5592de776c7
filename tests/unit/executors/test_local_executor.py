"""LocalExecutor with real processes: logs, exit codes, stops, idempotence, survival, LOST, env isolation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sagemill.executors.base import WorkerPhase, WorkerSpec, WorkerState
from sagemill.executors.local import LocalExecutor
from sagemill.executors.local.records import identify, is_alive

PY = sys.executable


def spec(tmp_path: Path, code: str, env: dict[str, str] | None = None, name: str = "job") -> WorkerSpec:
    return WorkerSpec(tmp_path / name, [PY, "-c", textwrap.dedent(code)], env if env is not None else {})


def wait_ended(executor: LocalExecutor, workdir: Path, timeout: float = 10.0) -> WorkerState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = executor.observe(workdir)
        if state is not None and state.phase != WorkerPhase.RUNNING:
            return state
        time.sleep(0.02)
    raise AssertionError(f"{workdir} still running after {timeout}s")


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def log_text(executor: LocalExecutor, workdir: Path) -> str:
    path = executor.log_path(workdir)
    return path.read_text() if path.exists() else ""


def record(workdir: Path, name: str) -> dict[str, Any]:
    data = json.loads((workdir / name).read_text())
    assert isinstance(data, dict)
    return data


def test_logs_are_captured_and_exit_zero_reported(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, "import sys; print('to stdout', flush=True); print('to stderr', file=sys.stderr)")
    assert executor.observe(job.workdir) is None
    executor.start(job)
    state = wait_ended(executor, job.workdir)
    assert state.phase == WorkerPhase.EXITED and state.exit_code == 0
    assert state.pid is not None and state.started_at is not None and state.ended_at is not None
    assert state.started_at <= state.ended_at
    assert log_text(executor, job.workdir) == "to stdout\nto stderr\n"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import sys; sys.exit(3)", 3),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM),
    ],
)
def test_exit_status_and_signals(tmp_path: Path, code: str, expected: int) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, code)
    executor.start(job)
    assert wait_ended(executor, job.workdir).exit_code == expected


def test_missing_program_exits_127_with_the_reason_in_the_log(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = WorkerSpec(tmp_path / "job", [str(tmp_path / "no-such-program")], {})
    executor.start(job)
    assert wait_ended(executor, job.workdir).exit_code == 127
    assert "no-such-program" in log_text(executor, job.workdir)


def test_worker_sees_exactly_the_spec_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
    monkeypatch.setenv("SAGEMILL_DATABASE_URL", "postgresql://secret")
    executor = LocalExecutor()
    job = WorkerSpec(tmp_path / "job", ["/usr/bin/env"], {"ONLY": "this", "ALSO": "that"})
    executor.start(job)
    assert wait_ended(executor, job.workdir).exit_code == 0
    assert sorted(log_text(executor, job.workdir).splitlines()) == ["ALSO=that", "ONLY=this"]


def test_cwd_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    executor = LocalExecutor()
    job = WorkerSpec(tmp_path / "job", [PY, "-c", "import os; print(os.getcwd())"], {}, cwd=tmp_path / "here")
    executor.start(job)
    wait_ended(executor, job.workdir)
    assert log_text(executor, job.workdir).strip() == str(tmp_path / "here")


def test_start_is_idempotent(tmp_path: Path) -> None:
    executor = LocalExecutor()
    first = spec(tmp_path, "print('first', flush=True)")
    executor.start(first)
    executor.start(spec(tmp_path, "print('second', flush=True)"))
    LocalExecutor().start(first)  # another server instance, same workdir
    assert wait_ended(executor, first.workdir).exit_code == 0
    executor.start(first)  # after the end, too
    time.sleep(0.2)
    assert log_text(executor, first.workdir) == "first\n"


READY_THEN_TRAP = """
import signal, sys, time
def on_term(signum, frame):
    print('graceful', flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print('ready', flush=True)
time.sleep(60)
"""

READY_THEN_IGNORE = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('ready', flush=True)
time.sleep(60)
"""


def test_stop_lets_a_worker_that_handles_sigterm_exit_gracefully(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, READY_THEN_TRAP)
    executor.start(job)
    wait_for(lambda: "ready" in log_text(executor, job.workdir))
    executor.stop(job.workdir, grace_seconds=5)
    executor.stop(job.workdir, grace_seconds=5)  # idempotent
    state = wait_ended(executor, job.workdir, timeout=3)
    assert state.exit_code == 0 and state.stop_requested_at is not None
    assert "graceful" in log_text(executor, job.workdir)
    assert record(job.workdir, "exit.json")["killed_after_grace"] is False


def test_stop_sigkills_a_worker_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, READY_THEN_IGNORE)
    executor.start(job)
    wait_for(lambda: "ready" in log_text(executor, job.workdir))
    asked = time.time()
    executor.stop(job.workdir, grace_seconds=0.5)
    time.sleep(0.2)
    assert executor.observe(job.workdir).phase == WorkerPhase.RUNNING  # type: ignore[union-attr]
    state = wait_ended(executor, job.workdir, timeout=5)
    assert state.exit_code == -signal.SIGKILL
    assert state.ended_at is not None and state.ended_at - asked >= 0.5
    assert record(job.workdir, "exit.json")["killed_after_grace"] is True


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(
        tmp_path,
        f"""
        import subprocess, time
        child = subprocess.Popen([{PY!r}, "-c", "import time; time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
        """,
    )
    executor.start(job)
    wait_for(lambda: log_text(executor, job.workdir).strip().isdigit())
    grandchild = identify(int(log_text(executor, job.workdir)))
    executor.stop(job.workdir, grace_seconds=1)
    assert wait_ended(executor, job.workdir).exit_code == -signal.SIGTERM
    wait_for(lambda: not is_alive(grandchild), timeout=3)


@pytest.mark.parametrize("attempt", range(3))
def test_a_stop_racing_the_start_is_never_lost(tmp_path: Path, attempt: int) -> None:
    # The supervisor is born with SIGTERM blocked, so a stop during its start-up waits for its handler.
    executor = LocalExecutor()
    job = spec(tmp_path, "import time; time.sleep(60)")
    executor.start(job)
    executor.stop(job.workdir, grace_seconds=1)
    state = wait_ended(executor, job.workdir)
    assert state.phase == WorkerPhase.EXITED and state.exit_code == -signal.SIGTERM


def test_a_new_executor_instance_observes_and_stops_the_same_worker(tmp_path: Path) -> None:
    first = LocalExecutor()
    job = spec(tmp_path, READY_THEN_TRAP)
    first.start(job)
    del first
    second = LocalExecutor()
    wait_for(lambda: "ready" in log_text(second, job.workdir))
    state = second.observe(job.workdir)
    assert state is not None and state.phase == WorkerPhase.RUNNING and state.pid is not None
    second.stop(job.workdir, grace_seconds=5)
    assert wait_ended(second, job.workdir).exit_code == 0


STARTER = """
import sys, time
from pathlib import Path
from sagemill.executors.base import WorkerSpec
from sagemill.executors.local import LocalExecutor
workdir, code = Path(sys.argv[1]), sys.argv[2]
LocalExecutor().start(WorkerSpec(workdir, [sys.executable, "-c", code], {}))
print("started", flush=True)
time.sleep(60)
"""


def test_worker_survives_the_death_of_the_process_that_started_it(tmp_path: Path) -> None:
    workdir = tmp_path / "job"
    code = "import time; time.sleep(0.8); print('finished', flush=True); raise SystemExit(7)"
    starter = subprocess.Popen(
        [PY, "-c", STARTER, str(workdir), code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert starter.stdout is not None and starter.stdout.readline() == b"started\n"
    starter.kill()  # SIGKILL: the "API server" dies without any clean-up
    starter.wait()
    executor = LocalExecutor()
    state = executor.observe(workdir)
    assert state is not None and state.phase == WorkerPhase.RUNNING
    state = wait_ended(executor, workdir)
    assert state.phase == WorkerPhase.EXITED and state.exit_code == 7
    assert log_text(executor, workdir) == "finished\n"


def _kill_supervisor(workdir: Path) -> None:
    wait_for(lambda: (workdir / "worker.json").exists())
    supervisor = identify(int(record(workdir, "supervisor.json")["pid"]))
    os.kill(supervisor.pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(supervisor))


def test_lost_when_the_supervisor_dies_without_recording_an_exit(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, "import time; time.sleep(60)")
    executor.start(job)
    _kill_supervisor(job.workdir)
    # The orphaned worker still runs, so the job does.
    state = executor.observe(job.workdir)
    assert state is not None and state.phase == WorkerPhase.RUNNING and state.pid is not None
    os.killpg(state.pid, signal.SIGKILL)
    state = wait_ended(executor, job.workdir)
    assert state.phase == WorkerPhase.LOST and state.exit_code is None


def test_stop_without_a_supervisor_still_escalates_to_sigkill(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, READY_THEN_IGNORE)
    executor.start(job)
    wait_for(lambda: "ready" in log_text(executor, job.workdir))
    _kill_supervisor(job.workdir)
    worker = identify(int(record(job.workdir, "worker.json")["pid"]))
    executor.stop(job.workdir, grace_seconds=0.3)
    executor.stop(job.workdir, grace_seconds=0.3)  # one reaper, not two
    wait_for(lambda: not is_alive(worker), timeout=5)
    state = wait_ended(executor, job.workdir)
    assert state.phase == WorkerPhase.LOST and state.stop_requested_at is not None


def test_stop_is_harmless_before_start_and_after_the_end(tmp_path: Path) -> None:
    executor = LocalExecutor()
    executor.stop(tmp_path / "never", grace_seconds=1)
    assert executor.observe(tmp_path / "never") is None
    job = spec(tmp_path, "raise SystemExit(0)")
    executor.start(job)
    wait_ended(executor, job.workdir)
    executor.stop(job.workdir, grace_seconds=1)
    state = executor.observe(job.workdir)
    assert state is not None and state.phase == WorkerPhase.EXITED and state.exit_code == 0


def test_a_stop_that_lands_before_the_worker_starts_prevents_it(tmp_path: Path) -> None:
    executor = LocalExecutor()
    job = spec(tmp_path, "print('should not run', flush=True)")
    job.workdir.mkdir()
    (job.workdir / "stop.json").write_text(json.dumps({"requested_at": time.time(), "grace_seconds": 1.0}))
    executor.start(job)
    state = wait_ended(executor, job.workdir)
    assert state.phase == WorkerPhase.EXITED and state.exit_code == -signal.SIGTERM and state.pid is None
    assert log_text(executor, job.workdir) == ""
