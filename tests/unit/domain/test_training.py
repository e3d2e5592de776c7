"""Training job statuses follow SageMaker's transitions, with transitions recorded as it reports them."""

from __future__ import annotations

import pytest

from sagemill.domain.training import (
    TRANSITIONS,
    InvalidTransition,
    SecondaryStatus,
    TrainingJobStatus,
    TrainingProgress,
    advance,
    billable_seconds,
    fail,
    record_metric,
    request_stop,
    started,
)

S = SecondaryStatus


def test_happy_path_records_every_transition() -> None:
    progress = started(100.0)
    for at, status in ((101, S.DOWNLOADING), (102, S.TRAINING), (110, S.UPLOADING), (111, S.COMPLETED)):
        progress = advance(progress, status, float(at))
    assert progress.status is TrainingJobStatus.COMPLETED
    assert [t.status for t in progress.transitions] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert [t.end_time for t in progress.transitions] == [101, 102, 110, 111, 111]
    assert progress.transitions[2].message == "Training image download completed. Training in progress."
    assert (progress.training_start, progress.training_end) == (102, 110)
    assert billable_seconds(progress, 500.0) == 8


def test_ended_states_have_no_successors() -> None:
    for status in (S.COMPLETED, S.FAILED, S.STOPPED, S.MAX_RUNTIME_EXCEEDED):
        assert TRANSITIONS[status] == frozenset()
    done = fail(started(1.0), 2.0, "x" * 2000)
    assert done.status is TrainingJobStatus.FAILED and len(done.failure_reason) == 1024
    with pytest.raises(InvalidTransition):
        advance(done, S.TRAINING, 3.0)


@pytest.mark.parametrize("status", [s for s in S if s not in (S.STOPPING,)])
def test_every_transition_in_the_table_is_accepted_and_others_refused(status: SecondaryStatus) -> None:
    base = TrainingProgress(secondary=status)
    for target in S:
        if target == status:
            continue
        if target in TRANSITIONS[status]:
            assert advance(base, target, 1.0).secondary is target
        else:
            with pytest.raises(InvalidTransition):
                advance(base, target, 1.0)


def test_stop_is_idempotent_and_ignored_once_ended() -> None:
    running = advance(advance(started(0.0), S.DOWNLOADING, 1.0), S.TRAINING, 2.0)
    stopping = request_stop(running, "StopTrainingJob", 3.0)
    assert stopping.status is TrainingJobStatus.STOPPING and stopping.stop_requested == "StopTrainingJob"
    assert request_stop(stopping, "MaxRuntimeExceeded", 4.0) == stopping
    done = advance(stopping, S.STOPPED, 5.0)
    assert request_stop(done, "StopTrainingJob", 6.0) == done


def test_json_round_trip_keeps_metrics_and_transitions() -> None:
    progress = record_metric(advance(started(0.0), S.DOWNLOADING, 1.0), "validation:rmse", 0.25, 7.0)
    again = TrainingProgress.from_json(progress.to_json())
    assert again == progress
    assert TrainingProgress.from_json({}) == TrainingProgress()
