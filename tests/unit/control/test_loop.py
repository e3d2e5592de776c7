"""The background loop runs due tasks and survives a task's exception."""

from __future__ import annotations

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
