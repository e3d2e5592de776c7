"""TrainingJobReconciler: moves each training job one idempotent step per tick, from Starting to an end.

Every step persists its result before the next one starts (optimistic locking on the row), so a
restart of the server resumes where it stopped: a worker still running is observed again through
its work directory, one that finished while the server was down is finalized with its true status.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from sagemill.control import endpoint_capacity, training_data
from sagemill.control.log_shipping import LogSink, compile_definitions, match_metrics, read_new_lines
from sagemill.control.s3_uris import AccessProblem, parse_s3_uri
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource
from sagemill.domain.training import (
    SecondaryStatus,
    TrainingProgress,
    advance,
    fail,
    record_metric,
    request_stop,
)
from sagemill.executors import container
from sagemill.executors.archives import UnsafeArchive, extract_tar_gz
from sagemill.executors.base import Executor, WorkerPhase, WorkerSpec, WorkerState
from sagemill.executors.capacity import CapacityPlanner, Reservation, thread_env
from sagemill.executors.images import is_script_mode, metric_definitions, resolve_training_image, runner_argv
from sagemill.executors.opt_ml import OPT_ML, opt_ml_namespace_available, wrap_with_opt_ml
from sagemill.objectstore.base import NoSuchObject, ObjectStore
from sagemill.store.base import Store
from sagemill.store.metrics import MetricKey, MetricStore, Sample

log = logging.getLogger("sagemill.control.training")

KIND = "training_job"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"
STOP_GRACE_SECONDS = 120.0
POLL_SECONDS = 0.1
S = SecondaryStatus


class TrainingJobReconciler:
    """One tick: every due job takes one step. Never raises; a step's exception fails that job only."""

    def __init__(
        self,
        store: Store,
        objects: ObjectStore,
        executor: Executor,
        logs: LogSink,
        planner: CapacityPlanner,
        jobs_root: Path,
        *,
        job_env: dict[str, str] | None = None,
        python: str = sys.executable,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        metric_store: MetricStore | None = None,
    ) -> None:
        self.store = store
        self.metric_store = metric_store
        """Where matched MetricDefinitions values go as CloudWatch samples (None: nowhere)."""
        self.objects = objects
        self.executor = executor
        self.logs = logs
        self.planner = planner
        self.jobs_root = jobs_root
        self.job_env = dict(job_env or {})
        """Platform settings a job needs (pip index, venv cache); never credentials."""
        self.python = python
        self.stop_grace_seconds = stop_grace_seconds
        self._running: dict[str, Reservation] = {}

    def tick(self, now: float) -> None:
        for resource in self.store.due_resources(KIND, now, 100):
            try:
                self.step(resource, now)
            except (VersionConflict, NotFound):
                continue  # changed under us (StopTrainingJob); the next tick reads it again
            except Exception as exc:
                log.exception("training job %s: step failed", resource.key.name)
                self._fail_safely(resource, now, f"InternalServerError: {type(exc).__name__}: {exc}")

    # one step

    def step(self, resource: Resource, now: float) -> None:
        progress = TrainingProgress.from_json(resource.observed)
        if progress.ended:
            self._running.pop(resource.arn, None)
            self._save(resource, progress, None, now)
            return
        workdir = self.workdir(resource)
        state = self.executor.observe(_worker_dir(workdir))
        if state is None:
            self._before_worker(resource, progress, workdir, now)
        else:
            self._with_worker(resource, progress, workdir, state, now)

    def _before_worker(
        self, resource: Resource, progress: TrainingProgress, workdir: Path, now: float
    ) -> None:
        if progress.stop_requested:
            self._running.pop(resource.arn, None)
            self._save(resource, advance(progress, self._stopped_status(progress), now), None, now)
            return
        instance_type = resource.desired["ResourceConfig"]["InstanceType"]
        wanted = self.planner.reservation(instance_type)
        others = [r for arn, r in self._running.items() if arn != resource.arn]
        endpoints = endpoint_capacity.running_endpoints(self.store)
        held = others + endpoint_capacity.endpoint_reservations(self.planner, endpoints)
        # Endpoints limit how many jobs run beside them but never keep the only job waiting: on a laptop
        # one idle model server would otherwise block all training.
        if others and not self.planner.fits(wanted, held):
            message = (
                f"Waiting for capacity: {instance_type} needs {wanted.cpus} vCPUs and "
                f"{wanted.memory_mib} MiB; the machine is busy with {len(others)} other training jobs "
                f"and {endpoint_capacity.instance_count(endpoints)} endpoint instances."
            )
            self._save(resource, advance(progress, S.PENDING, now, message), now + 1.0, now)
            return
        self._running[resource.arn] = wanted
        resource = self._save(resource, advance(progress, S.DOWNLOADING, now), now + POLL_SECONDS, now)
        progress = TrainingProgress.from_json(resource.observed)
        try:
            spec = self._prepare(resource, workdir, wanted)
        except (AccessProblem, UnsafeArchive) as exc:
            self._running.pop(resource.arn, None)
            self._save(resource, fail(progress, now, str(exc)), None, now)
            return
        self.executor.start(spec)
        stream = f"{resource.key.name}/algo-1-{int(now)}"
        self._save(
            resource, replace(advance(progress, S.TRAINING, now), log_stream=stream), now + POLL_SECONDS, now
        )

    def _with_worker(
        self, resource: Resource, progress: TrainingProgress, workdir: Path, state: WorkerState, now: float
    ) -> None:
        if resource.arn not in self._running:  # adopted after a restart
            self._running[resource.arn] = self.planner.reservation(
                resource.desired["ResourceConfig"]["InstanceType"]
            )
        if progress.secondary in (S.STARTING, S.PENDING, S.DOWNLOADING):
            progress = advance(progress, S.TRAINING, now)
        finished = state.phase is not WorkerPhase.RUNNING
        progress = self._ship_logs(resource, progress, workdir, now, final=finished)
        if not finished:
            limit = float(resource.desired["StoppingCondition"]["MaxRuntimeInSeconds"])
            if progress.training_start is not None and now - progress.training_start > limit:
                progress = request_stop(progress, "MaxRuntimeExceeded", now)
            if progress.stop_requested and state.stop_requested_at is None:
                self.executor.stop(_worker_dir(workdir), self.stop_grace_seconds)
            self._save(resource, progress, now + POLL_SECONDS, now)
            return
        self._finish(resource, progress, workdir, state, now)

    def _finish(
        self, resource: Resource, progress: TrainingProgress, workdir: Path, state: WorkerState, now: float
    ) -> None:
        self._running.pop(resource.arn, None)
        layout = container.TrainingLayout(workdir / "opt" / "ml")
        if state.phase is WorkerPhase.LOST:
            self.executor.stop(_worker_dir(workdir), 0)  # end anything left in its process group
            reason = "InternalServerError: the training process was lost (its supervisor ended unexpectedly)."
            self._save(resource, fail(progress, now, reason), None, now)
            return
        if state.exit_code != 0 and not progress.stop_requested:
            self._save(resource, fail(progress, now, _failure_reason(layout, state)), None, now)
            return
        if progress.secondary is not S.UPLOADING:
            resource = self._save(resource, advance(progress, S.UPLOADING, now), now + POLL_SECONDS, now)
            progress = TrainingProgress.from_json(resource.observed)
        try:
            artifacts = self._upload(resource, layout, workdir)
        except (AccessProblem, NoSuchObject) as exc:
            self._save(resource, fail(progress, now, str(exc)), None, now)
            return
        end = S.COMPLETED if not progress.stop_requested else self._stopped_status(progress)
        self._save(resource, replace(advance(progress, end, now), model_artifacts=artifacts), None, now)

    # the work

    def workdir(self, resource: Resource) -> Path:
        key = resource.key
        return self.jobs_root / key.account_id / key.region / key.name.lower()

    def _prepare(self, resource: Resource, workdir: Path, wanted: Reservation) -> WorkerSpec:
        desired = resource.desired
        account = resource.key.account_id
        real = container.TrainingLayout(workdir / "opt" / "ml")
        if real.root.exists():  # a restart during Downloading: start the download over
            shutil.rmtree(real.root)
        channels = desired.get("InputDataConfig") or []
        real.create([c["ChannelName"] for c in channels])
        for channel in channels:
            training_data.stage_channel(self.store, self.objects, account, channel, real.input_data_dir)
        hyperparameters: dict[str, str] = dict(desired.get("HyperParameters") or {})
        runtime = resolve_training_image(desired["AlgorithmSpecification"]["TrainingImage"])
        if is_script_mode(runtime, hyperparameters):
            self._fetch_code(account, hyperparameters, real)
        checkpoint = desired.get("CheckpointConfig")
        if checkpoint:
            training_data.restore_prefix(
                self.store, self.objects, account, parse_s3_uri(checkpoint["S3Uri"]), real.checkpoints_dir
            )
        configs = [
            container.ChannelConfig(
                c["ChannelName"],
                c.get("InputMode") or desired["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                c["DataSource"]["S3DataSource"].get("S3DataDistributionType", "FullyReplicated"),
                c.get("RecordWrapperType", "None"),
                c.get("ContentType"),
            )
            for c in channels
        ]
        instance_type = desired["ResourceConfig"]["InstanceType"]
        container.write_hyperparameters(real, hyperparameters)
        container.write_resource_config(real, instance_type)
        container.write_input_data_config(real, configs)
        namespaced = opt_ml_namespace_available()
        seen = container.TrainingLayout(OPT_ML) if namespaced else real
        if checkpoint:
            container.write_checkpoint_config(real, checkpoint["S3Uri"], seen)
        container.prepare_home(workdir)
        env = container.training_env(
            layout=seen,
            job_name=resource.key.name,
            hyperparameters=hyperparameters,
            channels=configs,
            instance_type=instance_type,
            region=resource.key.region,
            num_cpus=wanted.cpus,
            home=workdir,
            environment={**self.job_env, **(desired.get("Environment") or {})},
            checkpointing=bool(checkpoint),
        )
        env |= thread_env(wanted.cpus)
        argv = runner_argv(runtime, hyperparameters, self.python)
        if namespaced:
            argv = wrap_with_opt_ml(argv, real.root)
        return WorkerSpec(
            workdir=_worker_dir(workdir),
            argv=argv,
            env=env,
            cwd=real.code_dir,
            labels={"TrainingJobArn": resource.arn, "account": account},
        )

    def _fetch_code(
        self, account: str, hyperparameters: dict[str, str], layout: container.TrainingLayout
    ) -> None:
        raw = hyperparameters.get("sagemaker_submit_directory")
        if not raw:
            return
        uri = str(container.decode_hyperparameter(raw))
        if not uri.startswith("s3://"):
            raise AccessProblem(
                f"ClientError: sagemaker_submit_directory must be an s3:// URI, got {uri[:256]}."
            )
        location = parse_s3_uri(uri)
        training_data.check_owned_location(self.store, account, location)
        try:
            _, chunks = self.objects.open_object(location.bucket, location.key)
        except NoSuchObject as exc:
            raise AccessProblem(f"ClientError: the source directory {uri} does not exist.") from exc
        archive = layout.root / "sourcedir.tar.gz"
        with archive.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        try:
            extract_tar_gz(archive, layout.code_dir)
        finally:
            archive.unlink(missing_ok=True)

    def _upload(self, resource: Resource, layout: container.TrainingLayout, workdir: Path) -> str:
        desired = resource.desired
        account = resource.key.account_id
        output = parse_s3_uri(desired["OutputDataConfig"]["S3OutputPath"]).child(resource.key.name, "output")
        model = training_data.upload_tree_as_tar(
            self.store, self.objects, account, layout.model_dir, output.child("model.tar.gz"), workdir
        )
        training_data.upload_tree_as_tar(
            self.store, self.objects, account, layout.output_data_dir, output.child("output.tar.gz"), workdir
        )
        checkpoint = desired.get("CheckpointConfig")
        if checkpoint:
            training_data.upload_prefix(
                self.store, self.objects, account, layout.checkpoints_dir, parse_s3_uri(checkpoint["S3Uri"])
            )
        return model

    def _ship_logs(
        self, resource: Resource, progress: TrainingProgress, workdir: Path, now: float, *, final: bool
    ) -> TrainingProgress:
        log_file = self.executor.log_path(_worker_dir(workdir))
        lines, offset = read_new_lines(log_file, progress.log_offset, final=final)
        if not lines:
            return progress
        key = resource.key
        stream = progress.log_stream or f"{key.name}/algo-1-{int(now)}"
        stamp = int(now * 1000)
        self.logs.append(key.account_id, key.region, LOG_GROUP, stream, [(stamp, line) for line in lines])
        algorithm = resource.desired["AlgorithmSpecification"]
        definitions = compile_definitions(
            algorithm.get("MetricDefinitions")
            or metric_definitions(resolve_training_image(algorithm["TrainingImage"]))
        )
        samples: list[tuple[MetricKey, Sample]] = []
        for line in lines:
            for name, value in match_metrics(line, definitions):
                progress = record_metric(progress, name, value, now)
                if not math.isfinite(value):
                    continue  # CloudWatch stores finite values only
                # As SageMaker publishes them, for TrainingJobAnalytics (GetMetricStatistics by job).
                for dims in ((("TrainingJobName", key.name),), (("Host", f"{key.name}/algo-1"),)):
                    metric = MetricKey(key.account_id, key.region, METRIC_NAMESPACE, name, dims)
                    samples.append((metric, Sample(int(now), 1, value, value, value, value)))
        if samples and self.metric_store is not None:
            try:
                self.metric_store.put_samples(samples)
            except Exception:  # metrics are best effort: the job's own progress must still be saved
                log.exception("could not store %d training metric samples of %s", len(samples), key.name)
        return replace(progress, log_offset=offset, log_stream=stream)

    # persistence

    def _save(
        self, resource: Resource, progress: TrainingProgress, next_at: float | None, now: float
    ) -> Resource:
        updated = replace(
            resource,
            observed=progress.to_json(),
            status=progress.status.value,
            status_reason=progress.failure_reason,
            next_action_at=None if progress.ended else next_at,
            updated_at=now,
        )
        return self.store.update_resource(updated, resource.version)

    def _fail_safely(self, resource: Resource, now: float, reason: str) -> None:
        fresh = self.store.get_resource(resource.key)
        if fresh is None:
            return
        progress = TrainingProgress.from_json(fresh.observed)
        if progress.ended:
            return
        worker = _worker_dir(self.workdir(fresh))
        if self.executor.observe(worker) is not None:
            self.executor.stop(worker, 0)
        self._running.pop(fresh.arn, None)
        try:
            self._save(fresh, fail(progress, now, reason), None, now)
        except (VersionConflict, NotFound):
            log.warning("training job %s changed while being failed; retrying next tick", fresh.key.name)

    @staticmethod
    def _stopped_status(progress: TrainingProgress) -> SecondaryStatus:
        return S.MAX_RUNTIME_EXCEEDED if progress.stop_requested == "MaxRuntimeExceeded" else S.STOPPED


def _worker_dir(workdir: Path) -> Path:
    """The executor's own files live beside the job's /opt/ml tree, not inside it."""
    return workdir / "worker"


def _failure_reason(layout: container.TrainingLayout, state: WorkerState) -> str:
    try:
        text = layout.failure_file.read_text(errors="replace").strip()
    except OSError:
        text = ""
    if text:
        return text[:1024]
    code = state.exit_code
    if code is not None and code < 0:
        return f"AlgorithmError: the training process was killed by signal {-code}."
    return f"AlgorithmError: the training process exited with code {code} and wrote no failure reason."


def summarize(resource: Resource) -> dict[str, Any]:
    """A one-line view for operators and the CLI."""
    progress = TrainingProgress.from_json(resource.observed)
    return {"name": resource.key.name, "status": progress.status.value, "secondary": progress.secondary.value}
