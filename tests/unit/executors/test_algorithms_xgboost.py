"""The built-in XGBoost runner: real xgboost training, the container's logs, model file and error messages."""

from __future__ import annotations

import importlib.util
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from algorithm_harness import (
    JobDir,
    csv_text,
    escaped_lines,
    job_for,
    metric_values,
    terminate,
    wait_for_line,
)

from sagemill.executors.algorithms import recordio
from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.xgboost import hyperparameters
from sagemill.executors.algorithms.xgboost.__main__ import main
from sagemill.executors.images import XGBOOST_METRIC_DEFINITIONS

RUNNER = "sagemill.executors.algorithms.xgboost"
RNG = np.random.default_rng(7)
FEATURES = RNG.random((240, 4))
REGRESSION = FEATURES @ np.array([3.0, -2.0, 1.0, 0.0]) + 0.1 * RNG.standard_normal(240)
BINARY = (FEATURES[:, 0] + FEATURES[:, 1] > 1.0).astype(float)
MULTICLASS = np.digitize(FEATURES[:, 0], [0.33, 0.66]).astype(float)


def _csv_job(tmp_path: Path, labels: np.ndarray, hps: dict[str, str], validation: bool = True) -> JobDir:
    job = JobDir(tmp_path, hyperparameters=hps)
    rows = np.c_[labels, FEATURES]
    job.add_file("train", "part-0.csv", csv_text(rows[:180].tolist()))
    job.content_types["train"] = "text/csv"
    if validation:
        job.add_file("validation", "part-0.csv", csv_text(rows[180:].tolist()))
        job.content_types["validation"] = "text/csv"
    return job


def _rounds(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.match(r"^\[(\d+)\]#011", line))]


def _booster(job: JobDir) -> xgb.Booster:
    booster = xgb.Booster()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown file format: Using UBJSON as a guess": right guess
        booster.load_model(str(job.model_dir / "xgboost-model"))
    return booster


