"""Linear-learner's objective losses, quality metrics and binary threshold selection (numpy, scikit-learn)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm  # type: ignore[import-untyped]

Array = npt.NDArray[np.float64]

_EPSILON = 1e-12

# The name the real algorithm prints before `_objective` for each loss.
OBJECTIVE_NAMES = {
    "logistic": "binary_classification_cross_entropy",
    "hinge_loss": "binary_classification_hinge_loss",
    "softmax_loss": "multiclass_cross_entropy",
    "squared_loss": "square_loss",
    "absolute_loss": "absolute_loss",
    "huber_loss": "huber_loss",
    "eps_insensitive_squared_loss": "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss": "eps_insensitive_absolute_loss",
}


def objective_loss(
    loss: str, labels: Array, scores: Array, *, delta: float, epsilon: float, margin: float
) -> float:
    """Mean loss of `scores` (probabilities, margins or predictions, per the loss) against `labels`."""
    if loss == "logistic":
        p = np.clip(scores, _EPSILON, 1 - _EPSILON)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    if loss == "hinge_loss":
        signs = np.where(labels > 0, 1.0, -1.0)
        return float(np.mean(np.maximum(0.0, margin - signs * scores)))
    if loss == "softmax_loss":
        picked = scores[np.arange(len(labels)), labels.astype(np.int64)]
        return float(-np.mean(np.log(np.clip(picked, _EPSILON, 1.0))))
    residual = np.abs(scores - labels)
    if loss == "absolute_loss":
        return float(np.mean(residual))
    if loss == "huber_loss":
        quadratic = np.minimum(residual, delta)
        return float(np.mean(0.5 * quadratic**2 + delta * (residual - quadratic)))
    if loss == "eps_insensitive_squared_loss":
        return float(np.mean(np.maximum(0.0, residual - epsilon) ** 2))
    if loss == "eps_insensitive_absolute_loss":
        return float(np.mean(np.maximum(0.0, residual - epsilon)))
    return float(np.mean(residual**2))


def binary_metrics(labels: Array, predicted: Array, beta: float) -> dict[str, float]:
    return {
        "binary_classification_accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        f"binary_f_{beta:.3f}": float(skm.fbeta_score(labels, predicted, beta=beta, zero_division=0)),
    }


def multiclass_metrics(labels: Array, scores: Array, beta: float, top_k: int) -> dict[str, float]:
    predicted = scores.argmax(axis=1)
    k = min(top_k, scores.shape[1])
    top = np.argsort(-scores, axis=1)[:, :k]
    in_top = (top == labels.astype(np.int64)[:, None]).any(axis=1)
    classes = np.arange(scores.shape[1])
    return {
        "multiclass_accuracy": float(skm.accuracy_score(labels, predicted)),
        f"multiclass_top_k_accuracy_{k}": float(in_top.mean()),
        "macro_precision": float(
            skm.precision_score(labels, predicted, labels=classes, average="macro", zero_division=0)
        ),
        "macro_recall": float(
            skm.recall_score(labels, predicted, labels=classes, average="macro", zero_division=0)
        ),
        f"macro_f_{beta:.3f}": float(
            skm.fbeta_score(labels, predicted, beta=beta, labels=classes, average="macro", zero_division=0)
        ),
    }


def regression_metrics(labels: Array, predictions: Array) -> dict[str, float]:
    mse = float(np.mean((predictions - labels) ** 2))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "absolute_loss": float(np.mean(np.abs(predictions - labels))),
    }


def choose_threshold(
    criterion: str,
    labels: Array,
    scores: Array,
    default: float,
    *,
    beta: float,
    recall: float,
    precision: float,
) -> float:
    """The cut-off on `scores` that best meets `binary_classifier_model_selection_criteria`."""
    if criterion in ("cross_entropy_loss", "loss_function") or len(np.unique(labels)) < 2:
        return default
    if criterion == "accuracy":
        fpr, tpr, thresholds = skm.roc_curve(labels, scores)
        positives = float(labels.sum())
        negatives = float(len(labels) - positives)
        accuracy = (tpr * positives + (1 - fpr) * negatives) / len(labels)
        finite = np.isfinite(thresholds)
        return float(thresholds[finite][np.argmax(accuracy[finite])]) if finite.any() else default
    precisions, recalls, thresholds = skm.precision_recall_curve(labels, scores)
    precisions, recalls = precisions[:-1], recalls[:-1]  # the last point has no threshold
    if criterion == "f_beta":
        denominator = beta**2 * precisions + recalls
        f = np.where(
            denominator > 0, (1 + beta**2) * precisions * recalls / np.maximum(denominator, _EPSILON), 0
        )
        return float(thresholds[np.argmax(f)])
    if criterion == "precision_at_target_recall":
        ok = recalls >= recall
        return float(thresholds[ok][np.argmax(precisions[ok])]) if ok.any() else default
    ok = precisions >= precision  # recall_at_target_precision
    return float(thresholds[ok][np.argmax(recalls[ok])]) if ok.any() else default
