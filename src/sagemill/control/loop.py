"""The background runner: periodic tasks on one thread that never dies of a task's exception."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("sagemill.control")


@dataclass
class PeriodicTask:
    """`run(now)` every `interval` seconds; `now` is wall-clock seconds, passed in for testability."""

    name: str
    interval: float
    run: Callable[[float], object]
    next_at: float = 0.0
    failures: int = field(default=0)
    due: Callable[[], float | None] | None = None
    """When the task's work is next due (wall clock; None = nothing scheduled): a reconciler's queue.
    With it, the task sleeps past `interval` until then, up to `idle` seconds; `Loop.wake` cuts it short."""
    idle: float = 1.0


class Loop:
    """Runs due tasks in order on a daemon thread; `stop()` waits for the current task to finish."""

    def __init__(self, tasks: list[PeriodicTask], clock: Callable[[], float] = time.time) -> None:
        self.tasks = tasks
        self.clock = clock
        self._stop = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.tasks:
            self._thread = threading.Thread(target=self._run, name="sagemill-control", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Run every task now: an API call just wrote work the loop should not wait to see."""
        for task in self.tasks:
            task.next_at = 0.0
        self._woken.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def tick(self) -> float:
        """Run every due task once; returns seconds until the next one is due."""
        now = self.clock()
        for task in self.tasks:
            if task.next_at <= now:
                try:
                    task.run(now)
                    task.failures = 0
                except Exception:
                    task.failures += 1
                    log.exception("background task %s failed (%d in a row)", task.name, task.failures)
                task.next_at = self._next_at(task, now)
        return max(0.0, min(t.next_at for t in self.tasks) - self.clock())

    @staticmethod
    def _next_at(task: PeriodicTask, now: float) -> float:
        soonest = now + task.interval
        if task.due is None or task.failures:
            return soonest
        try:
            upcoming = task.due()
        except Exception:
            log.exception("background task %s: reading when it is next due failed", task.name)
            return soonest
        latest = now + max(task.idle, task.interval)
        return max(soonest, min(latest, upcoming if upcoming is not None else latest))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._woken.wait(self.tick())
            self._woken.clear()