def _train(job: JobDir, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run the runner's main in this process (the subprocess tests cover the process contract)."""
    capsys.readouterr()
    main(job_for(job))
    return escaped_lines(capsys.readouterr().out)


def test_regression_writes_a_native_model_and_metric_lines(tmp_path: Path) -> None:
    job = _csv_job(
        tmp_path, REGRESSION, {"num_round": "6", "max_depth": "3", "eta": "0.3", "eval_metric": "rmse,mae"}
    )
    result = job.run(RUNNER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.failure is None
    assert [p.name for p in job.model_dir.iterdir()] == ["xgboost-model"]
    booster = _booster(job)
    assert booster.num_boosted_rounds() == 6
    assert booster.predict(xgb.DMatrix(FEATURES[:5])).shape == (5,)
    metrics = result.metric_values(XGBOOST_METRIC_DEFINITIONS)
    assert set(metrics) == {"train:rmse", "train:mae", "validation:rmse", "validation:mae"}
    assert len(metrics["validation:rmse"]) == 6
    assert metrics["train:rmse"][-1] < metrics["train:rmse"][0]
    assert "[0]\ttrain-rmse:" in result.stdout  # tabs as EvaluationMonitor prints them
    assert _rounds(result.log_lines) == list(range(6))


def test_binary_with_container_metrics_and_the_tuning_objective(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hps = {
        "num_round": "4",
        "objective": "binary:logistic",
        "eval_metric": "auc,accuracy",
        "_tuning_objective_metric": "validation:f1",
        "learning_rate": "0.5",  # the alias of eta
    }
    metrics = metric_values(_train(_csv_job(tmp_path, BINARY, hps), capsys), XGBOOST_METRIC_DEFINITIONS)
    assert {"validation:auc", "validation:accuracy", "validation:f1", "train:f1"} <= set(metrics)
    assert 0.5 < metrics["validation:accuracy"][-1] <= 1.0
    assert 0.5 < metrics["validation:f1"][-1] <= 1.0


def test_multiclass_softprob_with_libsvm_in_nested_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = JobDir(
        tmp_path, hyperparameters={"num_round": "3", "objective": "multi:softprob", "num_class": "3"}
    )
    job.hyperparameters["eval_metric"] = "mlogloss,accuracy"

    def libsvm(rows: range) -> str:
        return "".join(
            f"{int(MULTICLASS[i])} " + " ".join(f"{j + 1}:{FEATURES[i, j]:.6f}" for j in range(4)) + "\n"
            for i in rows
        )

    job.add_file("train", "a/b/part-0", libsvm(range(0, 90)))
    job.add_file("train", "a/part-1", libsvm(range(90, 180)))
    job.add_file("train", ".hidden", "not libsvm at all")
    job.add_file("train", "_SUCCESS", "")
    job.add_file("validation", "v.libsvm", libsvm(range(180, 240)))
    # No ContentType: the container's default is text/libsvm.
    metrics = metric_values(_train(job, capsys), XGBOOST_METRIC_DEFINITIONS)
    assert len(metrics["validation:mlogloss"]) == 3
    assert metrics["validation:accuracy"][-1] > 0.8
    predictions = _booster(job).predict(xgb.DMatrix(np.c_[np.zeros(5), FEATURES[:5]]))
    assert predictions.shape == (5, 3)


def test_recordio_protobuf_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = JobDir(tmp_path, hyperparameters={"num_round": "2"})
    buffer = io.BytesIO()
    recordio.write_payloads(
        buffer, [recordio.encode_dense(f, label) for f, label in zip(FEATURES, REGRESSION, strict=True)]
    )
    job.add_file("train", "data.pbr", buffer.getvalue())
    job.content_types["train"] = "application/x-recordio-protobuf"
    assert len(_train(job, capsys)) == 2
    assert _booster(job).num_features() == 4


def test_early_stopping_on_validation_keeps_the_best_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = RNG.random(240)  # validation labels unrelated to the features: it stops improving at once
    job = JobDir(
        tmp_path, hyperparameters={"num_round": "60", "early_stopping_rounds": "2", "eval_metric": "rmse"}
    )
    job.add_file("train", "t.csv", csv_text(np.c_[REGRESSION, FEATURES][:180].tolist()))
    job.add_file("validation", "v.csv", csv_text(np.c_[noise, FEATURES][180:].tolist()))
    job.content_types = {"train": "text/csv", "validation": "text/csv"}
    rounds = _rounds(_train(job, capsys))
    assert len(rounds) < 60
    assert _booster(job).num_boosted_rounds() <= len(rounds)


def test_checkpoints_are_written_and_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    job = _csv_job(tmp_path, REGRESSION, {"num_round": "7"}, validation=False)
    job.checkpoints = True
    assert _rounds(_train(job, capsys)) == list(range(7))
    names = sorted(p.name for p in job.checkpoint_dir.iterdir())
    assert names == [f"xgboost-checkpoint.{i}" for i in range(2, 7)]  # the last five are kept
    job.hyperparameters["num_round"] = "9"
    with caplog.at_level("INFO"):
        assert _rounds(_train(job, capsys)) == [7, 8]
    assert "Resuming from iteration 7" in caplog.text
    assert _booster(job).num_boosted_rounds() == 9


def test_save_model_on_termination_keeps_the_model_so_far(tmp_path: Path) -> None:
    job = _csv_job(tmp_path, REGRESSION, {"num_round": "100000", "save_model_on_termination": "true"})
    process = job.start(RUNNER)
    wait_for_line(process, "[3]\t")
    returncode, _ = terminate(process)
    assert returncode == 0
    rounds = _booster(job).num_boosted_rounds()
    assert 4 <= rounds < 100000
    assert not (job.output_dir / "failure").exists()


def test_user_errors_exit_non_zero_with_the_containers_words(tmp_path: Path) -> None:
    job = _csv_job(tmp_path, REGRESSION, {"num_round": "2", "eta": "2"})
    result = job.run(RUNNER)
    assert result.returncode == 1
    assert result.failure == "ClientError: Hyperparameter eta: 2.0 is not in [0, 1]"
    assert "Reporting training FAILURE" in result.stdout


@pytest.mark.parametrize(
    ("hps", "message"),
    [
        ({}, "Missing required hyperparameter: num_round"),
        ({"num_round": "3", "foo": "1"}, "Extraneous hyperparameter found: foo"),
        ({"num_round": "ten"}, "Hyperparameter num_round: could not parse value (caused by ValueError)"),
        ({"num_round": "0"}, "Hyperparameter num_round: 0 is not in [1, +inf)"),
        ({"num_round": "3", "subsample": "0"}, "Hyperparameter subsample: 0.0 is not in (0, 1]"),
        ({"num_round": "3", "objective": "reg:nope"}, "Hyperparameter objective: reg:nope is not in ["),
        (
            {"num_round": "3", "eval_metric": "rmse,foo"},
            "Hyperparameter eval_metric: value ['rmse', 'foo'] not in range",
        ),
        (
            {"num_round": "3", "objective": "multi:softmax"},
            "Require input for parameter 'num_class' for multi-classification",
        ),
        ({"num_round": "3", "num_class": "3"}, "Do not need to setup parameter 'num_class'"),
        (
            {"num_round": "3", "eval_metric": "auc"},
            "Metric 'auc' can only be applied for classification and ranking",
        ),
        ({"num_round": "3", "eval_metric": "rmse@0.5"}, "Metric 'rmse@0.5' is not supported."),
        (
            {"num_round": "3", "_tuning_objective_metric": "validation:nope"},
            "Hyperparameter _tuning_objective_metric",
        ),
        ({"num_round": "3", "monotone_constraints": "(1,-1)"}, "monotone_constraints can be used only when"),
    ],
)
def test_hyperparameter_validation_messages(hps: dict[str, str], message: str) -> None:
    with pytest.raises(UserError) as caught:
        hyperparameters.validate(hps)
    assert message in caught.value.message


def test_hyperparameters_parse_aliases_and_ignore_platform_keys() -> None:
    config = hyperparameters.validate(
        {
            "num_round": "5",
            "learning_rate": "0.2",
            "reg_lambda": "2",
            "eval_metric": "error@0.7,ndcg@3-",
            "sagemaker_container_log_level": "20",
        }
    )
    assert config == {"num_round": 5, "eta": 0.2, "lambda": 2.0, "eval_metric": ["error@0.7", "ndcg@3-"]}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_train", "Missing required channel: train"),
        ("extra_channel", "Extraneous channel found: test"),
        ("empty_train", "No data in training channel path"),
        ("header_row", "Failed to load csv data with exception"),
        ("bad_content_type", "application/json is not an accepted ContentType"),
        ("bad_libsvm", "is not 'LIBSVM' format"),
        ("label_size", "Optional parameter label_size must be equal to 1"),
        ("width_mismatch", "The validation data has 3 feature columns but the training data has 4"),
        ("bad_labels", "must be in (0,1) for the logistic loss"),
    ],
)
def test_channel_and_data_errors(tmp_path: Path, setup: str, message: str) -> None:
    job = JobDir(tmp_path, hyperparameters={"num_round": "2"})
    rows = csv_text(np.c_[BINARY, FEATURES][:20].tolist())
    if setup == "no_train":
        job.add_file("validation", "v.csv", rows)
    elif setup == "extra_channel":
        job.add_file("train", "t.csv", rows)
        job.add_file("test", "t.csv", rows)
    elif setup == "empty_train":
        job.add_channel("train", "text/csv")
        job.add_file("train", "empty.csv", "")
    elif setup == "header_row":
        job.add_file("train", "t.csv", "label,a,b,c,d\n" + rows)
        job.content_types["train"] = "text/csv"
    elif setup == "bad_content_type":
        job.add_file("train", "t.json", "{}")
        job.content_types["train"] = "application/json"
    elif setup == "bad_libsvm":
        job.add_file("train", "t.txt", rows)
    elif setup == "label_size":
        job.add_file("train", "t.csv", rows)
        job.content_types["train"] = "text/csv;label_size=2"
    elif setup == "width_mismatch":
        job.add_file("train", "t.csv", rows)
        job.add_file("validation", "v.csv", csv_text(np.c_[BINARY, FEATURES][:5, :4].tolist()))
        job.content_types = {"train": "text/csv", "validation": "text/csv"}
    elif setup == "bad_labels":
        job.hyperparameters["objective"] = "binary:logistic"
        job.add_file("train", "t.csv", csv_text(np.c_[REGRESSION + 5, FEATURES][:20].tolist()))
        job.content_types["train"] = "text/csv"
    with pytest.raises(UserError) as caught:
        main(job_for(job))
    assert message in caught.value.message


def test_parquet_needs_pyarrow(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow is installed here: parquet is read")
    job = JobDir(tmp_path, hyperparameters={"num_round": "2"})
    job.add_file("train", "t.parquet", b"PAR1")
    job.content_types["train"] = "application/x-parquet"
    with pytest.raises(UserError, match="needs the pyarrow package"):
        main(job_for(job))


def test_csv_with_missing_values_and_semicolons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = JobDir(tmp_path, hyperparameters={"num_round": "2"})
    job.add_file("train", "t.csv", "1;0.5;;2\n0;0.1;3;\n1;0.7;1;1\n")
    job.content_types["train"] = "text/csv"
    _train(job, capsys)
    assert _booster(job).num_features() == 3


def test_script_mode_hyperparameters_are_refused_in_algorithm_mode(tmp_path: Path) -> None:
    job = _csv_job(tmp_path, REGRESSION, {"num_round": "2", "sagemaker_program": '"train.py"'})
    with pytest.raises(UserError, match="script mode"):
        main(job_for(job))
