"""The in-memory routing table: endpoint → variants with weights → ready instances, and the picking rules.

The reconciler (a background thread) publishes whole immutable `EndpointRoute`s; the event loop only
reads them, so a lookup is one dict access with no lock and no database. While a deployment splits a
variant into two fleets, a request with a sticky key (its session or inference id) stays on one fleet for
the whole rollout: green iff the key's hash bucket lies below green's share (domain/rollout.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sagemill.domain.endpoints import choose_weighted
from sagemill.domain.rollout import routes_to_green
from sagemill.metrics.invocations import EndpointRef


@dataclass(frozen=True, slots=True)
class Backend:
    """One ready model-server instance."""

    instance_id: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class VariantRoute:
    """A variant's ready instances; during a blue/green deployment one variant has two routes (fleets)."""

    name: str
    weight: float
    backends: tuple[Backend, ...]
    config_name: str = ""
    """The endpoint config this fleet serves ("" = the endpoint's), the EndpointConfigName of its metrics."""


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    endpoint: EndpointRef
    config_name: str
    variants: tuple[VariantRoute, ...]
    shadows: tuple[VariantRoute, ...] = ()
    """Shadow variants: each weight is the share of requests copied to it (answers discarded)."""
    split: dict[str, tuple[VariantRoute, VariantRoute]] = field(init=False, repr=False, compare=False)
    """(blue, green) of each variant served by two fleets; empty outside a deployment (computed once)."""

    def __post_init__(self) -> None:
        split: dict[str, tuple[VariantRoute, VariantRoute]] = {}
        if len({v.name for v in self.variants}) < len(self.variants):
            for name in {v.name for v in self.variants}:
                fleets = self.fleets(name)
                if len(fleets) == 2:
                    split[name] = _blue_green(fleets)
        object.__setattr__(self, "split", split)

    def variant(self, name: str) -> VariantRoute | None:
        for variant in self.variants:
            if variant.name == name:
                return variant
        return None

    def fleets(self, name: str) -> tuple[VariantRoute, ...]:
        """Every route of a variant: two while a deployment shifts its traffic, one otherwise."""
        return tuple(v for v in self.variants if v.name == name)


def _blue_green(fleets: tuple[VariantRoute, ...]) -> tuple[VariantRoute, VariantRoute]:
    """(blue, green): green is the fleet of the pending config (its `config_name` is set)."""
    first, second = fleets
    return (second, first) if first.config_name and not second.config_name else (first, second)


class NoBackend(Exception):
    """The chosen variant has no ready instance (all weights zero, or every instance is being replaced)."""


def _key(account_id: str, region: str, name: str) -> tuple[str, str, str]:
    return (account_id, region, name.lower())  # endpoint names are case-insensitive


class RoutingTable:
    """Published routes plus the in-flight count of each backend (least-in-flight picking, draining)."""

    def __init__(self, rand: Callable[[], float] = random.random) -> None:
        self._routes: dict[tuple[str, str, str], EndpointRoute] = {}
        self._in_flight: dict[Backend, int] = {}
        self._rand = rand

    def publish(self, route: EndpointRoute) -> None:
        ref = route.endpoint
        self._routes[_key(ref.account_id, ref.region, ref.name)] = route

    def remove(self, account_id: str, region: str, name: str) -> None:
        self._routes.pop(_key(account_id, region, name), None)

    def get(self, account_id: str, region: str, name: str) -> EndpointRoute | None:
        return self._routes.get(_key(account_id, region, name))

    def routes(self) -> list[EndpointRoute]:
        return list(self._routes.values())

    def pick_variant(self, route: EndpointRoute, sticky_key: str = "") -> VariantRoute:
        """A variant by weight; with a sticky key, its fleet by the key's bucket while it has two."""
        index = choose_weighted([v.weight if v.backends else 0.0 for v in route.variants], self._rand())
        if index < 0:
            raise NoBackend(
                f"Endpoint {route.endpoint.name} has no variant with traffic and a ready instance."
            )
        chosen = route.variants[index]
        if sticky_key and route.split:
            pair = route.split.get(chosen.name)
            if pair is not None:
                return _sticky(pair, sticky_key) or chosen
        return chosen

    def pick_fleet(self, fleets: tuple[VariantRoute, ...], sticky_key: str = "") -> VariantRoute:
        """One fleet of a targeted variant: by the sticky key's bucket, else by the traffic split."""
        if len(fleets) == 1:
            return fleets[0]
        if sticky_key and len(fleets) == 2:
            chosen = _sticky(_blue_green(fleets), sticky_key)
            if chosen is not None:
                return chosen
        index = choose_weighted([v.weight if v.backends else 0.0 for v in fleets], self._rand())
        return fleets[max(index, 0)]

    def pick_backend(self, variant: VariantRoute, avoid: Backend | None = None) -> Backend:
        """The ready instance with the fewest requests in flight; ties go to a random one."""
        candidates = [b for b in variant.backends if b != avoid] or list(variant.backends)
        if not candidates:
            raise NoBackend(f"Variant {variant.name} has no ready instance.")
        if len(candidates) == 1:
            return candidates[0]
        counts = self._in_flight
        least = min(counts.get(b, 0) for b in candidates)
        best = [b for b in candidates if counts.get(b, 0) == least]
        return best[int(self._rand() * len(best)) % len(best)]

    def acquire(self, backend: Backend) -> None:
        self._in_flight[backend] = self._in_flight.get(backend, 0) + 1

    def release(self, backend: Backend) -> None:
        left = self._in_flight.get(backend, 1) - 1
        if left <= 0:
            self._in_flight.pop(backend, None)
        else:
            self._in_flight[backend] = left

    def in_flight(self, backend: Backend) -> int:
        return self._in_flight.get(backend, 0)


def _sticky(pair: tuple[VariantRoute, VariantRoute], key: str) -> VariantRoute | None:
    """The key's fleet: green iff routes_to_green(key, green's share); None when neither has traffic.

    A fleet without a ready instance hands its keys to the other one (rather than failing them).
    """
    blue, green = pair
    total = blue.weight + green.weight
    if total <= 0:
        return None
    chosen, other = (green, blue) if routes_to_green(key, green.weight / total) else (blue, green)
    return chosen if chosen.backends or not other.backends else other
