"""k-means and linear-learner served from `model_algo-1`, with the Amazon algorithms' output keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from test_model_server_support import run_to_exit, running

from sagemill.executors.algorithms import model_file


def test_kmeans_csv_and_json_in_every_output(tmp_path: Path) -> None:
    centroids = np.asarray([[0.0, 0.0], [10.0, 10.0]])
    model_file.save(tmp_path / model_file.MODEL_FILE_NAME, {"algorithm": "kmeans"}, {"centroids": centroids})
    with running(tmp_path, "kmeans") as server:
        response = server.invoke(b"1,0\n9,10", "text/csv")
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {
            "predictions": [
                {"closest_cluster": 0.0, "distance_to_cluster": 1.0},
                {"closest_cluster": 1.0, "distance_to_cluster": 1.0},
            ]
        }
        body = json.dumps({"instances": [{"features": [1, 0]}, {"data": {"features": {"values": [9, 10]}}}]})
        assert server.invoke(body.encode(), "application/json").json() == response.json()
        lines = server.invoke(
            b'{"features": [1, 0]}\n', "application/jsonlines", "application/jsonlines"
        ).text
        assert json.loads(lines.splitlines()[0]) == {"closest_cluster": 0.0, "distance_to_cluster": 1.0}
        assert server.invoke(b"1,0\n9,10", "text/csv", "text/csv").text == "0.0,1.0\n1.0,1.0\n"
        response = server.invoke(b"1,2,3", "text/csv")
        assert response.status_code == 400 and "feature_dim=2" in response.text
        assert server.invoke(b"1,0", "text/plain").status_code == 415


def test_linear_learner_binary(tmp_path: Path) -> None:
    model = model_file.LinearModel(
        predictor_type="binary_classifier",
        link="logistic",
        weights=np.asarray([[2.0], [0.0]]),
        bias=np.asarray([0.0]),
        feature_mean=np.zeros(2),
        feature_scale=np.ones(2),
    )
    model_file.save_linear(tmp_path / model_file.MODEL_FILE_NAME, model)
    with running(tmp_path, "linear-learner") as server:
        predictions = server.invoke(b"1,5\n-1,5", "text/csv").json()["predictions"]
        assert [p["predicted_label"] for p in predictions] == [1, 0]
        assert abs(predictions[0]["score"] - 1 / (1 + np.exp(-2.0))) < 1e-12
        assert server.invoke(b"1,5", "text/csv", "text/csv").text.startswith("0.88")


def test_wrong_algorithm_fails_start_up(tmp_path: Path) -> None:
    model_file.save(
        tmp_path / model_file.MODEL_FILE_NAME, {"algorithm": "kmeans"}, {"centroids": np.zeros((1, 2))}
    )
    code, _, err = run_to_exit(tmp_path, "linear-learner")
    assert code == 1 and "holds a kmeans model, not linear-learner" in err
