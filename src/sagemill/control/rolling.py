"""Deployment I/O beside the endpoint reconciler: the rolling-update driver, guard alarms, fleet routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from sagemill.control.s3_uris import AccessProblem
from sagemill.domain import rolling_deployment as walk
from sagemill.domain.deployment import AlarmStates, green_weight
from sagemill.domain.endpoints import EndpointState, EndpointStatus, Variant
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.executors.archives import UnsafeArchive
from sagemill.metrics.alarm_records import KIND as ALARM_KIND
from sagemill.serving import instances as inst
from sagemill.serving.deploy import DeployProblem
from sagemill.serving.router import Backend, VariantRoute
from sagemill.store.base import Store


class Watch(Protocol):
    """The reconciler's fleet watch: ping, replace or fail the dead, launch up to each desired count."""

    def __call__(
        self, resource: Resource, fleet: tuple[Variant, ...], now: float, *, replace_dead: bool
    ) -> tuple[tuple[Variant, ...], str]: ...


def alarm_reader(store: Store, resource: Resource) -> AlarmStates:
    """Reads the named alarms of the endpoint's account and region ("" for one that does not exist)."""
    key = resource.key

    def read(names: list[str]) -> dict[str, str]:
        found = {}
        for name in names:
            alarm = store.get_resource(ResourceKey(key.account_id, key.region, ALARM_KIND, name))
            found[name] = alarm.status if alarm is not None else ""
        return found

    return read


def fleet_routes(state: EndpointState) -> tuple[VariantRoute, ...]:
    """Each variant's route, split between the old and the new fleet by the deployment's traffic share."""
    share = green_weight(state) if state.pending else 0.0
    green = {v.name: v for v in state.pending} if share > 0 else {}
    variants: list[VariantRoute] = []
    for v in state.fleet:
        new = green.pop(v.name, None)
        blue_share = 1.0 - share if new is not None else 1.0
        if blue_share > 0:
            variants.append(VariantRoute(v.name, v.current_weight * blue_share, _backends(v)))
        if new is not None:
            weight = v.current_weight * share
            variants.append(VariantRoute(v.name, weight, _backends(new), state.pending_config))
    # New variant names of the pending config take their share of traffic as it shifts.
    variants += [
        VariantRoute(v.name, v.desired_weight * share, _backends(v), state.pending_config)
        for v in green.values()
    ]
    return tuple(variants)


def _backends(variant: Variant) -> tuple[Backend, ...]:
    return tuple(Backend(i.instance_id, inst.HOST, i.port) for i in variant.ready)


class RollingDriver:
    """One tick of a rolling update: both fleets watched at the walk's targets, then one pure step.

    The walk (domain/rolling_deployment.py) decides; this does the I/O the reconciler lends it: `watch`
    launches and pings instances (ids from each Variant's `launched` slots, so a retried tick adopts what a
    lost save or a crash started), `retire` stops drained retiring variants, `plan` fetches the new config's
    models. Each fleet is watched with its desired count set to the walk's target for it, and given back its
    config's count, which DescribeEndpoint shows.
    """

    def __init__(
        self,
        *,
        watch: Watch,
        retire: Callable[[Resource, tuple[Variant, ...]], tuple[Variant, ...]],
        plan: Callable[[Resource, str, float], tuple[Variant, ...]],
        alarm_states: Callable[[Resource], AlarmStates],
        startup_timeout: float,
    ) -> None:
        self.watch = watch
        self.retire = retire
        self.plan = plan
        self.alarm_states = alarm_states
        self.startup_timeout = startup_timeout

    def serve(self, resource: Resource, state: EndpointState, now: float) -> EndpointState:
        old_target, new_target = walk.targets(state)
        fleet, _ = self._watch(resource, state.fleet, old_target, now, replace_dead=True)
        fleet = tuple(replace(v, current_weight=v.desired_weight) for v in fleet)
        state = replace(state, fleet=fleet, retiring=self.retire(resource, state.retiring))
        if state.status is not EndpointStatus.UPDATING:
            return state
        if not walk.started(state):
            aborted = walk.abort_before_begin(state, now)
            if aborted is not None:
                return aborted
            try:
                pending = state.pending or self.plan(resource, state.pending_config, now)
            except (DeployProblem, AccessProblem, UnsafeArchive) as exc:
                return walk.abandon(state, str(exc), now)
            return walk.begin(replace(state, pending=pending), now)
        pending, failure = self._watch(resource, state.pending, new_target, now, replace_dead=False)
        state = replace(state, pending=pending)
        return walk.step(state, now, self.alarm_states(resource), failure, self.startup_timeout)

    def _watch(
        self,
        resource: Resource,
        variants: tuple[Variant, ...],
        target: int | None,
        now: float,
        *,
        replace_dead: bool,
    ) -> tuple[tuple[Variant, ...], str]:
        if target is None:
            return self.watch(resource, variants, now, replace_dead=replace_dead)
        capped = tuple(replace(v, desired_count=target) for v in variants)
        watched, failure = self.watch(resource, capped, now, replace_dead=replace_dead)
        out = []
        for before, after in zip(variants, watched, strict=True):
            instances = after.instances
            if failure and not replace_dead:
                # The watch stops at a failed instance; the ones after it are still ours to retire.
                seen = {i.instance_id for i in instances}
                instances += tuple(i for i in before.instances if i.instance_id not in seen)
            # The walk sets the statuses; the watch's own would restart their StartTime every tick.
            out.append(
                replace(
                    after, desired_count=before.desired_count, statuses=before.statuses, instances=instances
                )
            )
        return tuple(out), failure
