"""k-means and linear-learner runners, their `model_algo-1` files, metric lines, and RecordIO-protobuf."""

from __future__ import annotations

import io
import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from algorithm_harness import JobDir, csv_text, escaped_lines, job_for, metric_values

from sagemill.executors import container
from sagemill.executors.algorithms import kmeans, linear_learner, model_file, recordio
from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.model_file import KMeansModel, LinearModel
from sagemill.executors.images import (
    KMEANS_METRIC_DEFINITIONS,
    LINEAR_LEARNER_METRIC_DEFINITIONS,
    resolve_training_image,
    runner_argv,
)

RNG = np.random.default_rng(11)
CENTERS = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 6.0]])
BLOBS = np.vstack([c + RNG.normal(0, 0.4, (50, 2)) for c in CENTERS])
X = RNG.normal(size=(300, 4))
WEIGHTS = np.array([1.5, -2.0, 0.5, 0.0])
BINARY = (X @ WEIGHTS + 0.2 > 0).astype(float)
MULTICLASS = np.digitize(X[:, 0] - X[:, 1], [-0.7, 0.7]).astype(float)
REGRESSION = X @ WEIGHTS * 10 + 3


def _recordio(features: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    buffer = io.BytesIO()
    payloads = [
        recordio.encode_dense(row, None if labels is None else float(labels[i]))
        for i, row in enumerate(features)
    ]
    recordio.write_payloads(buffer, payloads)
    return buffer.getvalue()


def _run(module: object, job: JobDir, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    module.main(job_for(job))  # type: ignore[attr-defined]
    return escaped_lines(capsys.readouterr().out)


# --- k-means -------------------------------------------------------------------------------------


def test_kmeans_subprocess_on_sdk_style_recordio(tmp_path: Path) -> None:
    # What KMeans.fit(record_set(...)) sends: protobuf records, no ContentType, force_dense=True.
    hps = {"k": "3", "feature_dim": "2", "epochs": "2", "mini_batch_size": "40", "force_dense": "True"}
    job = JobDir(tmp_path, hyperparameters=hps)
    job.add_file("train", "matrix_0.pbr", _recordio(BLOBS))
    job.add_file("test", "test.csv", csv_text(BLOBS[::5].tolist()))
    job.content_types["test"] = "text/csv"
    result = job.run("sagemill.executors.algorithms.kmeans")
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = result.metric_values(KMEANS_METRIC_DEFINITIONS)
    assert set(metrics) == {"test:msd", "train:msd", "train:progress"}
    assert metrics["test:msd"][0] < 1.0
    assert metrics["train:progress"] == [50.0, 100.0]
    model = model_file.read(job.model_dir / "model_algo-1")
    assert isinstance(model, KMeansModel)
    nearest = np.sqrt(((CENTERS[:, None, :] - model.centroids[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    assert nearest.max() < 0.5
    clusters, distances = model.predict(CENTERS)
    assert len(set(clusters.tolist())) == 3
    assert distances.max() < 0.5


def test_kmeans_eval_metrics_and_sdk_list_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hps = {"k": "3", "feature_dim": "2", "eval_metrics": "['msd', 'ssd']", "init_method": "kmeans++"}
    hps |= {"extra_center_factor": "1", "_kvstore": "dist_sync", "_tuning_objective_metric": "test:ssd"}
    job = JobDir(tmp_path, hyperparameters=hps)
    job.add_file("train", "train.csv", csv_text(BLOBS.tolist()))
    job.add_file("test", "test.csv", csv_text(BLOBS.tolist()))
    job.content_types = {"train": "text/csv", "test": "text/csv"}
    metrics = metric_values(_run(kmeans, job, capsys), KMEANS_METRIC_DEFINITIONS)
    assert metrics["test:ssd"][0] == pytest.approx(metrics["test:msd"][0] * len(BLOBS), rel=1e-4)


@pytest.mark.parametrize(
    ("hps", "message"),
    [
        ({"feature_dim": "2"}, "Missing required hyperparameter: k"),
        ({"k": "3"}, "Missing required hyperparameter: feature_dim"),
        ({"k": "3", "feature_dim": "2", "foo": "1"}, "Extraneous hyperparameter found: foo"),
        ({"k": "0", "feature_dim": "2"}, "Hyperparameter k: 0 is not in [1, +inf)"),
        ({"k": "3", "feature_dim": "2", "init_method": "best"}, "Hyperparameter init_method: best is not in"),
        (
            {"k": "3", "feature_dim": "2", "eval_metrics": '["mse"]'},
            "Hyperparameter eval_metrics: value ['mse']",
        ),
        (
            {"k": "3", "feature_dim": "3"},
            "The data has 2 features per record but the hyperparameter feature_dim is 3",
        ),
        ({"k": "500", "feature_dim": "2"}, "k=500 is larger than the number of training records (150)"),
    ],
)
def test_kmeans_errors(tmp_path: Path, hps: dict[str, str], message: str) -> None:
    job = JobDir(tmp_path, hyperparameters=hps)
    job.add_file("train", "train.csv", csv_text(BLOBS.tolist()))
    job.content_types["train"] = "text/csv"
    with pytest.raises(UserError) as caught:
        kmeans.main(job_for(job))
    assert message in caught.value.message


def test_kmeans_failure_file_for_an_empty_channel(tmp_path: Path) -> None:
    job = JobDir(tmp_path, hyperparameters={"k": "2", "feature_dim": "2"})
    job.add_channel("train", "text/csv")
    result = job.run("sagemill.executors.algorithms.kmeans")
    assert result.returncode == 1
    assert result.failure is not None
    assert result.failure.startswith("ClientError: No data in training channel path ")


# --- linear-learner ------------------------------------------------------------------------------


def _ll_job(tmp_path: Path, labels: np.ndarray, hps: dict[str, str], csv: bool = True) -> JobDir:
    job = JobDir(tmp_path, hyperparameters=hps)
    rows = np.c_[labels, X]
    for channel, part in (("train", rows[:200]), ("validation", rows[200:250]), ("test", rows[250:])):
        if csv:
            job.add_file(channel, "part.csv", csv_text(part.tolist()))
            job.content_types[channel] = "text/csv"
        else:
            job.add_file(channel, "part.pbr", _recordio(part[:, 1:], part[:, 0]))
    return job


def test_linear_learner_binary_subprocess(tmp_path: Path) -> None:
    hps = {"predictor_type": "binary_classifier", "feature_dim": "4", "epochs": "6", "mini_batch_size": "32"}
    job = _ll_job(tmp_path, BINARY, hps, csv=False)
    result = job.run("sagemill.executors.algorithms.linear_learner")
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = result.metric_values(LINEAR_LEARNER_METRIC_DEFINITIONS)
    assert metrics["test:binary_classification_accuracy"][0] > 0.85
    assert {"test:objective_loss", "test:precision", "test:recall", "test:binary_f_beta"} <= set(metrics)
    assert {"validation:objective_loss", "validation:objective_loss:final", "train:objective_loss"} <= set(
        metrics
    )
    assert len(metrics["train:objective_loss"]) <= 6
    model = model_file.read(job.model_dir / "model_algo-1")
    assert isinstance(model, LinearModel)
    assert model.predictor_type == "binary_classifier" and model.link == "logistic"
    scores = model.scores(X[250:])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (model.predicted_labels(scores) == BINARY[250:]).mean() > 0.85


def test_linear_learner_multiclass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hps = {
        "predictor_type": "multiclass_classifier",
        "num_classes": "3",
        "feature_dim": "auto",
        "epochs": "5",
    }
    hps |= {"balance_multiclass_weights": "true", "accuracy_top_k": "2", "wd": "0.001", "l1": "0.0001"}
    metrics = metric_values(
        _run(linear_learner, _ll_job(tmp_path, MULTICLASS, hps), capsys), LINEAR_LEARNER_METRIC_DEFINITIONS
    )
    assert metrics["test:multiclass_accuracy"][0] > 0.7
    assert metrics["test:multiclass_top_k_accuracy"][0] >= metrics["test:multiclass_accuracy"][0]
    assert {"test:macro_precision", "test:macro_recall", "test:macro_f_beta"} <= set(metrics)
    model = model_file.read(tmp_path / "model" / "model_algo-1")
    assert isinstance(model, LinearModel)
    scores = model.scores(X[:10])
    assert scores.shape == (10, 3) and np.allclose(scores.sum(axis=1), 1.0)


def test_linear_learner_regressor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hps = {
        "predictor_type": "regressor",
        "feature_dim": "4",
        "epochs": "8",
        "learning_rate": "0.05",
        "wd": "0",
    }
    metrics = metric_values(
        _run(linear_learner, _ll_job(tmp_path, REGRESSION, hps), capsys), LINEAR_LEARNER_METRIC_DEFINITIONS
    )
    assert metrics["test:rmse"][0] < 1.0  # the label spans about ±60
    assert metrics["test:mse"][0] == pytest.approx(metrics["test:rmse"][0] ** 2, rel=1e-3)
    model = model_file.read(tmp_path / "model" / "model_algo-1")
    assert isinstance(model, LinearModel)
    assert np.allclose(model.scores(X[250:]), REGRESSION[250:], atol=2.0)


def test_linear_learner_threshold_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hps = {"predictor_type": "binary_classifier", "feature_dim": "4", "epochs": "3", "loss": "hinge_loss"}
    hps |= {
        "binary_classifier_model_selection_criteria": "precision_at_target_recall",
        "target_recall": "0.9",
    }
    hps |= {"positive_example_weight_mult": "balanced"}
    metrics = metric_values(
        _run(linear_learner, _ll_job(tmp_path, BINARY, hps), capsys), LINEAR_LEARNER_METRIC_DEFINITIONS
    )
    assert metrics["validation:recall"][0] >= 0.9
    model = model_file.read(tmp_path / "model" / "model_algo-1")
    assert isinstance(model, LinearModel) and model.link == "margin"


@pytest.mark.parametrize(
    ("hps", "labels", "message"),
    [
        ({"feature_dim": "4"}, BINARY, "Missing required hyperparameter: predictor_type"),
        (
            {"predictor_type": "classifier", "feature_dim": "4"},
            BINARY,
            "Hyperparameter predictor_type: classifier",
        ),
        (
            {"predictor_type": "multiclass_classifier", "feature_dim": "4"},
            MULTICLASS,
            "num_classes is required",
        ),
        (
            {"predictor_type": "binary_classifier", "feature_dim": "4", "loss": "squared_loss"},
            BINARY,
            "cannot be used",
        ),
        (
            {"predictor_type": "regressor", "feature_dim": "4", "loss": "quantile_loss"},
            REGRESSION,
            "not supported",
        ),
        ({"predictor_type": "binary_classifier", "feature_dim": "4"}, MULTICLASS, "must be 0 or 1; found 2"),
        (
            {"predictor_type": "binary_classifier", "feature_dim": "5"},
            BINARY,
            "(the first CSV column is the label)",
        ),
        (
            {"predictor_type": "regressor", "feature_dim": "4", "epochs": "0"},
            REGRESSION,
            "Hyperparameter epochs: 0",
        ),
        (
            {"predictor_type": "regressor", "feature_dim": "4", "learning_rate": "fast"},
            REGRESSION,
            "could not parse",
        ),
        (
            {"predictor_type": "multiclass_classifier", "feature_dim": "4", "num_classes": "3"},
            MULTICLASS + 1,
            "must be an integer in [0, 2] (num_classes=3); found 3",
        ),
    ],
)
def test_linear_learner_errors(tmp_path: Path, hps: dict[str, str], labels: np.ndarray, message: str) -> None:
    job = _ll_job(tmp_path, labels, hps)
    with pytest.raises(UserError) as caught:
        linear_learner.main(job_for(job))
    assert message in caught.value.message


def test_unparseable_csv_and_bad_recordio(tmp_path: Path) -> None:
    job = JobDir(tmp_path / "csv", hyperparameters={"predictor_type": "regressor", "feature_dim": "2"})
    job.add_file("train", "t.csv", "y,a,b\n1,2,3\n")
    job.content_types["train"] = "text/csv"
    with pytest.raises(UserError, match="no header row and the label in the first column"):
        linear_learner.main(job_for(job))
    job = JobDir(tmp_path / "pb", hyperparameters={"predictor_type": "regressor", "feature_dim": "2"})
    job.add_file("train", "t.pbr", b"this is not recordio")
    with pytest.raises(
        UserError, match=re.escape("Unable to read t.pbr as application/x-recordio-protobuf: bad magic")
    ):
        linear_learner.main(job_for(job))


# --- RecordIO-protobuf ---------------------------------------------------------------------------


def test_recordio_round_trip_and_padding() -> None:
    features = np.array([[1.5, -2.0, 3.25], [0.0, 1.0, 2.0]])
    data = _recordio(features, np.array([1.0, 0.0]))
    assert len(data) % 4 == 0
    records = list(recordio.read_records(io.BytesIO(data)))
    assert [r.features["values"].dense().tolist() for r in records] == features.tolist()
    assert [r.label["values"].values.tolist() for r in records] == [[1.0], [0.0]]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_recordio_sparse_float64_and_multipart_records() -> None:
    keys = b"".join(_varint(k) for k in (1, 4))
    tensor = _len_field(1, struct.pack("<2d", 2.5, -1.0)) + _len_field(2, keys) + _len_field(3, _varint(6))
    value = _len_field(3, tensor)  # Value.float64_tensor
    record = _len_field(1, _len_field(1, b"values") + _len_field(2, value))
    # dmlc splits a payload around an embedded magic number: parts flagged 1 (start) and 3 (end).
    magic = struct.pack("<I", recordio.MAGIC)
    head, tail = record[:5], record[5:]
    stream = io.BytesIO()
    for flag, part in ((1, head), (3, tail)):
        stream.write(
            struct.pack("<II", recordio.MAGIC, (flag << 29) | len(part)) + part + b"\0" * (-len(part) % 4)
        )
    whole = head + magic + tail
    parsed = list(recordio.read_payloads(io.BytesIO(stream.getvalue())))
    assert parsed == [whole]
    decoded = recordio.decode_record(record)
    assert decoded.features["values"].dense().tolist() == [0.0, 2.5, 0.0, 0.0, -1.0, 0.0]
    with pytest.raises(recordio.RecordIOError, match="truncated"):
        list(recordio.read_payloads(io.BytesIO(stream.getvalue()[:-8])))


# --- the platform's own job environment ----------------------------------------------------------


def test_runner_under_the_platforms_training_env(tmp_path: Path) -> None:
    """The runner needs nothing beyond what `container.training_env` gives a worker."""
    layout = container.TrainingLayout(tmp_path / "job")
    channels = [container.ChannelConfig("train", content_type="text/csv")]
    layout.create([c.name for c in channels])
    hps = {"k": "3", "feature_dim": "2"}
    container.write_hyperparameters(layout, hps)
    container.write_input_data_config(layout, channels)
    container.write_resource_config(layout, "ml.m5.large")
    (layout.channel_dir("train") / "blobs.csv").write_text(csv_text(BLOBS.tolist()))
    container.prepare_home(tmp_path / "job")
    env = container.training_env(
        layout=layout,
        job_name="kmeans-job",
        hyperparameters=hps,
        channels=channels,
        instance_type="ml.m5.large",
        region="us-east-1",
        num_cpus=2,
        home=tmp_path / "job",
    )
    argv = runner_argv(resolve_training_image("382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"), hps)
    done = subprocess.run(
        argv, env=env, cwd=layout.root, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (layout.model_dir / "model_algo-1").is_file()
