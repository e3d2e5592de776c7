"""The per-worker supervisor: starts the worker, forwards a stop with its SIGKILL deadline, records the exit.

Run as `python -m sagemill.executors.local.supervisor <workdir>` in a session of its own, it outlives
the API server that spawned it. It starts the worker from spec.json with exactly the spec's
environment, in a new session (so its process group is the worker's pid), with stdout and stderr
both appended to worker.log: the worker writes the file directly, so nothing is lost or delayed in a
relay and a dying supervisor cannot break the worker's pipes. On SIGTERM it sends SIGTERM to the
worker's group and SIGKILL when the grace of stop.json runs out; the escalation lives here so it
happens even when no API server is running. When the worker's main process ends, whatever it left
in its process group is killed, as the end of a container would.

`--reap <workdir> <after_ticks> <before_ticks>` is the fallback used when the supervisor itself is
gone but the worker's group lives on: it delivers SIGTERM and the deadline's SIGKILL to the group.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sagemill.executors.local.records import (
    DEFAULT_GRACE_SECONDS,
    EXIT,
    SPEC,
    STOP,
    SUPERVISOR,
    SUPERVISOR_LOCK,
    WORKER,
    WORKER_LOG,
    group_members,
    identify,
    read_json,
    try_lock,
    write_json,
)

_POLL_SECONDS = 0.1
"""Wake-up period only where pidfd_open is missing (Linux < 5.3, other systems)."""


class _Signals:
    """SIGTERM sets a flag and wakes the wait loop through a self-pipe (select would otherwise resume)."""

    def __init__(self) -> None:
        self.terminate = False
        self.wakeup, write_end = os.pipe()
        os.set_blocking(self.wakeup, False)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)
        signal.signal(signal.SIGTERM, self._on_terminate)
        # A terminal's Ctrl-C or hang-up belongs to the API server, not to the jobs it started.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # The executor spawns us with SIGTERM blocked, so a stop that races our start-up is held
        # pending until the handler above exists; it is delivered right here.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    def _on_terminate(self, signum: int, frame: object) -> None:
        self.terminate = True

    def drain(self) -> None:
        try:
            while os.read(self.wakeup, 512):
                pass
        except BlockingIOError:
            pass


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _stop_deadline(workdir: Path) -> float:
    stop = read_json(workdir / STOP)
    if stop is None:
        return time.time() + DEFAULT_GRACE_SECONDS
    return float(stop["requested_at"]) + float(stop["grace_seconds"])


def _wait(proc: subprocess.Popen[bytes], workdir: Path, signals: _Signals) -> tuple[int, bool]:
    """Wait for the worker, handling a stop; returns (exit status, whether SIGKILL was needed)."""
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    watched = [signals.wakeup] if pidfd is None else [signals.wakeup, pidfd]
    deadline: float | None = None
    escalated = False
    try:
        while (code := proc.poll()) is None:
            if signals.terminate and deadline is None:
                deadline = _stop_deadline(workdir)
                _signal_group(proc.pid, signal.SIGTERM)
            if deadline is not None and not escalated and time.time() >= deadline:
                _signal_group(proc.pid, signal.SIGKILL)
                escalated = True
            timeout = None if deadline is None or escalated else max(0.0, deadline - time.time())
            if pidfd is None:
                timeout = _POLL_SECONDS if timeout is None else min(timeout, _POLL_SECONDS)
            select.select(watched, [], [], timeout)
            signals.drain()
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return code, escalated


def _record_exit(workdir: Path, exit_code: int, **extra: Any) -> None:
    write_json(workdir / EXIT, {"exit_code": exit_code, "ended_at": time.time(), **extra})


def supervise(workdir: Path) -> int:
    signals = _Signals()
    if try_lock(workdir / SUPERVISOR_LOCK) is None:
        return 0  # another supervisor owns this workdir; the lock fd stays open for our whole life
    if read_json(workdir / SUPERVISOR) is None:
        me = identify(os.getpid())
        write_json(workdir / SUPERVISOR, {**me.to_json(), "started_at": time.time()})
    if read_json(workdir / EXIT) is not None or read_json(workdir / WORKER) is not None:
        return 0  # an earlier supervisor already ran (or is accounted for); never start twice
    spec = read_json(workdir / SPEC)
    if spec is None:
        return 2
    if signals.terminate or read_json(workdir / STOP) is not None:
        _record_exit(workdir, -signal.SIGTERM, started=False)
        return 0

    log_fd = os.open(workdir / WORKER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            spec["argv"],
            env=spec["env"],
            cwd=spec.get("cwd"),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        # Like a shell: 127 for "not found", 126 for "found but cannot run"; the reason goes where
        # the user will look for it, the job's log.
        os.write(log_fd, f"sagemill: cannot start {spec['argv'][0]!r}: {exc}\n".encode())
        os.close(log_fd)
        _record_exit(workdir, 127 if isinstance(exc, FileNotFoundError) else 126, started=False)
        return 0
    os.close(log_fd)
    worker = identify(proc.pid)
    write_json(workdir / WORKER, {**worker.to_json(), "pgid": proc.pid, "started_at": time.time()})

    try:
        code, escalated = _wait(proc, workdir, signals)
    finally:
        # Leftovers of the group die with the worker; and should we fail, no worker runs unwatched.
        _signal_group(proc.pid, signal.SIGKILL)
    _record_exit(workdir, code, killed_after_grace=escalated)
    return 0


def reap(workdir: Path, after_ticks: int, before_ticks: int) -> int:
    """SIGTERM the orphaned worker group now and SIGKILL what is left at the stop deadline."""
    worker = read_json(workdir / WORKER)
    if worker is None:
        return 0
    pgid = int(worker["pgid"])
    deadline = _stop_deadline(workdir)
    signum: int = signal.SIGTERM
    while members := group_members(pgid, after_ticks, before_ticks):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        signum = signal.SIGKILL if time.time() >= deadline else 0
        time.sleep(_POLL_SECONDS)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--reap":
        return reap(Path(args[1]), int(args[2]), int(args[3]))
    return supervise(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
