"""`model_algo-1`, the model file of k-means and linear-learner, in Sagemill's format, with its predictors.

AWS writes MXNet parameters under that name; Sagemill keeps the name (model.tar.gz holds `model_algo-1`) and
stores a zip archive instead: `model.json` (format, algorithm and every number a predictor needs) plus plain
`.npy` arrays. Loading needs only numpy and never unpickles anything, so a model.tar.gz uploaded by a user
cannot run code in the server that hosts it, and it survives scikit-learn upgrades.

- k-means: `centroids.npy` (k x feature_dim). predict → (closest_cluster, distance_to_cluster).
- linear-learner: `weights.npy` (feature_dim x outputs), `bias.npy` (outputs), `feature_mean.npy` and
  `feature_scale.npy` (the training-time standardisation), and in model.json `predictor_type`, `link`
  (`logistic`, `ovr_logistic`, `margin` or `identity`), `threshold` (binary), `label_mean`/`label_scale`
  (regressor).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_FILE_NAME = "model_algo-1"
FORMAT_VERSION = 1

Array = npt.NDArray[np.float64]


def save(path: Path, meta: dict[str, Any], arrays: dict[str, Array]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.json", json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(array, dtype=np.float64), allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    temporary.replace(path)


def save_linear(path: Path, model: LinearModel, **meta: Any) -> None:
    facts = {
        "algorithm": "linear-learner",
        "predictor_type": model.predictor_type,
        "link": model.link,
        "threshold": model.threshold,
        "label_mean": model.label_mean,
        "label_scale": model.label_scale,
    }
    arrays = {
        "weights": model.weights,
        "bias": model.bias,
        "feature_mean": model.feature_mean,
        "feature_scale": model.feature_scale,
    }
    save(path, {**facts, **meta}, arrays)


def load(path: Path) -> tuple[dict[str, Any], dict[str, Array]]:
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("model.json"))
        arrays = {
            name[: -len(".npy")]: np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            for name in archive.namelist()
            if name.endswith(".npy")
        }
    return meta, arrays


@dataclass(frozen=True, slots=True)
class KMeansModel:
    centroids: Array

    def predict(self, features: Array) -> tuple[Array, Array]:
        """Per row: (index of the closest centroid, Euclidean distance to it)."""
        distances = np.sqrt(((features[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2))
        closest = distances.argmin(axis=1)
        return closest.astype(np.float64), distances[np.arange(len(features)), closest]


@dataclass(frozen=True, slots=True)
class LinearModel:
    predictor_type: str
    link: str
    weights: Array
    bias: Array
    feature_mean: Array
    feature_scale: Array
    threshold: float = 0.5
    label_mean: float = 0.0
    label_scale: float = 1.0

    def scores(self, features: Array) -> Array:
        """Binary: P(label=1) (the margin for hinge loss); multiclass: per-class scores; regressor: value."""
        margins = ((features - self.feature_mean) / self.feature_scale) @ self.weights + self.bias
        if self.link == "logistic":
            return _sigmoid(margins[:, 0])
        if self.link == "ovr_logistic":
            # scikit-learn's one-vs-rest probabilities: sigmoids normalised to sum to one.
            probabilities = _sigmoid(margins)
            totals = probabilities.sum(axis=1, keepdims=True)
            uniform = np.full_like(probabilities, 1.0 / probabilities.shape[1])
            return np.where(totals > 0, probabilities / np.where(totals > 0, totals, 1), uniform)
        if self.link == "margin":
            return margins[:, 0]
        return margins[:, 0] * self.label_scale + self.label_mean

    def predicted_labels(self, scores: Array) -> Array:
        if self.predictor_type == "multiclass_classifier":
            return np.asarray(scores.argmax(axis=1), dtype=np.float64)
        return (scores >= self.threshold).astype(np.float64)


def read(path: Path) -> KMeansModel | LinearModel:
    meta, arrays = load(path)
    if meta.get("algorithm") == "kmeans":
        return KMeansModel(arrays["centroids"])
    if meta.get("algorithm") == "linear-learner":
        return LinearModel(
            predictor_type=meta["predictor_type"],
            link=meta["link"],
            weights=arrays["weights"],
            bias=arrays["bias"],
            feature_mean=arrays["feature_mean"],
            feature_scale=arrays["feature_scale"],
            threshold=float(meta.get("threshold", 0.5)),
            label_mean=float(meta.get("label_mean", 0.0)),
            label_scale=float(meta.get("label_scale", 1.0)),
        )
    raise ValueError(f"{path.name} is not a Sagemill k-means or linear-learner model")


def _sigmoid(values: Array) -> Array:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)), dtype=np.float64)
