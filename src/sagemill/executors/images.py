"""Training images: AWS image URIs mapped to the native runner that stands in for each container.

An image URI is only a label here. Its ECR repository name (the last path segment before `:tag` or
`@digest`) selects the runner, whatever the account, region or partition (`amazonaws.com`,
`amazonaws.com.cn`, gov regions) and tag variant (`1.7-1`, `1.7-1-cpu-py3`, `latest`):

| repository | runner |
|---|---|
| `sagemaker-xgboost`, `xgboost` (0.72) | built-in XGBoost; script mode when `sagemaker_program` is set |
| `kmeans` | k-means |
| `linear-learner` | linear-learner |
| `sagemaker-scikit-learn` | script mode (scikit-learn) |
| `pytorch-training` | script mode (PyTorch; fails clearly unless torch imports in the job) |
| `pytorch-inference` | the PyTorch inference image (endpoints; script mode) |

A runner is started as `runner_argv(runtime, hyperparameters)` in the job directory with the SM_* env
(see `sagemill.executors.algorithms.job`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sagemill.executors.algorithms.metric_definitions import (
    KMEANS_METRIC_DEFINITIONS,
    LINEAR_LEARNER_METRIC_DEFINITIONS,
    XGBOOST_METRIC_DEFINITIONS,
)

__all__ = [
    "KMEANS_METRIC_DEFINITIONS",
    "LINEAR_LEARNER_METRIC_DEFINITIONS",
    "SUPPORTED_REPOSITORIES",
    "XGBOOST_METRIC_DEFINITIONS",
    "Algorithm",
    "TrainingRuntime",
    "UnsupportedImage",
    "is_script_mode",
    "metric_definitions",
    "resolve_training_image",
    "runner_argv",
    "runner_module",
]


class Algorithm(StrEnum):
    XGBOOST = "xgboost"
    KMEANS = "kmeans"
    LINEAR_LEARNER = "linear-learner"
    SKLEARN = "sklearn"
    PYTORCH = "pytorch"


_REPOSITORIES: dict[str, Algorithm] = {
    "sagemaker-xgboost": Algorithm.XGBOOST,
    "xgboost": Algorithm.XGBOOST,
    "kmeans": Algorithm.KMEANS,
    "linear-learner": Algorithm.LINEAR_LEARNER,
    "sagemaker-scikit-learn": Algorithm.SKLEARN,
    "pytorch-training": Algorithm.PYTORCH,
    "pytorch-inference": Algorithm.PYTORCH,
}
SUPPORTED_REPOSITORIES = tuple(_REPOSITORIES)

_PACKAGE = "sagemill.executors.algorithms"
_BUILT_IN_MODULES = {
    Algorithm.XGBOOST: f"{_PACKAGE}.xgboost",
    Algorithm.KMEANS: f"{_PACKAGE}.kmeans",
    Algorithm.LINEAR_LEARNER: f"{_PACKAGE}.linear_learner",
}
SCRIPT_MODULE = f"{_PACKAGE}.script"
_SCRIPT_FRAMEWORKS = {
    Algorithm.SKLEARN: "sklearn",
    Algorithm.PYTORCH: "pytorch",
    Algorithm.XGBOOST: "xgboost",
}

# [registry/][namespace/]repository[:tag][@digest]; the registry is anything up to the first slash.
_URI = re.compile(
    r"^(?:(?P<registry>[^/]+)/)?(?P<path>[^:@]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>[\w:]+))?$"
)
_VERSION = re.compile(r"^\d+(?:\.\d+)*(?:-\d+)?")


class UnsupportedImage(ValueError):
    """The training image names no repository Sagemill can run; the API answers ValidationException."""


@dataclass(frozen=True, slots=True)
class TrainingRuntime:
    algorithm: Algorithm
    image: str
    repository: str
    tag: str
    """As in the URI (`1.7-1-cpu-py3`); `latest` when the URI has none."""
    framework_version: str | None
    """The version the tag starts with (`1.7-1`, `2.1.0`), None for `latest`."""

    @property
    def built_in(self) -> bool:
        return self.algorithm in _BUILT_IN_MODULES


def resolve_training_image(uri: str) -> TrainingRuntime:
    text = uri.strip()
    match = _URI.match(text)
    repository = match.group("path").rsplit("/", 1)[-1] if match else ""
    algorithm = _REPOSITORIES.get(repository)
    if match is None or algorithm is None:
        raise UnsupportedImage(
            f"Training image {uri!r} is not supported by this Sagemill server: its repository "
            f"{repository or '?'!r} is not one of {', '.join(SUPPORTED_REPOSITORIES)} "
            "(use the image URI that sagemaker.image_uris.retrieve returns for one of them)"
        )
    tag = match.group("tag") or "latest"
    version = _VERSION.match(tag)
    return TrainingRuntime(algorithm, text, repository, tag, version.group(0) if version else None)


def is_script_mode(runtime: TrainingRuntime, hyperparameters: Mapping[str, str]) -> bool:
    """Framework images always run a user script; the XGBoost image does when `sagemaker_program` is set."""
    if runtime.algorithm in (Algorithm.SKLEARN, Algorithm.PYTORCH):
        return True
    return runtime.algorithm == Algorithm.XGBOOST and "sagemaker_program" in hyperparameters


def runner_module(runtime: TrainingRuntime, hyperparameters: Mapping[str, str]) -> str:
    if is_script_mode(runtime, hyperparameters):
        return SCRIPT_MODULE
    return _BUILT_IN_MODULES[runtime.algorithm]


def runner_argv(
    runtime: TrainingRuntime, hyperparameters: Mapping[str, str], python: str | None = None
) -> list[str]:
    """The command that runs this job's runner, with `python` (default: this interpreter)."""
    argv = [python or sys.executable, "-m", runner_module(runtime, hyperparameters)]
    if is_script_mode(runtime, hyperparameters):
        argv += ["--framework", _SCRIPT_FRAMEWORKS[runtime.algorithm]]
    return argv


def metric_definitions(runtime: TrainingRuntime) -> list[dict[str, str]]:
    """The MetricDefinitions DescribeTrainingJob shows for the image when the request gave none.

    The built-in algorithms' images have the service's own list (for XGBoost in script mode too: a script
    training with xgboost prints the same evaluation lines); the framework images have none.
    """
    definitions = {
        Algorithm.XGBOOST: XGBOOST_METRIC_DEFINITIONS,
        Algorithm.KMEANS: KMEANS_METRIC_DEFINITIONS,
        Algorithm.LINEAR_LEARNER: LINEAR_LEARNER_METRIC_DEFINITIONS,
    }.get(runtime.algorithm, [])
    return [dict(d) for d in definitions]
