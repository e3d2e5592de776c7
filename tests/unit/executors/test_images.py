"""Image URIs as `sagemaker.image_uris.retrieve` returns them resolve to the right native runner."""

from __future__ import annotations

import re
import sys

import pytest

from sagemill.executors.images import (
    KMEANS_METRIC_DEFINITIONS,
    LINEAR_LEARNER_METRIC_DEFINITIONS,
    XGBOOST_METRIC_DEFINITIONS,
    Algorithm,
    UnsupportedImage,
    is_script_mode,
    metric_definitions,
    resolve_training_image,
    runner_argv,
    runner_module,
)


def _capture(regex: str, line: str) -> str:
    match = re.search(regex, line)
    assert match is not None, f"{regex!r} does not match {line!r}"
    return match.group(1)


@pytest.mark.parametrize(
    ("uri", "algorithm", "tag", "version"),
    [
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            Algorithm.XGBOOST,
            "1.7-1",
            "1.7-1",
        ),
        (
            "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.5-1-cpu-py3",
            Algorithm.XGBOOST,
            "1.5-1-cpu-py3",
            "1.5-1",
        ),
        (
            "451049120500.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1",
            Algorithm.XGBOOST,
            "1.7-1",
            "1.7-1",
        ),
        (
            "414596584902.dkr.ecr.us-gov-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
            Algorithm.XGBOOST,
            "3.0-5",
            "3.0-5",
        ),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", Algorithm.XGBOOST, "1", "1"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest", Algorithm.XGBOOST, "latest", None),
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1", Algorithm.KMEANS, "1", "1"),
        ("174872318107.dkr.ecr.us-west-2.amazonaws.com/kmeans:latest", Algorithm.KMEANS, "latest", None),
        ("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/kmeans:1", Algorithm.KMEANS, "1", "1"),
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1", Algorithm.LINEAR_LEARNER, "1", "1"),
        (
            "664544806723.dkr.ecr.eu-central-1.amazonaws.com/linear-learner",
            Algorithm.LINEAR_LEARNER,
            "latest",
            None,
        ),
        (
            "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            Algorithm.SKLEARN,
            "1.2-1-cpu-py3",
            "1.2-1",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
            Algorithm.SKLEARN,
            "1.2-1",
            "1.2-1",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310",
            Algorithm.PYTORCH,
            "2.1.0-cpu-py310",
            "2.1.0",
        ),
        (
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker",
            Algorithm.PYTORCH,
            "2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker",
            "2.3.0",
        ),
        (
            "727897471807.dkr.ecr.cn-northwest-1.amazonaws.com.cn/pytorch-training:1.13.1-cpu-py39",
            Algorithm.PYTORCH,
            "1.13.1-cpu-py39",
            "1.13.1",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost@sha256:" + "ab" * 32,
            Algorithm.XGBOOST,
            "latest",
            None,
        ),
        ("  382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1  ", Algorithm.KMEANS, "1", "1"),
    ],
)
def test_real_uri_forms_resolve_by_repository(
    uri: str, algorithm: Algorithm, tag: str, version: str | None
) -> None:
    runtime = resolve_training_image(uri)
    assert runtime.algorithm is algorithm
    assert runtime.tag == tag
    assert runtime.framework_version == version
    assert runtime.image == uri.strip()


@pytest.mark.parametrize(
    "uri",
    [
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-custom-image:latest",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13-cpu",
        "",
    ],
)
def test_unknown_images_are_refused_with_the_supported_list(uri: str) -> None:
    with pytest.raises(UnsupportedImage) as caught:
        resolve_training_image(uri)
    message = str(caught.value)
    for repository in (
        "sagemaker-xgboost",
        "kmeans",
        "linear-learner",
        "sagemaker-scikit-learn",
        "pytorch-training",
    ):
        assert repository in message
    assert isinstance(caught.value, ValueError)


