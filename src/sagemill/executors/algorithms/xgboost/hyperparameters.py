"""The built-in XGBoost container's hyperparameters: names, ranges, aliases, cross-checks and its messages."""

from __future__ import annotations

import ast
from typing import Any

from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.hyperparameters import (
    Categorical,
    CommaList,
    Continuous,
    Integer,
    Interval,
    Parameter,
    Schema,
)
from sagemill.executors.algorithms.metric_definitions import XGB_MAXIMIZE_METRICS, XGB_MINIMIZE_METRICS

EVAL_METRICS = list(XGB_MAXIMIZE_METRICS + XGB_MINIMIZE_METRICS)
TUNING_METRICS = [f"validation:{m}" for m in EVAL_METRICS]

OBJECTIVES = [
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
]

UPDATERS = ["grow_colmaker", "distcol", "grow_histmaker", "grow_skmaker", "sync", "refresh", "prune"]
UPDATERS += ["shotgun", "coord_descent", "grow_quantile_histmaker"]

# Consumed by the container itself, never passed to xgboost.train's params.
CONTAINER_ONLY = (
    "num_round",
    "csv_weights",
    "early_stopping_rounds",
    "save_model_on_termination",
    "_tuning_objective_metric",
    "_kfold",
    "_num_cv_round",
    "use_dask_gpu_training",
)


def _eval_metric_accepts(metric: str) -> bool:
    if "@" in metric:
        name, _, threshold = metric.partition("@")
        if name.strip() not in ("error", "ndcg", "map"):
            raise UserError(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold "
                "should be one of these options: 'error', 'ndcg', 'map'."
            )
        try:
            float(threshold.strip().rstrip("-"))
        except ValueError:
            raise UserError(f"Threshold value 't' in '{name.strip()}@t' expects float input.") from None
        return True
    return metric in EVAL_METRICS


