"""One `xgboost.train` run as the container does it: logs, checkpoints, early stopping, SIGTERM."""

from __future__ import annotations

import logging
import os
import re
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import xgboost as xgb

from sagemill.executors.algorithms.errors import AlgorithmError, UserError

logger = logging.getLogger("sagemill.algorithm.xgboost")

MODEL_NAME = "xgboost-model"
CHECKPOINT_NAME = "xgboost-checkpoint"
CHECKPOINTS_KEPT = 5

# xgboost messages that mean the user's data or parameters are wrong (the container's CUSTOMER_ERRORS).
CUSTOMER_ERRORS = (
    "label must be in [0,1]",
    "label must be in [0, num_class)",
    "Target is multiclass but average='binary'",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "the dataset only contains pos or neg samples",
    "base_score must be in (0,1)",
    "label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
    "Invalid Input",
    "Check failed: valid",
)


@dataclass(frozen=True, slots=True)
class Plan:
    params: dict[str, Any]
    num_round: int
    custom_metric: Any
    early_stopping_rounds: int | None
    early_stopping_metric: str | None
    maximize: bool
    checkpoint_dir: Path | None
    save_model_on_termination: bool


# xgboost numbers a resumed run's rounds from 0 again; logs and checkpoints count from the first round.


class Monitor(xgb.callback.EvaluationMonitor):
    """xgboost's `[round]<TAB>train-rmse:...` lines, numbered from the job's first round."""

    def __init__(self, offset: int) -> None:
        super().__init__()
        self.offset = offset

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return bool(super().after_iteration(model, epoch + self.offset, evals_log))


class Checkpoints(xgb.callback.TrainingCallback):
    """Writes `xgboost-checkpoint.<iteration>` after every round, keeping the last few, as the container."""

    def __init__(self, directory: Path, offset: int) -> None:
        super().__init__()
        self.directory = directory
        self.offset = offset
        directory.mkdir(parents=True, exist_ok=True)

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        epoch += self.offset
        final = self.directory / f"{CHECKPOINT_NAME}.{epoch}"
        # A hidden temporary name, renamed into place, so a sync or a resume never sees half a file.
        temporary = self.directory / f".{CHECKPOINT_NAME}.{epoch}.sagemaker-ignore.ubj"
        model.save_model(str(temporary))
        os.replace(temporary, final)
        stale = self.directory / f"{CHECKPOINT_NAME}.{epoch - CHECKPOINTS_KEPT}"
        if stale.exists() and not Path(f"{stale}.sagemaker-uploading").exists():
            stale.unlink(missing_ok=True)
        return False


class StopOnTermination(xgb.callback.TrainingCallback):
    """save_model_on_termination: on SIGTERM, end training after this round so the model so far is saved."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        logger.info(
            "Received SIGTERM: stopping after this round and saving the model (save_model_on_termination)"
        )
        self.requested = True

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self.requested


def latest_checkpoint(directory: Path | None) -> tuple[xgb.Booster | None, int]:
    """The newest checkpoint and the number of rounds it holds, or (None, 0)."""
    if directory is None or not directory.is_dir():
        return None, 0
    pattern = re.compile(rf"^{re.escape(CHECKPOINT_NAME)}\.([0-9]+)$")
    found = sorted(
        (int(match.group(1)), directory / name)
        for name in os.listdir(directory)
        if (match := pattern.match(name))
    )
    for iteration, path in reversed(found):
        try:
            booster = load_booster(path)
        except xgb.core.XGBoostError:
            logger.warning("Ignoring unreadable checkpoint %s", path.name)
            continue
        logger.info("Checkpoint loaded from %s", path)
        return booster, iteration + 1
    return None, 0


def load_booster(path: Path) -> xgb.Booster:
    with warnings.catch_warnings():
        # "Unknown file format ... Using UBJSON as a guess": the right guess for files saved here.
        warnings.simplefilter("ignore")
        return xgb.Booster(model_file=str(path))


def train(plan: Plan, dtrain: xgb.DMatrix, dvalidation: xgb.DMatrix | None) -> xgb.Booster:
    evals = [(dtrain, "train")]
    if dvalidation is not None:
        evals.append((dvalidation, "validation"))
    resume_from, done = latest_checkpoint(plan.checkpoint_dir)
    if resume_from is not None:
        logger.info("Resuming from iteration %s", done)
    callbacks: list[xgb.callback.TrainingCallback] = [Monitor(done)]
    if plan.checkpoint_dir is not None:
        callbacks.append(Checkpoints(plan.checkpoint_dir, done))
    if plan.save_model_on_termination:
        callbacks.append(StopOnTermination())
    if plan.early_stopping_rounds and dvalidation is not None:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=plan.early_stopping_rounds,
                data_name="validation",
                metric_name=plan.early_stopping_metric,
                maximize=plan.maximize,
                save_best=True,
            )
        )
    elif plan.early_stopping_rounds:
        logger.warning("early_stopping_rounds is ignored: it needs a validation channel")
    try:
        return xgb.train(
            plan.params,
            dtrain,
            num_boost_round=max(plan.num_round - done, 0),
            evals=evals,
            custom_metric=plan.custom_metric,
            callbacks=callbacks,
            xgb_model=resume_from,
            verbose_eval=False,
        )
    except (xgb.core.XGBoostError, ValueError) as error:
        text = str(error)
        if any(message in text for message in CUSTOMER_ERRORS):
            raise UserError(text) from error
        raise AlgorithmError(f"XGB train call failed with exception:\n {text}") from error


def save(booster: xgb.Booster, model_dir: Path) -> Path:
    """Save in xgboost's native (UBJSON) format under the container's name, loadable by Booster.load_model."""
    model_dir.mkdir(parents=True, exist_ok=True)
    temporary = model_dir / f".{MODEL_NAME}.ubj"
    booster.save_model(str(temporary))
    final = model_dir / MODEL_NAME
    os.replace(temporary, final)
    return final
