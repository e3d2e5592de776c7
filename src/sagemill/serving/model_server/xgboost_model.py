"""The built-in XGBoost handler: the sagemaker-xgboost-container inference contract over inplace_predict."""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from sagemill.serving.model_server import decoders, encoders
from sagemill.serving.model_server.errors import bad_request, unsupported_media_type
from sagemill.serving.model_server.handler import builtin_execution_parameters
from sagemill.serving.model_server.media import (
    CSV,
    JSON,
    JSONLINES,
    LIBSVM,
    RECORDIO,
    X_LIBSVM,
    essence,
    negotiate,
)

MODEL_NAME = "xgboost-model"
ACCEPTS = (CSV, JSON, JSONLINES)

# Selectable inference outputs (SAGEMAKER_INFERENCE_OUTPUT) and the objectives each is valid for, from the
# container's serve_utils.VALID_OBJECTIVES; a key invalid for the objective is answered as NaN.
_REGRESSION = (
    "reg:squarederror",
    "reg:linear",
    "reg:logistic",
    "reg:gamma",
    "reg:absoluteerror",
    "reg:tweedie",
)
_CLASSIFIER_KEYS = ("predicted_label", "labels", "raw_score", "raw_scores")
VALID_KEYS: dict[str, tuple[str, ...]] = {
    **{objective: ("predicted_score",) for objective in _REGRESSION},
    "binary:logistic": (*_CLASSIFIER_KEYS, "probability", "probabilities"),
    "binary:logitraw": _CLASSIFIER_KEYS,
    "binary:hinge": _CLASSIFIER_KEYS,
    "multi:softmax": _CLASSIFIER_KEYS,
    "multi:softprob": (*_CLASSIFIER_KEYS, "probability", "probabilities"),
}
ALL_KEYS = (
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
    "raw_score",
    "raw_scores",
    "predicted_score",
)


class XGBoostHandler:
    inline = True

    def __init__(self, model_dir: Path) -> None:
        import xgboost  # imported here: the CLI pins OpenMP threads before the first import

        paths = _model_files(model_dir)
        self.boosters = [_load_booster(xgboost, path) for path in paths]
        first = self.boosters[0]
        config = json.loads(first.save_config())
        learner = config["learner"]
        self.objective: str = learner["objective"]["name"]
        self.num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
        self.num_features = first.num_features()
        self.iteration_ranges = [_iteration_range(b) for b in self.boosters]
        self.selected = _selected_keys()
        if self.selected is not None and self.objective not in VALID_KEYS:
            raise ValueError(
                f"Objective `{self.objective}` unsupported for selectable inference predictions."
            )
        self.default_accept = essence(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or CSV)
        # Warm up: the first predict allocates the predictor's caches; do it before /ping says ready.
        self._predict(np.zeros((1, self.num_features), dtype=np.float32))

    def describe(self) -> str:
        return (
            f"xgboost model(s) {len(self.boosters)}, objective {self.objective}, "
            f"{self.num_features} features, threads {_threads()}"
        )

    def execution_parameters(self) -> dict[str, Any]:
        return builtin_execution_parameters()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        kind = essence(content_type)
        # Accept is checked before the work, so a 406 costs nothing.
        accept_type = negotiate(accept, ACCEPTS, self.default_accept)
        if kind == CSV:
            rows: Any = self._checked(decoders.csv_rows(body), "csv")
        elif kind in (LIBSVM, X_LIBSVM):
            rows = self._libsvm(body)
        elif kind == RECORDIO:
            rows = self._checked(decoders.recordio_rows(body), "recordio-protobuf")
        else:
            raise unsupported_media_type(content_type)
        try:
            predictions = self._predict(rows)
        except Exception as error:  # xgboost raises XGBoostError (a ValueError) for unusable input
            raise bad_request(f"Unable to evaluate payload provided: {error}") from None
        if self.selected is not None:
            return encoders.records(self._selected(predictions), accept_type, self.selected), accept_type
        return encoders.scores(predictions.tolist(), accept_type), accept_type

    def _checked(self, rows: Any, name: str) -> Any:
        """The container accepts data with the model's feature count, or one fewer (a libsvm-trained model's
        unused column 0); that one is padded with a missing value for inplace_predict."""
        columns = rows.shape[1]
        if columns == self.num_features:
            return rows
        if columns + 1 == self.num_features:
            return np.hstack([rows, np.full((rows.shape[0], 1), np.nan, dtype=rows.dtype)])
        raise bad_request(
            f"Unable to evaluate payload provided: Feature size of {name} inference data {columns} is not "
            f"consistent with feature size of trained model {self.num_features}."
        )

    def _libsvm(self, body: bytes) -> Any:
        sparse = importlib.import_module("scipy.sparse")
        data, indices, indptr, width = decoders.libsvm_rows(body)
        if width > self.num_features + 1:
            raise bad_request(
                f"Unable to evaluate payload provided: Feature size of libsvm inference data {width} is "
                f"larger than feature size of trained model {self.num_features}."
            )
        keep = indices < self.num_features  # the one extra index the container tolerates carries no split
        if not keep.all():
            counts = np.add.reduceat(keep, indptr[:-1]) if len(indices) else np.zeros(0)
            data, indices = data[keep], indices[keep]
            indptr = np.concatenate([[0], np.cumsum(counts)])
        return sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, self.num_features))

    def _predict(self, rows: Any) -> Any:
        if len(self.boosters) == 1:
            return self.boosters[0].inplace_predict(rows, iteration_range=self.iteration_ranges[0])
        outputs = [
            b.inplace_predict(rows, iteration_range=r)
            for b, r in zip(self.boosters, self.iteration_ranges, strict=True)
        ]
        if self.objective in ("multi:softmax", "binary:hinge"):
            # k-fold ensemble: majority vote for class outputs, mean otherwise (SAGEMAKER_INFERENCE_ENSEMBLE).
            stacked = np.stack(outputs).astype(np.int64)
            return np.asarray([np.bincount(col).argmax() for col in stacked.T], dtype=np.float32)
        return np.mean(outputs, axis=0)

    def _selected(self, predictions: Any) -> list[dict[str, Any]]:
        assert self.selected is not None
        valid = VALID_KEYS[self.objective]
        out = []
        for raw in predictions.tolist():
            out.append(
                {
                    key: _select(key, self.objective, raw, self.num_class) if key in valid else math.nan
                    for key in self.selected
                }
            )
        return out


