"""Training jobs: SageMaker's primary and secondary statuses, their transitions and messages. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class TrainingJobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class SecondaryStatus(StrEnum):
    STARTING = "Starting"
    PENDING = "Pending"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"


S = SecondaryStatus

PRIMARY: dict[SecondaryStatus, TrainingJobStatus] = {
    S.STARTING: TrainingJobStatus.IN_PROGRESS,
    S.PENDING: TrainingJobStatus.IN_PROGRESS,
    S.DOWNLOADING: TrainingJobStatus.IN_PROGRESS,
    S.TRAINING: TrainingJobStatus.IN_PROGRESS,
    S.UPLOADING: TrainingJobStatus.IN_PROGRESS,
    S.STOPPING: TrainingJobStatus.STOPPING,
    S.STOPPED: TrainingJobStatus.STOPPED,
    S.MAX_RUNTIME_EXCEEDED: TrainingJobStatus.STOPPED,
    S.COMPLETED: TrainingJobStatus.COMPLETED,
    S.FAILED: TrainingJobStatus.FAILED,
}

MESSAGES: dict[SecondaryStatus, str] = {
    S.STARTING: "Preparing the instances for training",
    S.PENDING: "Waiting for capacity to run the training job",
    S.DOWNLOADING: "Downloading input data",
    S.TRAINING: "Training image download completed. Training in progress.",
    S.UPLOADING: "Uploading generated training model",
    S.STOPPING: "Stopping the training job",
    S.STOPPED: "Training job stopped",
    S.MAX_RUNTIME_EXCEEDED: "Training job exceeded the MaxRuntimeInSeconds provided",
    S.COMPLETED: "Training job completed",
    S.FAILED: "Training job failed",
}

_ENDED = frozenset({S.STOPPED, S.MAX_RUNTIME_EXCEEDED, S.COMPLETED, S.FAILED})

# Which secondary status may follow which. Stopping and failing are possible from every running state.
TRANSITIONS: dict[SecondaryStatus, frozenset[SecondaryStatus]] = {
    S.STARTING: frozenset({S.PENDING, S.DOWNLOADING, S.STOPPING, S.FAILED}),
    S.PENDING: frozenset({S.DOWNLOADING, S.STOPPING, S.FAILED}),
    S.DOWNLOADING: frozenset({S.TRAINING, S.STOPPING, S.FAILED}),
    S.TRAINING: frozenset({S.UPLOADING, S.STOPPING, S.FAILED}),
    S.UPLOADING: frozenset({S.COMPLETED, S.FAILED, S.STOPPED, S.MAX_RUNTIME_EXCEEDED}),
    S.STOPPING: frozenset({S.UPLOADING, S.STOPPED, S.MAX_RUNTIME_EXCEEDED, S.FAILED}),
    S.STOPPED: frozenset(),
    S.MAX_RUNTIME_EXCEEDED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
}


class InvalidTransition(ValueError):
    """A secondary status was asked to follow one it cannot follow."""


@dataclass(frozen=True, slots=True)
class Transition:
    status: str
    start_time: float
    message: str
    end_time: float | None = None


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    """What the platform has observed of a job; stored as the resource's `observed` JSON."""

    secondary: SecondaryStatus = S.STARTING
    transitions: tuple[Transition, ...] = ()
    training_start: float | None = None
    training_end: float | None = None
    failure_reason: str = ""
    stop_requested: str = ""
    """'' when not asked to stop, else why: 'StopTrainingJob' or 'MaxRuntimeExceeded'."""
    final_metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Metric name → (last value, timestamp)."""
    model_artifacts: str = ""
    log_offset: int = 0
    log_stream: str = ""
    status_message: str = ""

    @property
    def status(self) -> TrainingJobStatus:
        return PRIMARY[self.secondary]

    @property
    def ended(self) -> bool:
        return self.secondary in _ENDED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["secondary"] = self.secondary.value
        data["final_metrics"] = {k: list(v) for k, v in self.final_metrics.items()}
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> TrainingProgress:
        if not data:
            return TrainingProgress()
        return TrainingProgress(
            secondary=SecondaryStatus(data["secondary"]),
            transitions=tuple(Transition(**t) for t in data.get("transitions", [])),
            training_start=data.get("training_start"),
            training_end=data.get("training_end"),
            failure_reason=data.get("failure_reason", ""),
            stop_requested=data.get("stop_requested", ""),
            final_metrics={k: (float(v[0]), float(v[1])) for k, v in data.get("final_metrics", {}).items()},
            model_artifacts=data.get("model_artifacts", ""),
            log_offset=int(data.get("log_offset", 0)),
            log_stream=data.get("log_stream", ""),
            status_message=data.get("status_message", ""),
        )


def started(now: float) -> TrainingProgress:
    """A new job: Starting, with its first transition open."""
    return TrainingProgress(transitions=(Transition(S.STARTING.value, now, MESSAGES[S.STARTING]),))


def advance(
    progress: TrainingProgress, to: SecondaryStatus, now: float, message: str = ""
) -> TrainingProgress:
    """Move to `to`, closing the open transition; staying put only updates the message."""
    text = message or MESSAGES[to]
    if to == progress.secondary:
        return replace(progress, status_message=text)
    if to not in TRANSITIONS[progress.secondary]:
        raise InvalidTransition(f"{progress.secondary.value} cannot be followed by {to.value}")
    closed = tuple(replace(t, end_time=now) if t.end_time is None else t for t in progress.transitions)
    opened = Transition(to.value, now, text, now if to in _ENDED else None)
    changes: dict[str, Any] = {"secondary": to, "transitions": (*closed, opened), "status_message": text}
    if to is S.TRAINING and progress.training_start is None:
        changes["training_start"] = now
    closing = to in _ENDED or to is S.UPLOADING
    if closing and progress.training_start is not None and progress.training_end is None:
        changes["training_end"] = now
    return replace(progress, **changes)


def fail(progress: TrainingProgress, now: float, reason: str) -> TrainingProgress:
    """End the job Failed; SageMaker keeps the first 1024 characters of the reason."""
    return replace(advance(progress, S.FAILED, now), failure_reason=reason[:1024])


def request_stop(progress: TrainingProgress, why: str, now: float) -> TrainingProgress:
    """Ask a running job to stop; a job that already ended is returned unchanged."""
    if progress.ended or progress.stop_requested:
        return progress
    return replace(advance(progress, S.STOPPING, now), stop_requested=why)


def record_metric(progress: TrainingProgress, name: str, value: float, at: float) -> TrainingProgress:
    metrics = dict(progress.final_metrics)
    metrics[name] = (value, at)
    return replace(progress, final_metrics=metrics)


def billable_seconds(progress: TrainingProgress, now: float) -> int:
    """Whole seconds from training start to end (or now while it runs), at least 1 once started."""
    if progress.training_start is None:
        return 0
    end = progress.training_end if progress.training_end is not None else now
    return max(1, int(end - progress.training_start + 0.999))
