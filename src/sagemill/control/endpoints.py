"""EndpointReconciler: one idempotent, locked step per endpoint per tick: fleets, health, routes."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

from sagemill.control.endpoint_instances import EndpointInstances
from sagemill.control.log_shipping import LogSink
from sagemill.control.rolling import RollingDriver, alarm_reader, fleet_routes
from sagemill.control.s3_uris import AccessProblem
from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment
from sagemill.domain.endpoints import (
    EndpointState,
    EndpointStatus,
    Variant,
    VariantStatusName,
    move,
    with_status,
)
from sagemill.domain.endpoints import fail as fail_endpoint
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource
from sagemill.executors.archives import UnsafeArchive
from sagemill.executors.base import Executor
from sagemill.metrics.invocations import EndpointRef
from sagemill.objectstore.base import ObjectStore
from sagemill.serving import instances as inst
from sagemill.serving.deploy import DeployProblem, plan_fleet
from sagemill.serving.router import Backend, EndpointRoute, RoutingTable, VariantRoute
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
    ) -> None:
        self.store = store
        self.objects = objects
        self.routes = routes
        self.root = root
        # Model-server processes: start, ping, replace, stop (tests and benches tune it there).
        self.instances = EndpointInstances(executor, logs, routes, root)
        self.rolling = RollingDriver(  # RollingUpdatePolicy deployments: control/rolling.py
            watch=self.instances.watch_all,
            retire=self.instances.retire,
            plan=self._plan,
            alarm_states=lambda resource: alarm_reader(self.store, resource),
            startup_timeout=self.instances.startup_timeout,
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
            self.instances.stop_all(resource, state)
            self.instances.sweep_orphans(resource, state)
            self._save(resource, state, None, now)
            return
        if state.status is E.CREATING:
            state = self._creating(resource, state, now)
        else:
            state = self._serving(resource, state, now)
        settled = state.status in (E.IN_SERVICE, E.UPDATE_ROLLBACK_FAILED) and not state.retiring
        next_at = None if state.status is E.FAILED else now + (HEALTH_SECONDS if settled else POLL_SECONDS)
        self.instances.sweep_orphans(resource, state)
        if settled:
            self.instances.sweep_models(resource, state)
        self._save(resource, state, next_at, now)

    # the steps

    def _creating(self, resource: Resource, state: EndpointState, now: float) -> EndpointState:
        if not state.fleet:
            try:
                fleet = self._plan(resource, state.config_name, now)
                shadows = self._plan(resource, state.config_name, now, shadow=True)
            except (DeployProblem, AccessProblem, UnsafeArchive) as exc:
                return fail_endpoint(state, str(exc))
            return replace(state, fleet=fleet, shadows=shadows)
        fleet, failure = self.instances.watch_all(resource, state.fleet, now, replace_dead=False)
        shadows, shadow_failure = self.instances.watch_all(resource, state.shadows, now, replace_dead=False)
        state = replace(state, fleet=fleet, shadows=shadows)
        if failure or shadow_failure:
            self.instances.stop_all(resource, state)
            return fail_endpoint(state, failure or shadow_failure)
        if all(v.complete for v in fleet + shadows):
            return replace(
                move(state, E.IN_SERVICE), fleet=_settled(fleet, now), shadows=_settled(shadows, now)
            )
        return state

    def _serving(self, resource: Resource, state: EndpointState, now: float) -> EndpointState:
        if rolling_deployment.is_rolling(state):
            return self.rolling.serve(resource, state, now)
        fleet, _ = self.instances.watch_all(resource, state.fleet, now, replace_dead=True)
        shadows, _ = self.instances.watch_all(resource, state.shadows, now, replace_dead=True)
        # Weights apply at once; capacities as instances come up or go.
        fleet = tuple(replace(v, current_weight=v.desired_weight) for v in fleet)
        shadows = tuple(replace(v, current_weight=v.desired_weight) for v in shadows)
        retiring = self.instances.retire(resource, state.retiring)
        state = replace(state, fleet=fleet, shadows=shadows, retiring=retiring)
        if state.status is not E.UPDATING:
            return state
        if not state.pending_config:
            if all(v.complete for v in fleet + shadows):
                return replace(
                    move(state, E.IN_SERVICE),
                    fleet=tuple(with_status(v, None, "", now) for v in fleet),
                    shadows=tuple(with_status(v, None, "", now) for v in shadows),
                )
            return state
        if not state.pending:
            try:
                pending = self._plan(resource, state.pending_config, now)
                pending_shadows = self._plan(resource, state.pending_config, now, shadow=True)
            except (DeployProblem, AccessProblem, UnsafeArchive) as exc:
                return self._roll_back(resource, state, str(exc))
            return replace(state, pending=pending, pending_shadows=pending_shadows)
        pending, failure = self.instances.watch_all(resource, state.pending, now, replace_dead=False)
        pending_shadows, shadow_failure = self.instances.watch_all(
            resource, state.pending_shadows, now, replace_dead=False
        )
        failure = failure or shadow_failure
        state = replace(state, pending=pending, pending_shadows=pending_shadows)
        pending += pending_shadows  # green's shadows must be up too before traffic is promoted
        guarded = state.extra.get(rollouts.DEPLOYMENT) is not None
        if failure and guarded:
            # An alarm that fired names the real cause; a green instance found dead may be its effect
            # (or what a crash between stopping green and saving the rollback left behind).
            state, outcome = rollouts.check_guards(state, now, alarm_reader(self.store, resource))
            if outcome.action == "rollback":
                return self._roll_back(resource, state, outcome.reason, worded=True)
        if failure:
            return self._roll_back(resource, state, failure)
        if guarded:
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
        return replace(
            move(state, E.IN_SERVICE),
            fleet=_settled(state.pending, now),
            shadows=_settled(state.pending_shadows, now),
            config_name=state.pending_config,
            pending=(),
            pending_shadows=(),
            pending_config="",
            pending_since=None,
            retiring=state.retiring + state.fleet + state.shadows,
        )

    def _roll_back(
        self, resource: Resource, state: EndpointState, reason: str, *, worded: bool = False
    ) -> EndpointState:
        # Green retires rather than stops here: the rollback is saved first, and green's instances stop
        # once their requests in flight drain (a crash in between leaves them listed, never half-done).
        if not worded:
            reason = f"Update failed, the endpoint kept its previous configuration: {reason}"
        state = rollouts.finish(state, "RolledBack", reason, time.time())
        return replace(
            move(state, E.IN_SERVICE),
            pending=(),
            pending_shadows=(),
            pending_config="",
            pending_since=None,
            retiring=state.retiring + state.pending + state.pending_shadows,
            failure_reason=reason[:1024],
        )

    def _delete(self, resource: Resource, state: EndpointState, now: float) -> None:
        key = resource.key
        self.routes.remove(key.account_id, key.region, key.name)
        # Every instance directory, also of one started by a step whose save then lost a race.
        running = self.instances.stop_every(resource)
        for variant in state.all_variants:
            for instance in variant.instances:
                self.instances.ship(resource, variant.name, instance, final=True)
        if running:
            self._save(resource, state, now + POLL_SECONDS, now)
            return
        shutil.rmtree(self.instances.endpoint_dir(resource), ignore_errors=True)
        self.store.delete_resource(key)

    def _plan(
        self, resource: Resource, config_name: str, now: float, *, shadow: bool = False
    ) -> tuple[Variant, ...]:
        key = resource.key
        return plan_fleet(
            self.store,
            self.objects,
            key.account_id,
            key.region,
            self.instances.endpoint_dir(resource),
            config_name,
            now,
            shadow=shadow,
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
        self.routes.publish(
            EndpointRoute(ref, state.config_name, fleet_routes(state), shadows=shadow_routes(state))
        )

    def _fail_safely(self, resource: Resource, now: float, reason: str) -> None:
        fresh = self.store.get_resource(resource.key)
        if fresh is None:
            return
        state = EndpointState.from_json(fresh.observed)
        if state.status in (E.FAILED, E.DELETING):
            return
        try:
            if state.status is E.CREATING:
                self.instances.stop_all(fresh, state)
                self._save(fresh, fail_endpoint(state, reason), None, now)
            else:  # a serving endpoint keeps serving; the next tick tries again
                self._save(fresh, replace(state, failure_reason=reason[:1024]), now + 1.0, now)
        except (VersionConflict, NotFound):
            log.warning("endpoint %s changed while being failed; retrying next tick", fresh.key.name)


def _settled(variants: tuple[Variant, ...], now: float) -> tuple[Variant, ...]:
    """Variants taking their desired weight, with no status left to report."""
    return tuple(with_status(replace(v, current_weight=v.desired_weight), None, "", now) for v in variants)


def shadow_routes(state: EndpointState) -> tuple[VariantRoute, ...]:
    """Each shadow variant's route; its weight is the share of requests copied to it.

    SageMaker allows one production variant beside a shadow; the share is the shadow's weight over the
    production weight, capped at 1 (a shadow weighted like production sees every request).
    """
    production = sum(v.current_weight for v in state.fleet)
    return tuple(
        VariantRoute(
            v.name,
            min(1.0, v.current_weight / production) if production > 0 else 0.0,
            tuple(Backend(i.instance_id, inst.HOST, i.port) for i in v.ready),
        )
        for v in state.shadows
    )