class _Literal(Parameter):
    """A Python literal such as `(1,-1)` or `[[0,1],[2]]` (monotone/interaction constraints)."""

    def __init__(self, name: str, items: tuple[int, ...] | None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.items = items

    def parse(self, value: Any) -> Any:
        return ast.literal_eval(str(value))

    def check(self, value: Any) -> None:
        flat = [x for inner in value for x in inner] if self.items is None else list(value)
        ok = (
            all(x in self.items for x in flat)
            if self.items
            else all(isinstance(x, int) and x >= 0 for x in flat)
        )
        if not ok:
            raise UserError(
                f"Hyperparameter {self.name}: value {value} not in range {self.items or '[0, +inf)'}"
            )


def _checks(values: dict[str, Any]) -> None:
    objective, num_class = values.get("objective"), values.get("num_class")
    if objective in ("multi:softmax", "multi:softprob") and num_class is None:
        raise UserError("Require input for parameter 'num_class' for multi-classification")
    if num_class is not None and objective not in ("multi:softmax", "multi:softprob"):
        raise UserError(
            "Do not need to setup parameter 'num_class' for learning task other than multi-classification."
        )
    metrics = values.get("eval_metric") or []
    if "auc" in metrics and not str(objective or "").startswith(("binary:", "rank:")):
        raise UserError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in metrics and objective != "survival:aft":
        raise UserError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")
    tree_method = values.get("tree_method")
    if "monotone_constraints" in values and tree_method not in ("exact", "hist"):
        raise UserError(
            "monotone_constraints can be used only when the tree_method parameter is set to "
            "either 'exact' or 'hist'."
        )
    if "interaction_constraints" in values and tree_method not in ("exact", "hist", "approx"):
        raise UserError(
            "interaction_constraints can be used only when the tree_method parameter is set to "
            "either 'exact', 'hist' or 'approx'."
        )
    updater = values.get("updater")
    linear_ok = updater is None or (len(updater) == 1 and updater[0] in ("shotgun", "coord_descent"))
    if values.get("booster") == "gblinear" and not linear_ok:
        raise UserError("Linear updater should be one of these options: 'shotgun', 'coord_descent'.")


def _ge(low: float) -> Interval:
    return Interval(min_closed=low)


def _unit() -> Interval:
    return Interval(min_closed=0, max_closed=1)


def _fraction() -> Interval:
    return Interval(min_open=0, max_closed=1)


SCHEMA = Schema(
    parameters=[
        Integer("num_round", _ge(1), required=True),
        Integer("csv_weights", _unit()),
        Integer("early_stopping_rounds", _ge(1)),
        Categorical("booster", ["gbtree", "gblinear", "dart"]),
        Integer("verbosity", Interval(min_closed=0, max_closed=3)),
        Integer("nthread", _ge(1)),
        Continuous("eta", _unit()),
        Continuous("gamma", _ge(0)),
        Integer("max_depth", _ge(0)),
        Continuous("min_child_weight", _ge(0)),
        Continuous("max_delta_step", _ge(0)),
        Continuous("subsample", _fraction()),
        Continuous("colsample_bytree", _fraction()),
        Continuous("colsample_bylevel", _fraction()),
        Continuous("colsample_bynode", _fraction()),
        Continuous("lambda", _ge(0)),
        Continuous("alpha", _ge(0)),
        Categorical("tree_method", ["auto", "exact", "approx", "hist", "gpu_hist"]),
        Continuous("sketch_eps", Interval(min_open=0, max_open=1)),
        Continuous("scale_pos_weight", Interval(min_open=0)),
        CommaList("updater", lambda u: u in UPDATERS, UPDATERS),
        Categorical("dsplit", ["row", "col"]),
        Integer("refresh_leaf", _unit()),
        Categorical("process_type", ["default", "update"]),
        Categorical("grow_policy", ["depthwise", "lossguide"]),
        Integer("max_leaves", _ge(0)),
        Integer("max_bin", _ge(0)),
        Categorical("predictor", ["auto", "cpu_predictor", "gpu_predictor"]),
        _Literal("monotone_constraints", (-1, 0, 1)),
        _Literal("interaction_constraints", None),
        Categorical("sample_type", ["uniform", "weighted"]),
        Categorical("normalize_type", ["tree", "forest"]),
        Continuous("rate_drop", _unit()),
        Integer("one_drop", _unit()),
        Continuous("skip_drop", _unit()),
        Continuous("lambda_bias", _unit()),
        Continuous("tweedie_variance_power", Interval(min_open=1, max_open=2)),
        Categorical("objective", OBJECTIVES),
        Integer("num_class", _ge(2)),
        Continuous("base_score", _ge(0)),
        Integer("_kfold", _ge(2)),
        Integer("_num_cv_round", _ge(1)),
        Categorical("_tuning_objective_metric", TUNING_METRICS),
        CommaList("eval_metric", _eval_metric_accepts, EVAL_METRICS),
        Integer("seed", Interval(min_open=-(2**31), max_open=2**31 - 1)),
        Integer("num_parallel_tree", _ge(1)),
        Categorical("save_model_on_termination", ["true", "false"]),
        Categorical("aft_loss_distribution", ["normal", "logistic", "extreme"]),
        Continuous("aft_loss_distribution_scale", _ge(0)),
        Categorical("deterministic_histogram", ["true", "false"]),
        Categorical("sampling_method", ["uniform", "gradient_based"]),
        Integer("prob_buffer_row", Interval(min_open=1.0)),
        Categorical("use_dask_gpu_training", ["true", "false"]),
    ],
    aliases={"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"},
    checks=[_checks],
    # Platform keys (sagemaker_container_log_level, sagemaker_region...) are not the algorithm's concern.
    ignore=lambda name: name.startswith("sagemaker_"),
)


def validate(given: dict[str, str]) -> dict[str, Any]:
    return SCHEMA.validate(given)
