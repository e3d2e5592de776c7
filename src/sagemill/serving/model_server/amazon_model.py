"""The k-means and linear-learner handler: Sagemill's `model_algo-1` served with Amazon's output keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sagemill.executors.algorithms import model_file
from sagemill.serving.model_server import decoders, encoders
from sagemill.serving.model_server.errors import bad_request, unsupported_media_type
from sagemill.serving.model_server.handler import builtin_execution_parameters
from sagemill.serving.model_server.media import (
    CSV,
    JSON,
    JSONLINES,
    JSONLINES_ALIASES,
    RECORDIO,
    essence,
    negotiate,
)

ACCEPTS = (JSON, JSONLINES, CSV)


class AmazonHandler:
    inline = True

    def __init__(self, model_dir: Path, kind: str) -> None:
        path = model_dir / model_file.MODEL_FILE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {model_file.MODEL_FILE_NAME} in the model directory")
        self.model = model_file.read(path)
        algorithm = "kmeans" if isinstance(self.model, model_file.KMeansModel) else "linear-learner"
        if algorithm != kind:
            raise ValueError(f"{model_file.MODEL_FILE_NAME} holds a {algorithm} model, not {kind}")
        if isinstance(self.model, model_file.KMeansModel):
            self.feature_dim = int(self.model.centroids.shape[1])
            self.keys: tuple[str, ...] = ("closest_cluster", "distance_to_cluster")
        else:
            self.feature_dim = int(self.model.weights.shape[0])
            regressor = self.model.predictor_type == "regressor"
            self.keys = ("score",) if regressor else ("score", "predicted_label")
        # The Amazon algorithms answer JSON unless told otherwise.
        self.default_accept = essence(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON)

    def describe(self) -> str:
        return f"{type(self.model).__name__} with feature_dim {self.feature_dim}"

    def execution_parameters(self) -> dict[str, Any]:
        return builtin_execution_parameters()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        accept_type = negotiate(accept, ACCEPTS, self.default_accept)
        kind = essence(content_type)
        if kind == CSV:
            rows = decoders.csv_rows(body, np.float64)
        elif kind == JSON:
            rows = decoders.instances_rows(body)
        elif kind in JSONLINES_ALIASES:
            rows = decoders.instances_rows(body, jsonlines=True)
        elif kind == RECORDIO:
            rows = decoders.recordio_rows(body, np.float64)
        else:
            raise unsupported_media_type(content_type)
        if rows.shape[1] != self.feature_dim:
            raise bad_request(
                f"Invalid input: each record has {rows.shape[1]} features but the model expects "
                f"feature_dim={self.feature_dim}."
            )
        return encoders.records(self._predictions(rows), accept_type, self.keys), accept_type

    def _predictions(self, rows: Any) -> list[dict[str, Any]]:
        if isinstance(self.model, model_file.KMeansModel):
            closest, distance = self.model.predict(rows)
            return [
                {"closest_cluster": c, "distance_to_cluster": d}
                for c, d in zip(closest.tolist(), distance.tolist(), strict=True)
            ]
        scores = self.model.scores(rows)
        if self.keys == ("score",):
            return [{"score": s} for s in scores.tolist()]
        labels = self.model.predicted_labels(scores)
        return [
            {"score": s, "predicted_label": int(label)}
            for s, label in zip(scores.tolist(), labels.tolist(), strict=True)
        ]
