"""Runner for the built-in linear-learner (`linear-learner:1`), run as `python -m` of this module.

Trained with scikit-learn's `SGDClassifier` / `SGDRegressor`, one `partial_fit` per mini-batch of
`mini_batch_size` for `epochs` epochs, so the per-epoch objective can be printed and early stopping on the
validation channel works as in linear-learner (`early_stopping_patience`, `early_stopping_tolerance`; the
best epoch is kept). Mapping: `loss` logistic/softmax_loss → log loss (multiclass one-vs-rest), hinge_loss →
hinge, squared/absolute/huber/eps-insensitive losses → the SGDRegressor equivalents (`quantile_loss` is
refused); `wd` → L2 and `l1` → L1 penalty (elastic net when both; `auto` = 0.0001 / 0); a numeric
`learning_rate` → constant step, `auto` → scikit-learn's default schedule; `positive_example_weight_mult` and
`balance_multiclass_weights` → sample weights. `normalize_data` standardises features (and, for a regressor,
`normalize_label` the label) with statistics of the first `num_point_for_scaler` records. Binary classifiers
pick their threshold by `binary_classifier_model_selection_criteria` on validation data (else train).
Settings with no scikit-learn counterpart (optimizer details, init_*, num_models, lr scheduler) are
validated and ignored. Input is RecordIO-protobuf (default) or CSV with the label first.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
from sklearn.linear_model import SGDClassifier, SGDRegressor  # type: ignore[import-untyped]

from sagemill.executors.algorithms import arrays, model_file
from sagemill.executors.algorithms import job as job_module
from sagemill.executors.algorithms import linear_metrics as lm
from sagemill.executors.algorithms.channels import (
    CSV,
    RECORDIO_PROTOBUF,
    nonempty_files,
    parse_content_type,
    validate_channels,
)
from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.hyperparameters import (
    AutoOr,
    Boolean,
    Categorical,
    Continuous,
    Integer,
    Interval,
    Parameter,
    Schema,
    Text,
)
from sagemill.executors.algorithms.job import Job
from sagemill.executors.algorithms.metric_definitions import progress_line, quality_line, throughput_line
from sagemill.executors.algorithms.model_file import LinearModel

logger = logging.getLogger("sagemill.algorithm.linear_learner")

DEFAULT_CONTENT_TYPE = "application/x-recordio-protobuf"
SEED = 0
LOSSES = {
    "binary_classifier": ("logistic", "hinge_loss"),
    "multiclass_classifier": ("softmax_loss",),
    "regressor": (
        "squared_loss",
        "absolute_loss",
        "huber_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
    ),
}
SKLEARN_LOSS = {
    "logistic": "log_loss",
    "softmax_loss": "log_loss",
    "hinge_loss": "hinge",
    "squared_loss": "squared_error",
    "absolute_loss": "epsilon_insensitive",
    "eps_insensitive_absolute_loss": "epsilon_insensitive",
    "huber_loss": "huber",
    "eps_insensitive_squared_loss": "squared_epsilon_insensitive",
}


def _positive(name: str) -> Continuous:
    return Continuous(name, Interval(min_open=0))


def _nonnegative(name: str) -> Continuous:
    return Continuous(name, Interval(min_closed=0))


def _count(name: str, default: int | None = None) -> Integer:
    return Integer(name, Interval(min_closed=1), default=default)


def _ignored(names: str) -> list[Parameter]:
    return [Text(name) for name in names.split()]


SCHEMA = Schema(
    parameters=[
        AutoOr("feature_dim", _count("feature_dim"), required=True),
        Categorical("predictor_type", list(LOSSES), required=True),
        Integer("num_classes", Interval(min_closed=3, max_closed=1000000)),
        _count("epochs", 15),
        _count("mini_batch_size", 1000),
        AutoOr("learning_rate", _positive("learning_rate"), default="auto"),
        AutoOr("l1", _nonnegative("l1"), default="auto"),
        AutoOr("wd", _nonnegative("wd"), default="auto"),
        Categorical("loss", [*sorted(SKLEARN_LOSS), "quantile_loss", "auto"], default="auto"),
        Boolean("normalize_data", default="true"),
        AutoOr("normalize_label", Boolean("normalize_label"), default="auto"),
        Boolean("use_bias", default="true"),
        _count("num_point_for_scaler", 10000),
        Categorical(
            "binary_classifier_model_selection_criteria",
            [
                *("accuracy", "f_beta", "precision_at_target_recall", "recall_at_target_precision"),
                *("cross_entropy_loss", "loss_function"),
            ],
            default="accuracy",
        ),
        Continuous("target_recall", Interval(min_open=0, max_open=1), default=0.8),
        Continuous("target_precision", Interval(min_open=0, max_open=1), default=0.8),
        AutoOr(
            "positive_example_weight_mult", _positive("positive_example_weight_mult"), ["auto", "balanced"]
        ),
        Boolean("balance_multiclass_weights", default="false"),
        _positive("f_beta"),
        _count("accuracy_top_k", 3),
        _count("early_stopping_patience", 3),
        _positive("early_stopping_tolerance"),
        _nonnegative("margin"),
        _nonnegative("huber_delta"),
        _positive("loss_insensitivity"),
        Continuous("quantile", Interval(min_open=0, max_open=1)),
        Categorical("optimizer", ["sgd", "adam", "rmsprop", "auto"], default="auto"),
        Categorical("init_method", ["uniform", "normal"]),
        *_ignored(
            "num_models num_calibration_samples init_scale init_sigma init_bias momentum beta_1 beta_2"
        ),
        *_ignored("bias_lr_mult bias_wd_mult use_lr_scheduler lr_scheduler_step lr_scheduler_factor"),
        *_ignored("lr_scheduler_minimum_lr unbias_data unbias_label _tuning_objective_metric"),
    ],
    ignore=lambda name: (
        name.startswith("sagemaker_") or (name.startswith("_") and name != "_tuning_objective_metric")
    ),
)


def _validate(given: dict[str, str]) -> dict[str, Any]:
    config = SCHEMA.validate(given)
    kind = config["predictor_type"]
    if kind == "multiclass_classifier" and "num_classes" not in config:
        raise UserError("num_classes is required when predictor_type is multiclass_classifier")
    loss = config["loss"]
    if loss == "quantile_loss":
        raise UserError("loss quantile_loss is not supported by Sagemill's linear-learner")
    if loss == "auto":
        config["loss"] = LOSSES[kind][0]
    elif loss not in LOSSES[kind]:
        raise UserError(
            f"loss {loss} cannot be used with predictor_type {kind}: use one of {list(LOSSES[kind])}"
        )
    return config


def main(job: Job) -> None:
    config = _validate(job.hyperparameters)
    logger.info("Hyperparameters: %s", config)
    validate_channels(job, required=["train"], optional=["validation", "test"])
    kind, loss = config["predictor_type"], config["loss"]

    feature_dim = config["feature_dim"]
    train = _load(job, "train", None if feature_dim == "auto" else int(feature_dim))
    feature_dim = train.features.shape[1]
    validation = _load(job, "validation", feature_dim) if "validation" in job.channels else None
    test = _load(job, "test", feature_dim) if "test" in job.channels else None
    for dataset in (train, validation, test):
        if dataset is not None:
            _check_labels(kind, config, dataset)

    started = time.monotonic()
    model = _train(job, config, train, validation)
    elapsed = max(time.monotonic() - started, 1e-9)
    print(throughput_line(job.current_host, train.rows * int(config["epochs"]) / elapsed), flush=True)

    if kind == "binary_classifier":
        selection = validation or train
        threshold = lm.choose_threshold(
            config["binary_classifier_model_selection_criteria"],
            _labels(selection),
            model.scores(selection.features),
            model.threshold,
            beta=float(config.get("f_beta", 1.0)),
            recall=float(config["target_recall"]),
            precision=float(config["target_precision"]),
        )
        model = dataclasses.replace(model, threshold=threshold)
    for channel, dataset in (("train", train), ("validation", validation), ("test", test)):
        if dataset is not None:
            _report(job, config, model, channel, dataset)

    path = job.model_dir / model_file.MODEL_FILE_NAME
    classes = int(config.get("num_classes", 2 if kind == "binary_classifier" else 1))
    model_file.save_linear(path, model, feature_dim=feature_dim, num_classes=classes, loss=loss)
    logger.info("Stored trained model at %s", path)


def _load(job: Job, channel: str, feature_dim: int | None) -> arrays.Dataset:
    kind = parse_content_type(job.content_type(channel) or DEFAULT_CONTENT_TYPE, (CSV, RECORDIO_PROTOBUF))
    return arrays.load(nonempty_files(channel, job.channels[channel]), kind, feature_dim, with_label=True)


def _labels(dataset: arrays.Dataset) -> arrays.Matrix:
    assert dataset.labels is not None
    return dataset.labels


def _check_labels(kind: str, config: dict[str, Any], dataset: arrays.Dataset) -> None:
    labels = _labels(dataset)
    if not np.all(np.isfinite(labels)):
        raise UserError("The data contains missing, NaN or infinite labels")
    if kind == "binary_classifier" and not np.isin(labels, (0.0, 1.0)).all():
        bad = labels[~np.isin(labels, (0.0, 1.0))][0]
        raise UserError(f"The label of a binary_classifier must be 0 or 1; found {bad:g}")
    if kind == "multiclass_classifier":
        classes = int(config["num_classes"])
        bad_mask = (labels != np.round(labels)) | (labels < 0) | (labels >= classes)
        if bad_mask.any():
            raise UserError(
                f"The label of a multiclass_classifier must be an integer in [0, {classes - 1}] "
                f"(num_classes={classes}); found {labels[bad_mask][0]:g}"
            )


def _estimator(config: dict[str, Any]) -> SGDClassifier | SGDRegressor:
    l1 = 0.0 if config["l1"] == "auto" else float(config["l1"])
    wd = 0.0001 if config["wd"] == "auto" else float(config["wd"])
    alpha = l1 + wd
    penalty = "elasticnet" if l1 and wd else "l1" if l1 else "l2" if wd else None
    common: dict[str, Any] = {
        "loss": SKLEARN_LOSS[config["loss"]],
        "penalty": penalty,
        "alpha": alpha if alpha > 0 else 0.0001,
        "l1_ratio": l1 / alpha if alpha > 0 else 0.0,
        "fit_intercept": bool(config["use_bias"]),
        "random_state": SEED,
    }
    if config["learning_rate"] != "auto":
        common.update(learning_rate="constant", eta0=float(config["learning_rate"]))
    if config["predictor_type"] == "regressor":
        loss = config["loss"]
        if loss == "huber_loss":
            common["epsilon"] = float(config.get("huber_delta", 1.0))
        elif loss == "absolute_loss":
            common["epsilon"] = 0.0
        elif loss.startswith("eps_insensitive"):
            common["epsilon"] = float(config.get("loss_insensitivity", 0.01))
        return SGDRegressor(**common)
    if config["learning_rate"] == "auto" and penalty is None:
        common.update(learning_rate="invscaling", eta0=0.01)  # "optimal" needs a penalty
    return SGDClassifier(**common)


def _scaling(
    config: dict[str, Any], train: arrays.Dataset
) -> tuple[arrays.Matrix, arrays.Matrix, float, float]:
    sample = train.features[: int(config["num_point_for_scaler"])]
    width = train.features.shape[1]
    mean, scale = np.zeros(width), np.ones(width)
    if config["normalize_data"]:
        mean, scale = sample.mean(axis=0), sample.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    label_mean, label_scale = 0.0, 1.0
    normalize_label = config["normalize_label"]
    if config["predictor_type"] == "regressor" and normalize_label in ("auto", True):
        labels = _labels(train)[: int(config["num_point_for_scaler"])]
        label_mean, label_scale = float(labels.mean()), float(labels.std()) or 1.0
    return mean, scale, label_mean, label_scale


def _sample_weights(config: dict[str, Any], labels: arrays.Matrix) -> arrays.Matrix:
    weights = np.ones(len(labels))
    kind = config["predictor_type"]
    mult = config.get("positive_example_weight_mult")
    if kind == "binary_classifier" and mult is not None:
        positives = float(labels.sum())
        if mult in ("auto", "balanced"):
            factor = (len(labels) - positives) / positives if positives else 1.0
        else:
            factor = float(mult)
        weights[labels == 1.0] = factor
    if kind == "multiclass_classifier" and config["balance_multiclass_weights"]:
        counts = np.bincount(labels.astype(np.int64), minlength=int(config["num_classes"])).astype(np.float64)
        per_class = np.where(counts > 0, len(labels) / (len(counts) * np.maximum(counts, 1)), 0.0)
        weights = per_class[labels.astype(np.int64)]
    return weights


def _snapshot(config: dict[str, Any], estimator: Any, scaling: tuple[Any, ...]) -> LinearModel:
    mean, scale, label_mean, label_scale = scaling
    kind, loss = config["predictor_type"], config["loss"]
    weights = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64)).T.copy()
    bias = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64)).copy()
    if kind == "regressor":
        link = "identity"
    elif kind == "multiclass_classifier":
        link = "ovr_logistic"
    else:
        link = "margin" if loss == "hinge_loss" else "logistic"
    threshold = 0.0 if link == "margin" else 0.5
    return LinearModel(kind, link, weights, bias, mean, scale, threshold, label_mean, label_scale)


def _objective(config: dict[str, Any], model: LinearModel, dataset: arrays.Dataset) -> float:
    return lm.objective_loss(
        config["loss"],
        _labels(dataset),
        model.scores(dataset.features),
        delta=float(config.get("huber_delta", 1.0)),
        epsilon=float(config.get("loss_insensitivity", 0.01)),
        margin=float(config.get("margin", 1.0)),
    )


def _train(
    job: Job, config: dict[str, Any], train: arrays.Dataset, validation: arrays.Dataset | None
) -> LinearModel:
    scaling = _scaling(config, train)
    mean, scale, label_mean, label_scale = scaling
    features = (train.features - mean) / scale
    labels = _labels(train)
    targets = (labels - label_mean) / label_scale if config["predictor_type"] == "regressor" else labels
    weights = _sample_weights(config, labels)
    estimator = _estimator(config)
    extra: dict[str, Any] = {}
    if isinstance(estimator, SGDClassifier):
        classes = int(config.get("num_classes", 2))
        extra["classes"] = np.arange(classes, dtype=np.float64)
    epochs, batch = int(config["epochs"]), int(config["mini_batch_size"])
    patience = int(config["early_stopping_patience"])
    tolerance = float(config.get("early_stopping_tolerance", 0.001))
    name = lm.OBJECTIVE_NAMES[config["loss"]] + "_objective"
    rng = np.random.default_rng(SEED)
    best: tuple[float, LinearModel] | None = None
    stale = 0
    for epoch in range(epochs):
        order = rng.permutation(len(features))
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            estimator.partial_fit(features[chosen], targets[chosen], sample_weight=weights[chosen], **extra)
        model = _snapshot(config, estimator, scaling)
        train_loss = _objective(config, model, train)
        print(quality_line(job.current_host, "train", name, train_loss, loss=True, epoch=epoch), flush=True)
        score = train_loss
        if validation is not None:
            score = _objective(config, model, validation)
            print(
                quality_line(job.current_host, "validation", name, score, loss=True, epoch=epoch), flush=True
            )
        print(progress_line(job.current_host, 100.0 * (epoch + 1) / epochs), flush=True)
        if best is None or score < best[0] - tolerance * abs(best[0]):
            best, stale = (score, model), 0
        else:
            stale += 1
            if validation is not None and stale >= patience:
                logger.info("Early stop: no improvement of the validation loss for %d epochs", patience)
                break
    assert best is not None
    return best[1]


def _report(
    job: Job, config: dict[str, Any], model: LinearModel, channel: str, dataset: arrays.Dataset
) -> None:
    name = lm.OBJECTIVE_NAMES[config["loss"]] + "_objective"
    host = job.current_host
    print(quality_line(host, channel, name, _objective(config, model, dataset), loss=True), flush=True)
    labels, scores = _labels(dataset), model.scores(dataset.features)
    beta = float(config.get("f_beta", 1.0))
    kind = config["predictor_type"]
    if kind == "binary_classifier":
        found = lm.binary_metrics(labels, model.predicted_labels(scores), beta)
    elif kind == "multiclass_classifier":
        found = lm.multiclass_metrics(labels, scores, beta, int(config["accuracy_top_k"]))
    else:
        found = lm.regression_metrics(labels, scores)
    for metric, value in found.items():
        loss = metric in ("mse", "rmse", "absolute_loss")
        print(quality_line(host, channel, metric, value, loss=loss), flush=True)


if __name__ == "__main__":
    job_module.run(main)
