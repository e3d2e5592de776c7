"""EndpointReconciler: one idempotent, locked step per endpoint per tick: fleets, health, routes."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from sagemill.control.log_shipping import LogSink, read_new_lines
from sagemill.control.rolling import RollingDriver, alarm_reader, fleet_routes
from sagemill.control.s3_uris import AccessProblem
from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment
from sagemill.domain.endpoints import (
    STABLE_SECONDS,
    EndpointState,
    EndpointStatus,
    Instance,
    Variant,
    VariantStatusName,
    backoff_message,
    move,
    record_failure,
    with_status,
)
from sagemill.domain.endpoints import fail as fail_endpoint
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource
from sagemill.executors.archives import UnsafeArchive
from sagemill.executors.base import Executor, WorkerPhase, WorkerSpec
from sagemill.metrics.invocations import EndpointRef
from sagemill.objectstore.base import ObjectStore
from sagemill.serving import instances as inst
from sagemill.serving.deploy import DeployProblem, plan_fleet
from sagemill.serving.router import Backend, EndpointRoute, RoutingTable
from sagemill.store.base import Store

log = logging.getLogger("sagemill.control.endpoints")

KIND = "endpoint"
POLL_SECONDS = 0.1
HEALTH_SECONDS = 0.5
E = EndpointStatus
V = VariantStatusName


class EndpointReconciler:
    """One tick: every due endpoint takes one step. Never raises; a step's exception fails that endpoint."""

    def __init__(
        self,
        store: Store,
        objects: ObjectStore,
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
        self.store = store
        self.objects = objects
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
        self._ended: set[Path] = set()  # worker dirs seen ended: the orphan sweep skips them
        self.rolling = RollingDriver(  # RollingUpdatePolicy deployments: control/rolling.py
            watch=self._watch_all,
            retire=self._retire,
            plan=self._plan,
            alarm_states=lambda resource: alarm_reader(self.store, resource),
            startup_timeout=startup_timeout,
        )

    def tick(self, now: float) -> None:
        for resource in self.store.due_resources(KIND, now, 100):
            try:
                self.step(resource, now)
            except (VersionConflict, NotFound):
                continue  # changed under us (an update or delete); the next tick reads it again
            except Exception as exc:
                log.exception("endpoint %s: step failed", resource.key.name)
                self._fail_safely(resource, now, f"InternalServerError: {type(exc).__name__}: {exc}")

    def step(self, resource: Resource, now: float) -> None:
        state = EndpointState.from_json(resource.observed)
        if state.status is E.DELETING:
            self._delete(resource, state, now)
            return
        if state.status is E.FAILED:
            self._stop_all(resource, state)
            self._sweep_orphans(resource, state)
            self._save(resource, state, None, now)
            return
        if state.status is E.CREATING:
            state = self._creating(resource, state, now)
        else:
            state = self._serving(resource, state, now)
        settled = state.status in (E.IN_SERVICE, E.UPDATE_ROLLBACK_FAILED) and not state.retiring
        next_at = None if state.status is E.FAILED else now + (HEALTH_SECONDS if settled else POLL_SECONDS)
        self._sweep_orphans(resource, state)
        self._save(resource, state, next_at, now)

    # the steps

    def _creating(self, resource: Resource, state: EndpointState, now: float) -> EndpointState:
        if not state.fleet:
            try:
                fleet = self._plan(resource, state.config_name, now)
            except (DeployProblem, AccessProblem, UnsafeArchive) as exc:
                return fail_endpoint(state, str(exc))
            return replace(state, fleet=fleet)
        fleet, failure = self._watch_all(resource, state.fleet, now, replace_dead=False)
        state = replace(state, fleet=fleet)
        if failure:
            self._stop_all(resource, state)
            return fail_endpoint(state, failure)
        if all(v.complete for v in fleet):
            done = tuple(
                with_status(replace(v, current_weight=v.desired_weight), None, "", now) for v in fleet
            )
            return replace(move(state, E.IN_SERVICE), fleet=done)
        return state

    def _serving(self, resource: Resource, state: EndpointState, now: float) -> EndpointState:
        if rolling_deployment.is_rolling(state):
            return self.rolling.serve(resource, state, now)
        fleet, _ = self._watch_all(resource, state.fleet, now, replace_dead=True)
        # Weights apply at once; capacities as instances come up or go.
        fleet = tuple(replace(v, current_weight=v.desired_weight) for v in fleet)
        state = replace(state, fleet=fleet, retiring=self._retire(resource, state.retiring))
        if state.status is not E.UPDATING:
            return state
        if not state.pending_config:
            if all(v.complete for v in fleet):
                return replace(
                    move(state, E.IN_SERVICE), fleet=tuple(with_status(v, None, "", now) for v in fleet)
                )
            return state
        if not state.pending:
            try:
                return replace(state, pending=self._plan(resource, state.pending_config, now))
            except (DeployProblem, AccessProblem, UnsafeArchive) as exc:
                return self._roll_back(resource, state, str(exc))
        pending, failure = self._watch_all(resource, state.pending, now, replace_dead=False)
        state = replace(state, pending=pending)
        if failure:
            return self._roll_back(resource, state, failure)
        if state.extra.get(rollouts.DEPLOYMENT) is not None:
            alarms = alarm_reader(self.store, resource)
            if all(v.complete for v in pending):
                state, outcome = rollouts.advance(state, now, alarms)
            else:
                state, outcome = rollouts.check_guards(state, now, alarms)
            if outcome.action == "rollback":
                return self._roll_back(resource, state, outcome.reason, worded=True)
            if outcome.action != "promote":
                return state
            state = rollouts.finish(state, "Completed", "", now)
        elif not all(v.complete for v in pending):
            return state
        # Every new instance answers /ping: traffic moves now; the old fleet drains, then stops.
        promoted = tuple(
            with_status(replace(v, current_weight=v.desired_weight), None, "", now) for v in pending
        )
        return replace(
            move(state, E.IN_SERVICE),
            fleet=promoted,
            config_name=state.pending_config,
            pending=(),
            pending_config="",
            pending_since=None,
            retiring=state.retiring + state.fleet,
        )

    def _roll_back(
        self, resource: Resource, state: EndpointState, reason: str, *, worded: bool = False
    ) -> EndpointState:
        for variant in state.pending:
            self._stop_variant(resource, variant)
        if not worded:
            reason = f"Update failed, the endpoint kept its previous configuration: {reason}"
        state = rollouts.finish(state, "RolledBack", reason, time.time())
        return replace(
            move(state, E.IN_SERVICE),
            pending=(),
            pending_config="",
            pending_since=None,
            failure_reason=reason[:1024],
        )

    def _retire(self, resource: Resource, retiring: tuple[Variant, ...]) -> tuple[Variant, ...]:
        """Stop retired variants once no request is in flight on them."""
        left = []
        for variant in retiring:
            busy = any(
                self.routes.in_flight(Backend(i.instance_id, inst.HOST, i.port)) for i in variant.instances
            )
            if busy:
                left.append(variant)
            else:
                self._stop_variant(resource, variant)
        return tuple(left)

    def _delete(self, resource: Resource, state: EndpointState, now: float) -> None:
        key = resource.key
        self.routes.remove(key.account_id, key.region, key.name)
        # Every instance directory, also of one started by a step whose save then lost a race.
        base = self._endpoint_dir(resource) / "instances"
        running = bool(list(inst.stop_orphans(self.executor, base, set(), self._ended, grace=2.0)))
        for variant in state.fleet + state.pending + state.retiring:
            for instance in variant.instances:
                self._ship(resource, variant.name, instance, final=True)
        if running:
            self._save(resource, state, now + POLL_SECONDS, now)
            return
        shutil.rmtree(self._endpoint_dir(resource), ignore_errors=True)
        self.store.delete_resource(key)

    # instances

    def _watch_all(
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
            workdir = self._worker_dir(resource, instance.instance_id)
            observed = self.executor.observe(workdir)
            alive = observed is not None and observed.phase is WorkerPhase.RUNNING
            instance = self._ship(resource, variant.name, instance, final=not alive)
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
            kept.append(self._start(resource, variant, now))
            variant = replace(variant, launched=variant.launched + 1)
        if len(kept) > variant.desired_count:
            # Scale in: unready instances go first, then the newest.
            order = sorted(kept, key=lambda i: (i.ready, -i.started_at))
            for extra in order[: len(kept) - variant.desired_count]:
                self.executor.stop(self._worker_dir(resource, extra.instance_id), 5.0)
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

    def _start(self, resource: Resource, variant: Variant, now: float) -> Instance:
        """Start the variant's next slot; if a step that lost its save (or a crash) started it, adopt it."""
        instance_id = inst.slot_instance_id(
            resource.arn, variant.model_dir, variant.deployed_at, variant.launched
        )
        port = inst.instance_port(self._worker_dir(resource, instance_id).parent)
        model_dir = Path(variant.model_dir)
        self.executor.start(
            WorkerSpec(
                workdir=self._worker_dir(resource, instance_id),
                argv=inst.server_argv(self.python, self.server_module, variant.kind, model_dir, port),
                env=inst.server_env(variant.environment, self.server_env),
                cwd=model_dir,
                labels={"EndpointArn": resource.arn, "variant": variant.name, "instance": instance_id},
            )
        )
        return Instance(instance_id, port, now)

    def _stop_variant(self, resource: Resource, variant: Variant) -> None:
        for instance in variant.instances:
            self.executor.stop(self._worker_dir(resource, instance.instance_id), 5.0)
            self._ship(resource, variant.name, instance, final=True)

    def _stop_all(self, resource: Resource, state: EndpointState) -> None:
        for variant in state.fleet + state.pending + state.retiring:
            for instance in variant.instances:
                self.executor.stop(self._worker_dir(resource, instance.instance_id), 0)

    def _sweep_orphans(self, resource: Resource, state: EndpointState) -> None:
        """Stop workers the state does not hold: started by a step whose save lost, or before a crash."""
        known = {i.instance_id for v in state.fleet + state.pending + state.retiring for i in v.instances}
        base = self._endpoint_dir(resource) / "instances"
        for orphan in inst.stop_orphans(self.executor, base, known, self._ended):
            log.warning("endpoint %s: stopped orphan instance %s", resource.key.name, orphan)

    def _ship(self, resource: Resource, variant: str, instance: Instance, *, final: bool) -> Instance:
        """Append the instance's new output to /aws/sagemaker/Endpoints/<endpoint>, stream <variant>/<id>."""
        path = self.executor.log_path(self._worker_dir(resource, instance.instance_id))
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

    def _plan(self, resource: Resource, config_name: str, now: float) -> tuple[Variant, ...]:
        key = resource.key
        return plan_fleet(
            self.store,
            self.objects,
            key.account_id,
            key.region,
            self._endpoint_dir(resource),
            config_name,
            now,
        )

    # persistence and routing

    def _save(self, resource: Resource, state: EndpointState, next_at: float | None, now: float) -> Resource:
        before = EndpointState.from_json(resource.observed)
        moved = (before.status, before.config_name) != (state.status, state.config_name)
        updated = replace(
            resource,
            observed=state.to_json(),
            status=state.status.value,
            status_reason=state.failure_reason,
            next_action_at=next_at,
            updated_at=round(now, 3) if moved else resource.updated_at,
        )
        saved = self.store.update_resource(updated, resource.version)
        self._publish(resource, state)
        return saved

    def _publish(self, resource: Resource, state: EndpointState) -> None:
        key = resource.key
        if not state.serving:
            self.routes.remove(key.account_id, key.region, key.name)
            return
        ref = EndpointRef(key.account_id, key.region, key.name)
        self.routes.publish(EndpointRoute(ref, state.config_name, fleet_routes(state)))

    def _fail_safely(self, resource: Resource, now: float, reason: str) -> None:
        fresh = self.store.get_resource(resource.key)
        if fresh is None:
            return
        state = EndpointState.from_json(fresh.observed)
        if state.status in (E.FAILED, E.DELETING):
            return
        try:
            if state.status is E.CREATING:
                self._stop_all(fresh, state)
                self._save(fresh, fail_endpoint(state, reason), None, now)
            else:  # a serving endpoint keeps serving; the next tick tries again
                self._save(fresh, replace(state, failure_reason=reason[:1024]), now + 1.0, now)
        except (VersionConflict, NotFound):
            log.warning("endpoint %s changed while being failed; retrying next tick", fresh.key.name)

    def _endpoint_dir(self, resource: Resource) -> Path:
        key = resource.key
        return self.root / key.account_id / key.region / key.name.lower()

    def _worker_dir(self, resource: Resource, instance_id: str) -> Path:
        return self._endpoint_dir(resource) / "instances" / instance_id / "worker"
