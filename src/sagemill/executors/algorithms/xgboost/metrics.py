"""Evaluation metrics of the built-in XGBoost: native ones by name, the container's own via scikit-learn.

The container computes `accuracy`, `f1`, `precision`, `recall`, `r2`, `mse` and friends itself (they are not
xgboost metrics). Here too, on the predictions xgboost 3 hands a custom metric (already transformed by the
objective): class = argmax of a probability matrix, the value itself for `multi:softmax`, margin > 0 for
`binary:logitraw`, probability > 0.5 otherwise. `rmse` and `mae` stay native: the container routes them
through scikit-learn too, which gives the same value for `reg:squarederror` and a wrong one on the margin
scale for other objectives.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from sagemill.executors.algorithms.metric_definitions import XGB_MAXIMIZE_METRICS

Array = npt.NDArray[np.float64]
Score = Callable[[Array, Array, str], float]


def predicted_classes(preds: Array, objective: str) -> Array:
    if preds.ndim == 2 and preds.shape[1] > 1:
        return np.asarray(np.argmax(preds, axis=1), dtype=np.float64)
    flat = preds.reshape(-1)
    if objective == "multi:softmax":
        return flat.astype(np.float64)
    threshold = 0.0 if objective == "binary:logitraw" else 0.5
    return (flat > threshold).astype(np.float64)


def _sklearn(name: str) -> Callable[..., float]:
    # Imported on first use: scikit-learn costs most of a second to load, and most jobs never need it.
    score: Callable[..., float] = getattr(importlib.import_module("sklearn.metrics"), name)
    return score


def _classification(name: str, **kwargs: object) -> Score:
    def compute(labels: Array, preds: Array, objective: str) -> float:
        if preds.size == 0:
            return 0.0
        return float(_sklearn(name)(labels, predicted_classes(preds, objective), **kwargs))

    return compute


def _regression(name: str) -> Score:
    return lambda labels, preds, objective: float(_sklearn(name)(labels, preds.reshape(-1)))


CUSTOM_METRICS: dict[str, Score] = {
    "accuracy": _classification("accuracy_score"),
    "balanced_accuracy": _classification("balanced_accuracy_score"),
    "f1": _classification("f1_score", average="macro"),
    "f1_binary": _classification("f1_score", average="binary"),
    "f1_macro": _classification("f1_score", average="macro"),
    "precision": _classification("precision_score", zero_division=0),
    "precision_macro": _classification("precision_score", average="macro", zero_division=0),
    "precision_micro": _classification("precision_score", average="micro", zero_division=0),
    "recall": _classification("recall_score", zero_division=0),
    "recall_macro": _classification("recall_score", average="macro", zero_division=0),
    "recall_micro": _classification("recall_score", average="micro", zero_division=0),
    "mse": _regression("mean_squared_error"),
    "r2": _regression("r2_score"),
}


@dataclass(frozen=True, slots=True)
class EvalPlan:
    native: list[str]
    """Passed to xgboost as `eval_metric`; empty lets xgboost pick the objective's default."""
    custom: list[str]
    tuning: str | None
    """The metric named by `_tuning_objective_metric` (`validation:auc` → `auc`)."""

    def early_stopping_metric(self, eval_metric: list[str]) -> str | None:
        # As the container: the tuning metric wins, else the last eval_metric the user listed.
        if self.tuning:
            return self.tuning
        return eval_metric[-1] if eval_metric else None

    def custom_metric(self, objective: str) -> Callable[[Array, xgb.DMatrix], list[tuple[str, float]]] | None:
        if not self.custom:
            return None
        names = list(self.custom)

        def evaluate(preds: Array, data: xgb.DMatrix) -> list[tuple[str, float]]:
            labels = data.get_label()
            return [(name, CUSTOM_METRICS[name](labels, preds, objective)) for name in names]

        return evaluate


def plan(eval_metric: list[str] | None, tuning_objective_metric: str | None) -> EvalPlan:
    tuning = tuning_objective_metric.split(":", 1)[1] if tuning_objective_metric else None
    wanted = list(eval_metric or [])
    if tuning and tuning not in wanted:
        wanted.append(tuning)
    return EvalPlan(
        native=[m for m in wanted if m not in CUSTOM_METRICS],
        custom=[m for m in wanted if m in CUSTOM_METRICS],
        tuning=tuning,
    )


def maximize(metric: str) -> bool:
    return metric.split("@")[0] in XGB_MAXIMIZE_METRICS
