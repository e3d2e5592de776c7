"""EndpointInstances: an endpoint's model-server processes: start, ping, replace, stop, ship their logs."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from sagemill.control.log_shipping import LogSink, read_new_lines
from sagemill.domain.endpoints import (
    STABLE_SECONDS,
    EndpointState,
    Instance,
    Variant,
    VariantStatusName,
    backoff_message,
    record_failure,
    with_status,
)
from sagemill.domain.resources import Resource
from sagemill.executors.base import Executor, WorkerPhase, WorkerSpec
from sagemill.serving import instances as inst
from sagemill.serving.router import Backend, RoutingTable

log = logging.getLogger("sagemill.control.endpoints")

V = VariantStatusName


class EndpointInstances:
    """The I/O on instances that the endpoint reconciler and the rolling driver decide about."""

    def __init__(
        self,
        executor: Executor,
        logs: LogSink,
        routes: RoutingTable,
        root: Path,
        *,
        python: str = sys.executable,
        server_module: str = inst.SERVER_MODULE,
        server_env: Mapping[str, str] | None = None,
        ping_timeout: float = 0.5,
        max_ping_failures: int = 3,
        startup_timeout: float = 120.0,
    ) -> None:
        self.executor = executor
        self.logs = logs
        self.routes = routes
        self.root = root
        self.python = python
        self.server_module = server_module
        self.server_env = dict(server_env or {})
        self.ping_timeout = ping_timeout
        self.max_ping_failures = max_ping_failures
        self.startup_timeout = startup_timeout
        self.ended: set[Path] = set()  # worker dirs seen ended: the orphan sweep skips them
        self._kept_models: dict[str, frozenset[str]] = {}  # endpoint ARN -> model dirs last swept around

    def retire(self, resource: Resource, retiring: tuple[Variant, ...]) -> tuple[Variant, ...]:
        """Stop retired variants once no request is in flight on them."""
        left = []
        for variant in retiring:
            busy = any(
                self.routes.in_flight(Backend(i.instance_id, inst.HOST, i.port)) for i in variant.instances
            )
            if busy:
                left.append(variant)
            else:
                self.stop_variant(resource, variant)
        return tuple(left)

    def watch_all(
        self, resource: Resource, fleet: tuple[Variant, ...], now: float, *, replace_dead: bool
    ) -> tuple[tuple[Variant, ...], str]:
        watched = []
        failure = ""
        for variant in fleet:
            variant, problem = self._watch(resource, variant, now, replace_dead=replace_dead)
            watched.append(variant)
            failure = failure or problem
        return tuple(watched), failure

    def _watch(
        self, resource: Resource, variant: Variant, now: float, *, replace_dead: bool
    ) -> tuple[Variant, str]:
        """Ping, replace the dead or hung, scale to the desired count; a failure reason if one may not die."""
        kept: list[Instance] = []
        failure = ""
        for instance in variant.instances:
            workdir = self.worker_dir(resource, instance.instance_id)
            observed = self.executor.observe(workdir)
            alive = observed is not None and observed.phase is WorkerPhase.RUNNING
            instance = self.ship(resource, variant.name, instance, final=not alive)
            if not alive:
                reason = inst.exit_reason(self.executor.log_path(workdir), observed, instance.instance_id)
                if not replace_dead:
                    return replace(variant, instances=(*kept, instance)), reason
                log.warning("endpoint %s: replacing %s: %s", resource.key.name, instance.instance_id, reason)
                self.executor.stop(workdir, 0)
                variant = record_failure(variant, reason, now)
                continue
            if instance.ready:
                healthy = inst.ping(instance.port, self.ping_timeout)
                failures = 0 if healthy else instance.ping_failures + 1
                if failures >= self.max_ping_failures:
                    log.warning(
                        "endpoint %s: %s stopped answering /ping", resource.key.name, instance.instance_id
                    )
                    self.executor.stop(workdir, 0)
                    hung = f"The model server of instance {instance.instance_id} stopped answering /ping."
                    variant = record_failure(variant, hung, now)
                    continue
                instance = replace(instance, ping_failures=failures)
            elif inst.ping(instance.port, self.ping_timeout):
                instance = replace(instance, ready=True)
            elif now - instance.started_at > self.startup_timeout and not replace_dead:
                failure = (
                    f"The primary container for production variant {variant.name} did not pass the ping "
                    f"health check within {int(self.startup_timeout)} seconds."
                )
            kept.append(instance)
        backing_off = variant.retry_at is not None and now < variant.retry_at
        while len(kept) < variant.desired_count and not backing_off:
            kept.append(self.start(resource, variant, now))
            variant = replace(variant, launched=variant.launched + 1)
        if len(kept) > variant.desired_count:
            # Scale in: unready instances go first, then the newest.
            order = sorted(kept, key=lambda i: (i.ready, -i.started_at))
            for extra in order[: len(kept) - variant.desired_count]:
                self.executor.stop(self.worker_dir(resource, extra.instance_id), 5.0)
                kept.remove(extra)
        variant = replace(variant, instances=tuple(kept))
        if variant.failures and variant.complete and now >= (variant.retry_at or 0) + STABLE_SECONDS:
            variant = replace(variant, failures=0, retry_at=None, last_failure="")  # healthy again
        if variant.failures and not variant.complete:
            variant = with_status(variant, V.UPDATING, backoff_message(variant), now)
        elif not variant.complete:
            status = V.CREATING if not variant.ready else V.UPDATING
            variant = with_status(variant, status, f"Launching {variant.desired_count} instance(s).", now)
        elif replace_dead:
            variant = with_status(variant, None, "", now)
        return variant, failure

    def start(self, resource: Resource, variant: Variant, now: float) -> Instance:
        """Start the variant's next slot; if a step that lost its save (or a crash) started it, adopt it."""
        instance_id = inst.slot_instance_id(
            resource.arn, variant.model_dir, variant.deployed_at, variant.launched
        )
        port = inst.instance_port(self.worker_dir(resource, instance_id).parent)
        model_dir = Path(variant.model_dir)
        self.executor.start(
            WorkerSpec(
                workdir=self.worker_dir(resource, instance_id),
                argv=inst.server_argv(self.python, self.server_module, variant.kind, model_dir, port),
                env=inst.server_env(variant.environment, self.server_env),
                cwd=model_dir,
                labels={"EndpointArn": resource.arn, "variant": variant.name, "instance": instance_id},
            )
        )
        return Instance(instance_id, port, now)

    def stop_variant(self, resource: Resource, variant: Variant) -> None:
        for instance in variant.instances:
            self.executor.stop(self.worker_dir(resource, instance.instance_id), 5.0)
            self.ship(resource, variant.name, instance, final=True)

    def stop_all(self, resource: Resource, state: EndpointState) -> None:
        for variant in state.all_variants:
            for instance in variant.instances:
                self.executor.stop(self.worker_dir(resource, instance.instance_id), 0)

    def sweep_orphans(self, resource: Resource, state: EndpointState) -> None:
        """Stop workers the state does not hold: started by a step whose save lost, or before a crash."""
        known = {i.instance_id for v in state.all_variants for i in v.instances}
        base = self.endpoint_dir(resource) / "instances"
        for orphan in inst.stop_orphans(self.executor, base, known, self.ended):
            log.warning("endpoint %s: stopped orphan instance %s", resource.key.name, orphan)

    def stop_every(self, resource: Resource) -> bool:
        """Stop every instance directory's worker, listed or not; whether any was still running."""
        base = self.endpoint_dir(resource) / "instances"
        return bool(list(inst.stop_orphans(self.executor, base, set(), self.ended, grace=2.0)))

    def sweep_models(self, resource: Resource, state: EndpointState) -> None:
        """Remove the model directories of retired deployments once the endpoint has settled on one."""
        kept = frozenset(v.model_dir for v in state.all_variants)
        if self._kept_models.get(resource.arn) == kept:
            return  # nothing retired since the last sweep
        models = self.endpoint_dir(resource) / "models"
        for config_dir in models.iterdir() if models.is_dir() else ():
            for model_dir in config_dir.iterdir():
                if str(model_dir) not in kept:
                    shutil.rmtree(model_dir, ignore_errors=True)
            if not any(config_dir.iterdir()):
                config_dir.rmdir()
        self._kept_models[resource.arn] = kept

    def ship(self, resource: Resource, variant: str, instance: Instance, *, final: bool) -> Instance:
        """Append the instance's new output to /aws/sagemaker/Endpoints/<endpoint>, stream <variant>/<id>."""
        path = self.executor.log_path(self.worker_dir(resource, instance.instance_id))
        lines, offset = read_new_lines(path, instance.log_offset, final=final)
        if not lines:
            return instance
        key = resource.key
        stamp = int(time.time() * 1000)
        group = f"/aws/sagemaker/Endpoints/{key.name}"
        self.logs.append(
            key.account_id,
            key.region,
            group,
            f"{variant}/{instance.instance_id}",
            [(stamp, x) for x in lines],
        )
        return replace(instance, log_offset=offset)

    def endpoint_dir(self, resource: Resource) -> Path:
        key = resource.key
        return self.root / key.account_id / key.region / key.name.lower()

    def worker_dir(self, resource: Resource, instance_id: str) -> Path:
        return self.endpoint_dir(resource) / "instances" / instance_id / "worker"
