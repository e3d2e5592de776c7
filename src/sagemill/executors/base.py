"""The Executor port: run a worker process that outlives the API server, and observe it from any process.

Contract, for every adapter:
- A worker is identified by its `workdir`; everything the executor needs to find it again after a
  restart of the API server lives there (no in-memory state is required to observe or stop it).
- `start` is idempotent: starting a workdir that already has a worker does nothing.
- `observe` never blocks; it returns None for a workdir that was never started.
- `stop` asks the worker to end (SIGTERM to its whole process group) and makes sure it is killed
  `grace_seconds` later even if the API server is gone by then.
- The worker's stdout and stderr, interleaved, are appended to `log_path(workdir)` as they are
  written; readers tail that file by byte offset.
- The worker runs with exactly `spec.env` as its environment: nothing of the server's leaks in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class WorkerPhase(StrEnum):
    RUNNING = "Running"
    EXITED = "Exited"
    LOST = "Lost"
    """The supervisor vanished without recording an exit (machine reboot, SIGKILL of the supervisor)."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What to run and where."""

    workdir: Path
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)
    """Free-form tags stored with the worker (job name, account), for operators and adoption."""


@dataclass(frozen=True, slots=True)
class WorkerState:
    phase: WorkerPhase
    pid: int | None
    started_at: float | None
    ended_at: float | None = None
    exit_code: int | None = None
    """The exit status; negative for a signal (-15 SIGTERM, -9 SIGKILL), None unless EXITED."""
    stop_requested_at: float | None = None


class Executor(Protocol):
    """Runs workers; see the module docstring for the contract."""

    def start(self, spec: WorkerSpec) -> None: ...

    def observe(self, workdir: Path) -> WorkerState | None: ...

    def stop(self, workdir: Path, grace_seconds: float) -> None: ...

    def log_path(self, workdir: Path) -> Path: ...