def test_xgboost_is_script_mode_only_with_sagemaker_program() -> None:
    xgb = resolve_training_image("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    assert not is_script_mode(xgb, {"num_round": "10"})
    assert runner_argv(xgb, {"num_round": "10"}, python="py") == [
        "py",
        "-m",
        "sagemill.executors.algorithms.xgboost",
    ]
    script_hps = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/k"'}
    assert is_script_mode(xgb, script_hps)
    assert runner_argv(xgb, script_hps, python="py") == [
        "py",
        "-m",
        "sagemill.executors.algorithms.script",
        "--framework",
        "xgboost",
    ]


def test_framework_images_always_run_a_script() -> None:
    sklearn = resolve_training_image(
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    torch = resolve_training_image(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310"
    )
    assert runner_argv(sklearn, {})[-3:] == ["sagemill.executors.algorithms.script", "--framework", "sklearn"]
    assert runner_argv(torch, {})[-1] == "pytorch"
    assert runner_argv(torch, {})[0] == sys.executable
    kmeans = resolve_training_image("382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1")
    assert runner_module(kmeans, {}) == "sagemill.executors.algorithms.kmeans"
    ll = resolve_training_image("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1")
    assert runner_module(ll, {}) == "sagemill.executors.algorithms.linear_learner"


def test_xgboost_metric_definitions_are_the_services() -> None:
    by_name = {d["Name"]: d["Regex"] for d in XGBOOST_METRIC_DEFINITIONS}
    number = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
    assert by_name["validation:rmse"] == rf".*\[[0-9]+\].*#011validation-rmse:{number}.*"
    assert by_name["train:auc"] == rf".*\[[0-9]+\].*#011train-auc:{number}.*"
    assert {"validation:f1", "validation:accuracy", "validation:mlogloss", "train:error"} <= set(by_name)
    line = "[0]\ttrain-rmse:19.6015\tvalidation-rmse:19.9713".replace("\t", "#011")
    match = re.search(by_name["validation:rmse"], line)
    assert match is not None and float(match.group(1)) == pytest.approx(19.9713)
    assert _capture(by_name["train:rmse"], line) == "19.6015"
    assert re.search(by_name["validation:mae"], line) is None


def test_metric_definitions_by_image() -> None:
    def resolve(repository: str) -> list[dict[str, str]]:
        return metric_definitions(
            resolve_training_image(f"382416733822.dkr.ecr.us-east-1.amazonaws.com/{repository}")
        )

    assert resolve("kmeans:1") == KMEANS_METRIC_DEFINITIONS
    assert resolve("linear-learner:1") == LINEAR_LEARNER_METRIC_DEFINITIONS
    assert resolve("sagemaker-xgboost:1.7-1") == XGBOOST_METRIC_DEFINITIONS
    assert resolve("sagemaker-scikit-learn:1.2-1") == []
    assert resolve("pytorch-training:2.1.0-cpu-py310") == []
    copy = resolve("kmeans:1")
    copy[0]["Name"] = "changed"
    assert KMEANS_METRIC_DEFINITIONS[0]["Name"] == "test:msd"  # callers get copies


def test_amazon_algorithm_definitions_match_their_log_lines() -> None:
    kmeans = {d["Name"]: d["Regex"] for d in KMEANS_METRIC_DEFINITIONS}
    assert _capture(kmeans["test:msd"], "#quality_metric: host=algo-1, test msd <loss>=1.5") == "1.5"
    ll = {d["Name"]: d["Regex"] for d in LINEAR_LEARNER_METRIC_DEFINITIONS}
    epoch_line = "#quality_metric: host=algo-1, epoch=3, validation square_loss_objective <loss>=0.25"
    final_line = "#quality_metric: host=algo-1, validation square_loss_objective <loss>=0.5"
    assert _capture(ll["validation:objective_loss"], epoch_line) == "0.25"
    assert re.search(ll["validation:objective_loss:final"], epoch_line) is None
    assert _capture(ll["validation:objective_loss:final"], final_line) == "0.5"
    f_line = "#quality_metric: host=algo-1, test binary_f_1.000 <score>=0.9"
    assert _capture(ll["test:binary_f_beta"], f_line) == "0.9"
    assert len(LINEAR_LEARNER_METRIC_DEFINITIONS) <= 40  # the API's limit on MetricDefinitions