def _select(key: str, objective: str, raw: Any, num_class: int) -> Any:
    """The container's serve_utils._get_<key> for one row's raw prediction."""
    softprob = objective == "multi:softprob"
    if key == "predicted_label":
        if softprob:
            return int(np.argmax(raw))
        if objective == "binary:logistic":
            return int(raw > 0.5)
        if objective == "binary:logitraw":
            return int(raw > 0)
        return raw
    if key == "labels":
        return [0, 1] if objective.startswith("binary:") else list(range(num_class))
    if key == "probability":
        return max(raw) if softprob else raw
    if key == "probabilities":
        return raw if softprob else [1 - raw, raw]
    if key == "raw_score":
        return max(raw) if softprob else raw
    if key == "raw_scores":
        return raw if softprob else ([1 - raw, raw] if objective.startswith("binary:") else [raw])
    return raw  # predicted_score


def _selected_keys() -> tuple[str, ...] | None:
    value = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT", "").strip()
    if not value:
        return None
    keys = tuple(k.strip().lower() for k in value.split(",") if k.strip())
    unknown = [k for k in keys if k not in ALL_KEYS]
    if unknown:
        raise ValueError(
            f"SAGEMAKER_INFERENCE_OUTPUT: unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(ALL_KEYS)}"
        )
    return keys


def _model_files(model_dir: Path) -> list[Path]:
    """`xgboost-model`, else the k-fold models `xgboost-model-<fold>` (averaged), else the one other file."""
    single = model_dir / MODEL_NAME
    if single.is_file():
        return [single]
    folds = sorted(p for p in model_dir.glob(f"{MODEL_NAME}-*") if p.is_file())
    if folds:
        return folds
    others = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    if len(others) == 1:
        return others
    raise FileNotFoundError(
        f"no XGBoost model in the model directory: expected {MODEL_NAME} (or {MODEL_NAME}-<fold>), "
        f"found {', '.join(p.name for p in others) or 'no files'}"
    )


def _load_booster(xgboost: Any, path: Path) -> Any:
    raw = path.read_bytes()
    if raw[:1] == b"\x80":
        # A pickle: the container unpickles it, but unpickling runs arbitrary code from the artifact.
        raise ValueError(
            f"{path.name} is a pickled model; Sagemill loads only XGBoost's own formats "
            "(Booster.save_model: UBJSON, JSON or the legacy binary)"
        )
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))  # from memory: the format is sniffed, no file-suffix guess
    except Exception as error:
        raise ValueError(f"{path.name} is not an XGBoost model: {str(error).splitlines()[0][:300]}") from None
    booster.set_param({"nthread": _threads()})
    return booster


def _iteration_range(booster: Any) -> tuple[int, int]:
    """Predictions respect early stopping's best_iteration, as booster.predict does."""
    best = booster.attr("best_iteration")
    return (0, int(best) + 1) if best is not None else (0, 0)


def _threads() -> int:
    """OMP_NUM_THREADS (the CLI defaults it to 1); xgboost would otherwise use every core."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1
