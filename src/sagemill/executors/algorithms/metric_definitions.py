"""The MetricDefinitions of the built-in images, and the log lines the runners print for them to match.

Regexes are applied to log lines as CloudWatch stores them, with a TAB escaped to `#011`.

- XGBoost: the service's definitions for `sagemaker-xgboost` (`train:<m>`, `validation:<m>`), matched by the
  lines of `xgboost.callback.EvaluationMonitor`: `[3]<TAB>train-rmse:0.51<TAB>validation-rmse:0.62`.
- k-means and linear-learner: the Amazon algorithms' `#quality_metric: host=algo-1, test msd <loss>=1.5`
  style; the definitions are the ones AWS returns for `kmeans:1` / `linear-learner:1` (k-means' `train:msd`
  and `train:progress` are Sagemill's own additions, printed once per epoch).
"""

from __future__ import annotations

XGB_MAXIMIZE_METRICS = (
    "accuracy",
    "auc",
    "aucpr",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "map",
    "ndcg",
    "precision",
    "r2",
    "recall",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
)

XGB_MINIMIZE_METRICS = (
    "aft-nloglik",
    "cox-nloglik",
    "error",
    "gamma-deviance",
    "gamma-nloglik",
    "interval-regression-accuracy",
    "logloss",
    "mae",
    "mape",
    "merror",
    "mlogloss",
    "mphe",
    "mse",
    "poisson-nloglik",
    "rmse",
    "rmsle",
    "tweedie-nloglik",
)

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def xgboost_regex(data: str, metric: str) -> str:
    return rf".*\[[0-9]+\].*#011{data}-{metric}:{_NUMBER}.*"


XGBOOST_METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": f"{data}:{metric}", "Regex": xgboost_regex(data, metric)}
    for data in ("train", "validation")
    for metric in XGB_MAXIMIZE_METRICS + XGB_MINIMIZE_METRICS
]


def _quality(channel: str, name: str, kind: str, epoch: bool = False) -> str:
    where = r"epoch=\S+, " if epoch else ""
    return rf"#quality_metric: host=\S+, {where}{channel} {name} <{kind}>=(\S+)"


KMEANS_METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": "test:msd", "Regex": _quality("test", "msd", "loss")},
    {"Name": "test:ssd", "Regex": _quality("test", "ssd", "loss")},
    {"Name": "train:msd", "Regex": _quality("train", "msd", "loss", epoch=True)},
    {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
]

_LL_SCORES: tuple[str, ...] = (
    "binary_classification_accuracy",
    "precision",
    "recall",
    "multiclass_accuracy",
    "dcg",
)
_LL_SCORES += ("macro_precision", "macro_recall")
_LL_LOSSES = ("mse", "absolute_loss", "rmse")

LINEAR_LEARNER_METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
    {
        "Name": "train:throughput",
        "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second",
    },
    {"Name": "train:objective_loss", "Regex": _quality("train", r"\S+_objective", "loss", epoch=True)},
    {"Name": "train:objective_loss:final", "Regex": _quality("train", r"\S+_objective", "loss")},
    {
        "Name": "validation:objective_loss",
        "Regex": _quality("validation", r"\S+_objective", "loss", epoch=True),
    },
    {"Name": "validation:objective_loss:final", "Regex": _quality("validation", r"\S+_objective", "loss")},
    {"Name": "test:objective_loss", "Regex": _quality("test", r"\S+_objective", "loss")},
    *[
        {"Name": f"{channel}:{name}", "Regex": _quality(channel, name, "score")}
        for channel in ("validation", "test")
        for name in _LL_SCORES
    ],
    *[
        {"Name": f"{channel}:{name}", "Regex": _quality(channel, pattern, "score")}
        for channel in ("validation", "test")
        for name, pattern in (
            ("binary_f_beta", r"binary_f_\S+"),
            ("macro_f_beta", r"macro_f_\S+"),
            ("multiclass_top_k_accuracy", r"multiclass_top_k_accuracy_\S+"),
        )
    ],
    *[
        {"Name": f"{channel}:{name}", "Regex": _quality(channel, name, "loss")}
        for channel in ("validation", "test")
        for name in _LL_LOSSES
    ],
]


def quality_line(
    host: str, channel: str, name: str, value: float, *, loss: bool, epoch: int | None = None
) -> str:
    """`#quality_metric: host=algo-1, [epoch=3, ]test msd <loss>=1.25` (score metrics say `<score>`)."""
    where = f"epoch={epoch}, " if epoch is not None else ""
    return (
        f"#quality_metric: host={host}, {where}{channel} {name} <{'loss' if loss else 'score'}>={value:.6g}"
    )


def progress_line(host: str, percent: float) -> str:
    return f"#progress_metric: host={host}, completed {percent:.1f} % of epochs"


def throughput_line(host: str, records_per_second: float) -> str:
    return f"#throughput_metric: host={host}, train throughput={records_per_second:.1f} records/second"
