"""The background loop runs due tasks and survives a task's exception."""

from __future__ import annotations

import pytest

from sagemill.control.loop import Loop, PeriodicTask


def test_due_tasks_run_and_failures_do_not_stop_the_loop() -> None:
    now = [100.0]
    seen: list[tuple[str, float]] = []

    def broken(at: float) -> None:
        seen.append(("broken", at))
        raise RuntimeError("boom")

    loop = Loop(
        [PeriodicTask("ok", 10, lambda at: seen.append(("ok", at))), PeriodicTask("broken", 5, broken)],
        clock=lambda: now[0],
    )
    assert loop.tick() == 5
    assert seen == [("ok", 100.0), ("broken", 100.0)]
    now[0] = 106.0
    loop.tick()
    assert seen[-1] == ("broken", 106.0)
    assert loop.tasks[1].failures == 2
    assert ("ok", 106.0) not in seen
    now[0] = 110.0
    loop.tick()
    assert ("ok", 110.0) in seen


def test_wake_runs_every_task_at_once() -> None:
    now = [0.0]
    runs: list[float] = []
    loop = Loop([PeriodicTask("t", 60, runs.append)], clock=lambda: now[0])
    loop.tick()
    now[0] = 1.0
    loop.tick()
    assert runs == [0.0]
    loop.wake()
    loop.tick()
    assert runs == [0.0, 1.0]


def test_a_task_with_a_queue_sleeps_until_its_next_row_is_due_within_its_idle_bound() -> None:
    now = [100.0]
    upcoming: list[float | None] = [100.45]
    task = PeriodicTask("queue", 0.1, lambda at: None, due=lambda: upcoming[0], idle=1.0)
    loop = Loop([task], clock=lambda: now[0])
    assert loop.tick() == pytest.approx(0.45)  # the next row, not the 0.1 s poll
    upcoming[0] = 100.01  # already due again: never sooner than the interval
    now[0] = 100.45
    assert loop.tick() == pytest.approx(0.1)
    upcoming[0] = None  # nothing scheduled: the idle bound
    now[0] = 100.55
    assert loop.tick() == pytest.approx(1.0)
    upcoming[0] = 500.0  # far away: still the idle bound (a write without a wake is seen within it)
    now[0] = 101.55
    assert loop.tick() == pytest.approx(1.0)
    loop.wake()
    assert task.next_at == 0.0


def test_a_failing_due_reader_falls_back_to_the_interval() -> None:
    def broken() -> float:
        raise RuntimeError("database gone")

    loop = Loop([PeriodicTask("queue", 0.1, lambda at: None, due=broken)], clock=lambda: 5.0)
    assert loop.tick() == pytest.approx(0.1)
