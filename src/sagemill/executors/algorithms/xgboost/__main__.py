"""Runner for the built-in XGBoost in algorithm mode: `python -m sagemill.executors.algorithms.xgboost`."""

from __future__ import annotations

import logging
from typing import Any

from sagemill.executors.algorithms import job as job_module
from sagemill.executors.algorithms.channels import validate_channels
from sagemill.executors.algorithms.errors import UserError
from sagemill.executors.algorithms.job import Job
from sagemill.executors.algorithms.xgboost import data, hyperparameters, metrics, training

logger = logging.getLogger("sagemill.algorithm.xgboost")


def main(job: Job) -> None:
    if "sagemaker_program" in job.hyperparameters:
        raise UserError(
            "sagemaker_program is set: this job runs in script mode, not with the XGBoost algorithm"
        )
    config = hyperparameters.validate(job.hyperparameters)
    logger.info("Hyperparameters: %s", config)
    validate_channels(job, required=["train"], optional=["validation", "code"])
    if len(job.hosts) > 1:
        raise UserError("Sagemill runs the built-in XGBoost on one instance: set InstanceCount to 1")
    if "_kfold" in config:
        raise UserError("Hyperparameter _kfold: k-fold cross-validation is not supported by Sagemill yet")

    # The container reads every channel with the train channel's content type.
    kind = data.content_type(job.content_type("train"))
    csv_weights = int(config.get("csv_weights", 0))
    dtrain = data.load("train", job.channels["train"], kind, csv_weights)
    logger.info("Train matrix has %d rows and %d columns", dtrain.num_row(), dtrain.num_col())
    dvalidation = None
    if "validation" in job.channels:
        if job.channels["validation"] == job.channels["train"]:
            logger.warning("Found same path for training and validation. This is not recommended")
        dvalidation = data.load("validation", job.channels["validation"], kind, csv_weights)
        logger.info("Validation matrix has %d rows", dvalidation.num_row())
        if kind.format == "csv" and dvalidation.num_col() != dtrain.num_col():
            raise UserError(
                f"The validation data has {dvalidation.num_col()} feature columns but the training data has "
                f"{dtrain.num_col()}: both channels need the same columns (label first)"
            )

    booster = training.train(_plan(job, config), dtrain, dvalidation)
    path = training.save(booster, job.model_dir)
    logger.info("Stored trained model at %s", path)


def _plan(job: Job, config: dict[str, Any]) -> training.Plan:
    eval_metric = config.get("eval_metric")
    evaluation = metrics.plan(eval_metric, config.get("_tuning_objective_metric"))
    if evaluation.tuning:
        logger.info("Setting up HPO optimized metric to be : %s", evaluation.tuning)
    params = {k: v for k, v in config.items() if k not in hyperparameters.CONTAINER_ONLY}
    params.pop("eval_metric", None)
    if evaluation.native:
        params["eval_metric"] = evaluation.native
    if "updater" in params:
        params["updater"] = ",".join(params["updater"])
    if isinstance(params.get("monotone_constraints"), tuple | list):
        params["monotone_constraints"] = "(" + ",".join(str(c) for c in params["monotone_constraints"]) + ")"
    # Names the xgboost in use no longer knows, mapped to what the container's xgboost meant by them.
    if params.get("objective") == "reg:linear":
        params["objective"] = "reg:squarederror"
    if params.get("tree_method") == "gpu_hist":
        logger.warning("tree_method gpu_hist: this server's xgboost runs on CPU, using hist")
        params["tree_method"] = "hist"
    for removed in ("predictor", "lambda_bias", "dsplit"):
        if params.pop(removed, None) is not None:
            logger.warning("Hyperparameter %s has no effect in this xgboost version and is ignored", removed)
    params.setdefault("nthread", job.num_cpus)
    stopping_metric = evaluation.early_stopping_metric(eval_metric or [])
    return training.Plan(
        params=params,
        num_round=int(config["num_round"]),
        custom_metric=evaluation.custom_metric(str(params.get("objective", "reg:squarederror"))),
        early_stopping_rounds=config.get("early_stopping_rounds"),
        early_stopping_metric=stopping_metric,
        maximize=metrics.maximize(stopping_metric) if stopping_metric else False,
        checkpoint_dir=job.checkpoint_dir,
        save_model_on_termination=config.get("save_model_on_termination") == "true",
    )


if __name__ == "__main__":
    job_module.run(main)
