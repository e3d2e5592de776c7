"""Runner for the built-in k-means (`kmeans:1`): `python -m sagemill.executors.algorithms.kmeans`.

Same two stages as AWS's web-scale k-means, on scikit-learn: `epochs` passes of mini-batch k-means
(`MiniBatchKMeans.partial_fit`, batches of `mini_batch_size`) over `k x extra_center_factor` centers, then a
weighted local Lloyd's run (`KMeans` on those centers, weighted by their cluster sizes, `local_lloyd_*`)
that reduces them to `k`. Input: `train` (+ optional `test`) as RecordIO-protobuf (the default) or
`text/csv` with features only. `half_life_time_size` and `force_dense` are accepted and have no effect
(the data is always dense here), nor have the `_`-prefixed internal settings the SDK may send.
Metrics: `#quality_metric: host=algo-1, test msd <loss>=...` for each of `eval_metrics` on the test
channel, and the train msd after every epoch. Model: `model_algo-1`, the k x feature_dim centroids
(see model_file).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans  # type: ignore[import-untyped]

from sagemill.executors.algorithms import arrays, model_file
from sagemill.executors.algorithms import job as job_module
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
    Schema,
    StringList,
)
from sagemill.executors.algorithms.job import Job
from sagemill.executors.algorithms.metric_definitions import progress_line, quality_line

logger = logging.getLogger("sagemill.algorithm.kmeans")

DEFAULT_CONTENT_TYPE = "application/x-recordio-protobuf"
AUTO_EXTRA_CENTER_FACTOR = 2
SEED = 0  # fixed, so that a job rerun on the same data gives the same centroids

SCHEMA = Schema(
    parameters=[
        Integer("feature_dim", Interval(min_closed=1), required=True),
        Integer("k", Interval(min_closed=1), required=True),
        Integer("epochs", Interval(min_closed=1), default=1),
        Categorical("init_method", ["random", "kmeans++"], default="random"),
        Integer("mini_batch_size", Interval(min_closed=1), default=5000),
        Integer("local_lloyd_max_iter", Interval(min_closed=1), default=300),
        Continuous("local_lloyd_tol", Interval(min_closed=0, max_closed=1), default=0.0001),
        AutoOr(
            "local_lloyd_num_trials",
            Integer("local_lloyd_num_trials", Interval(min_closed=1)),
            default="auto",
        ),
        Categorical("local_lloyd_init_method", ["random", "kmeans++"], default="kmeans++"),
        Integer("half_life_time_size", Interval(min_closed=0), default=0),
        AutoOr("extra_center_factor", Integer("extra_center_factor", Interval(min_closed=1)), default="auto"),
        StringList("eval_metrics", lambda m: m in ("msd", "ssd"), ["msd", "ssd"], default='["msd"]'),
        Boolean("force_dense", default="true"),
        Categorical("_tuning_objective_metric", ["test:msd", "test:ssd"]),
    ],
    # The Amazon algorithms take internal `_name` settings (_kvstore, _num_gpus, ...) and platform keys.
    ignore=lambda name: (
        name.startswith("sagemaker_") or (name.startswith("_") and name != "_tuning_objective_metric")
    ),
)


def main(job: Job) -> None:
    config = SCHEMA.validate(job.hyperparameters)
    logger.info("Hyperparameters: %s", config)
    validate_channels(job, required=["train"], optional=["test"])
    feature_dim, k = int(config["feature_dim"]), int(config["k"])

    train = _load(job, "train", feature_dim)
    if train.rows < k:
        raise UserError(f"k={k} is larger than the number of training records ({train.rows})")
    centroids = _fit(job, config, train.features)

    msd = float(_squared_distances(train.features, centroids).mean())
    print(quality_line(job.current_host, "train", "msd", msd, loss=True), flush=True)
    if "test" in job.channels:
        test = _load(job, "test", feature_dim)
        squared = _squared_distances(test.features, centroids)
        for metric in config["eval_metrics"]:
            value = float(squared.mean() if metric == "msd" else squared.sum())
            print(quality_line(job.current_host, "test", metric, value, loss=True), flush=True)

    path = job.model_dir / model_file.MODEL_FILE_NAME
    meta = {"algorithm": "kmeans", "feature_dim": feature_dim, "k": k}
    model_file.save(path, meta, {"centroids": centroids})
    logger.info("Stored trained model at %s", path)


def _load(job: Job, channel: str, feature_dim: int) -> arrays.Dataset:
    kind = parse_content_type(job.content_type(channel) or DEFAULT_CONTENT_TYPE, (CSV, RECORDIO_PROTOBUF))
    return arrays.load(nonempty_files(channel, job.channels[channel]), kind, feature_dim, with_label=False)


def _fit(job: Job, config: dict[str, Any], features: arrays.Matrix) -> arrays.Matrix:
    k, epochs = int(config["k"]), int(config["epochs"])
    factor = config["extra_center_factor"]
    centers = min(k * (AUTO_EXTRA_CENTER_FACTOR if factor == "auto" else int(factor)), len(features))
    # partial_fit initialises its centers from its first batch, which must hold at least that many rows.
    batch_size = max(int(config["mini_batch_size"]), centers)
    init = "k-means++" if config["init_method"] == "kmeans++" else "random"
    online = MiniBatchKMeans(
        n_clusters=centers, init=init, batch_size=batch_size, n_init=1, random_state=SEED
    )
    rng = np.random.default_rng(SEED)
    for epoch in range(epochs):
        order = rng.permutation(len(features))
        for start in range(0, len(order), batch_size):
            batch = features[order[start : start + batch_size]]
            if len(batch) >= centers or hasattr(online, "cluster_centers_"):
                online.partial_fit(batch)
        msd = float(_squared_distances(features, online.cluster_centers_).mean())
        print(quality_line(job.current_host, "train", "msd", msd, loss=True, epoch=epoch), flush=True)
        print(progress_line(job.current_host, 100.0 * (epoch + 1) / epochs), flush=True)
    found = np.asarray(online.cluster_centers_, dtype=np.float64)
    if centers == k:
        return found
    # Local Lloyd's: cluster the extra centers, each weighted by how many records it holds, down to k.
    counts = np.bincount(online.predict(features), minlength=centers).astype(np.float64)
    trials = config["local_lloyd_num_trials"]
    lloyd = KMeans(
        n_clusters=k,
        init="k-means++" if config["local_lloyd_init_method"] == "kmeans++" else "random",
        n_init=1 if trials == "auto" else int(trials),
        max_iter=int(config["local_lloyd_max_iter"]),
        tol=float(config["local_lloyd_tol"]),
        random_state=SEED,
    )
    lloyd.fit(found, sample_weight=counts + 1e-9)
    return np.asarray(lloyd.cluster_centers_, dtype=np.float64)


def _squared_distances(features: arrays.Matrix, centroids: arrays.Matrix) -> arrays.Matrix:
    """Squared Euclidean distance of each row to its closest centroid."""
    closest = np.full(len(features), np.inf)
    for centroid in centroids:  # one centroid at a time keeps memory at O(rows), not O(rows x k)
        closest = np.minimum(closest, ((features - centroid) ** 2).sum(axis=1))
    return closest


if __name__ == "__main__":
    job_module.run(main)
