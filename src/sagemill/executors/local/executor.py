"""LocalExecutor: workers as local processes, each under a detached supervisor that outlives the server.

LIMITATIONS:
- A worker is a process group, not a container: children that start a session of their own
  (setsid, daemons) escape the stop and the clean-up that follows the worker's exit.
- Without a supervisor (it was SIGKILLed) the worker's exit status cannot be known; once the worker is
  gone too the worker is reported LOST. On LOST, call `stop(workdir, 0)` to end any orphans left
  in its process group.
- Process identity comes from /proc (pid, start time, boot id); elsewhere a reused pid can be taken for
  a live supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sagemill
from sagemill.executors.base import Executor, WorkerPhase, WorkerSpec, WorkerState
from sagemill.executors.local.records import (
    EXIT,
    REAPER,
    SPEC,
    START_LOCK,
    STOP,
    SUPERVISOR,
    SUPERVISOR_LOCK,
    SUPERVISOR_LOG,
    WORKER,
    WORKER_LOG,
    ProcessIdentity,
    group_members,
    identify,
    is_alive,
    lock_is_held,
    now_ticks,
    read_json,
    write_json,
)

_SUPERVISOR_MODULE = "sagemill.executors.local.supervisor"
# The supervisor needs only to import sagemill: it gets no part of the server's environment (keys,
# database URL, settings), which keeps it from ever reaching a worker by mistake.
_SUPERVISOR_PATH = "/usr/local/bin:/usr/bin:/bin"


class LocalExecutor:
    """The Executor port with local processes; see executors/base.py for the contract."""

    def __init__(self, python: str | None = None) -> None:
        self._python = python or sys.executable
        # Supervisors we spawned, kept only to reap them so they do not linger as zombies.
        self._children: list[subprocess.Popen[bytes]] = []
        self._children_lock = threading.Lock()

    def log_path(self, workdir: Path) -> Path:
        return workdir / WORKER_LOG

    def start(self, spec: WorkerSpec) -> None:
        workdir = spec.workdir
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._reap_children()
        if (workdir / SUPERVISOR).exists():
            return
        lock_fd = os.open(workdir / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Serialises concurrent starts of one workdir (two reconcilers, two server processes).
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            if self._started(workdir):
                return
            # spec.json may be left over from a start that crashed before spawning: rewrite it.
            write_json(
                workdir / SPEC,
                {
                    "argv": list(spec.argv),
                    "env": dict(spec.env),
                    "cwd": str(spec.cwd) if spec.cwd is not None else None,
                    "labels": dict(spec.labels),
                    "created_at": time.time(),
                },
            )
            proc = self._spawn([_SUPERVISOR_MODULE, str(workdir)], workdir)
            # The supervisor writes this record too; whichever comes first, a crash of ours right
            # after the spawn cannot leave a running supervisor that nobody can find.
            if read_json(workdir / SUPERVISOR) is None:
                write_json(workdir / SUPERVISOR, {**identify(proc.pid).to_json(), "started_at": time.time()})
        finally:
            os.close(lock_fd)

    def observe(self, workdir: Path) -> WorkerState | None:
        self._reap_children()
        supervisor = read_json(workdir / SUPERVISOR)
        if supervisor is None:
            if lock_is_held(workdir / SUPERVISOR_LOCK):
                return WorkerState(WorkerPhase.RUNNING, pid=None, started_at=None)
            return None
        stop = read_json(workdir / STOP)
        stop_at = float(stop["requested_at"]) if stop else None
        worker = read_json(workdir / WORKER)
        pid = int(worker["pid"]) if worker else None
        started_at = float(worker["started_at"]) if worker else None
        supervisor_alive = is_alive(ProcessIdentity.from_json(supervisor))
        # Read after the liveness check: a supervisor that records the exit and then ends is seen
        # EXITED, never LOST.
        ended = read_json(workdir / EXIT)
        if ended is not None:
            return WorkerState(
                WorkerPhase.EXITED,
                pid=pid,
                started_at=started_at,
                ended_at=float(ended["ended_at"]),
                exit_code=int(ended["exit_code"]),
                stop_requested_at=stop_at,
            )
        if supervisor_alive or (worker is not None and is_alive(ProcessIdentity.from_json(worker))):
            return WorkerState(WorkerPhase.RUNNING, pid, started_at, stop_requested_at=stop_at)
        return WorkerState(WorkerPhase.LOST, pid, started_at, stop_requested_at=stop_at)

    def stop(self, workdir: Path, grace_seconds: float) -> None:
        self._reap_children()
        if not workdir.is_dir():
            return
        if read_json(workdir / STOP) is None:
            # The first request's deadline stands; later calls only make sure it is enforced.
            write_json(workdir / STOP, {"requested_at": time.time(), "grace_seconds": float(grace_seconds)})
        if (workdir / EXIT).exists():
            return
        supervisor = read_json(workdir / SUPERVISOR)
        if supervisor is not None and is_alive(who := ProcessIdentity.from_json(supervisor)):
            # It forwards SIGTERM to the worker's group and SIGKILLs it at the deadline.
            with contextlib.suppress(ProcessLookupError):
                os.kill(who.pid, signal.SIGTERM)
            return
        # No supervisor (it was killed, or never recorded itself and so never started a worker).
        self._reap_orphans(workdir)

    def _reap_orphans(self, workdir: Path) -> None:
        """End a worker group whose supervisor is gone, with the same SIGTERM-then-SIGKILL deadline."""
        worker = read_json(workdir / WORKER)
        if worker is None or worker.get("start_ticks") is None:
            return
        reaper = read_json(workdir / REAPER)
        if reaper is not None and is_alive(ProcessIdentity.from_json(reaper)):
            return
        after, before = int(worker["start_ticks"]), now_ticks()
        if not group_members(int(worker["pgid"]), after, before):
            return
        # A detached process of its own keeps the escalation going without the API server.
        proc = self._spawn([_SUPERVISOR_MODULE, "--reap", str(workdir), str(after), str(before)], workdir)
        write_json(workdir / REAPER, {**identify(proc.pid).to_json(), "started_at": time.time()})

    def _spawn(self, args: list[str], workdir: Path) -> subprocess.Popen[bytes]:
        package_parent = str(Path(sagemill.__file__).resolve().parent.parent)
        env = {"PATH": _SUPERVISOR_PATH, "LANG": "C.UTF-8", "PYTHONPATH": package_parent}
        with open(workdir / SUPERVISOR_LOG, "ab") as log:
            # Born with SIGTERM blocked: a stop arriving before the supervisor has installed its
            # handler waits for it instead of killing it half-way through its start.
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            try:
                proc = subprocess.Popen(
                    [self._python, "-m", *args],
                    env=env,
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # no signal aimed at the server's group reaches it
                    close_fds=True,
                )
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        with self._children_lock:
            self._children.append(proc)
        return proc

    def _started(self, workdir: Path) -> bool:
        return (
            (workdir / SUPERVISOR).exists()
            or (workdir / EXIT).exists()
            or lock_is_held(workdir / SUPERVISOR_LOCK)
        )

    def _reap_children(self) -> None:
        with self._children_lock:
            self._children = [child for child in self._children if child.poll() is None]


if TYPE_CHECKING:
    _port: type[Executor] = LocalExecutor  # mypy proves the adapter satisfies the port
