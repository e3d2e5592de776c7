"""Sticky routing in a deployment: one key, one fleet, for the whole rollout; keyless requests by weight."""

from __future__ import annotations

import random

from sagemill.domain.rollout import routes_to_green
from sagemill.metrics.invocations import EndpointRef
from sagemill.serving.router import Backend, EndpointRoute, RoutingTable, VariantRoute

REF = EndpointRef("111122223333", "us-east-1", "MyEndpoint")
BLUE_B, GREEN_B, OTHER_B = Backend("i-b", "h", 1), Backend("i-g", "h", 2), Backend("i-o", "h", 3)
KEYS = [f"session-{i}" for i in range(2000)]


def _split(share: float, weight: float = 1.0) -> EndpointRoute:
    """The route fleet_routes publishes while `share` of variant AllTraffic is on the new fleet."""
    return EndpointRoute(
        REF,
        "old-config",
        (
            VariantRoute("AllTraffic", weight * (1 - share), (BLUE_B,)),
            VariantRoute("AllTraffic", weight * share, (GREEN_B,), "new-config"),
        ),
    )


def _on_green(table: RoutingTable, route: EndpointRoute, key: str) -> bool:
    return table.pick_variant(route, key).config_name == "new-config"


def test_a_key_stays_on_its_fleet_and_only_moves_blue_to_green_as_weights_grow() -> None:
    table = RoutingTable(rand=random.Random(1).random)
    before: set[str] = set()
    for share in (0.1, 0.25, 0.5, 0.75, 0.9):
        route = _split(share)
        green = {k for k in KEYS if _on_green(table, route, k)}
        # The same key answers the same way every time at one share...
        assert green == {k for k in KEYS if _on_green(table, route, k)}
        assert green == {k for k in KEYS if routes_to_green(k, share)}
        # ...and a share that grows never sends a key back to blue.
        assert before <= green
        assert abs(len(green) / len(KEYS) - share) < 0.04
        before = green


def test_green_share_is_relative_to_the_variant_weight() -> None:
    table = RoutingTable(rand=random.Random(2).random)
    heavy, light = _split(0.3, weight=5.0), _split(0.3, weight=0.2)
    assert [_on_green(table, heavy, k) for k in KEYS[:200]] == [
        _on_green(table, light, k) for k in KEYS[:200]
    ]


def test_keyless_requests_keep_the_weighted_random_choice() -> None:
    values = iter([0.1, 0.9])
    table = RoutingTable(rand=lambda: next(values))
    route = _split(0.5)
    assert table.pick_variant(route).config_name == ""
    assert table.pick_variant(route).config_name == "new-config"


def test_a_targeted_variant_is_sticky_too() -> None:
    table = RoutingTable(rand=random.Random(3).random)
    route = _split(0.4)
    pair = route.split["AllTraffic"]
    for key in KEYS[:200]:
        assert (table.pick_fleet(pair, key).config_name == "new-config") == routes_to_green(key, 0.4)
    # Fleet order does not matter: green is the one serving the new config.
    reversed_pair = (pair[1], pair[0])
    for key in KEYS[:200]:
        assert table.pick_fleet(reversed_pair, key) == table.pick_fleet(pair, key)


def test_a_fleet_without_ready_instances_hands_its_keys_to_the_other() -> None:
    table = RoutingTable(rand=random.Random(4).random)
    route = EndpointRoute(
        REF,
        "old-config",
        (
            VariantRoute("AllTraffic", 0.5, (BLUE_B,)),
            VariantRoute("AllTraffic", 0.5, (), "new-config"),
        ),
    )
    assert {table.pick_variant(route, k).config_name for k in KEYS[:100]} == {""}


def test_only_variants_with_two_fleets_are_split() -> None:
    one = EndpointRoute(REF, "cfg", (VariantRoute("A", 1.0, (BLUE_B,)), VariantRoute("B", 1.0, (OTHER_B,))))
    assert one.split == {}
    table = RoutingTable(rand=random.Random(5).random)
    assert {table.pick_variant(one, "k").name for _ in range(50)} == {"A", "B"}  # keys do not pin variants
    mixed = EndpointRoute(REF, "cfg", (*_split(0.5).variants, VariantRoute("B", 1.0, (OTHER_B,))))
    assert set(mixed.split) == {"AllTraffic"}
    picks = [table.pick_variant(mixed, "session-7") for _ in range(200)]
    assert {p.name for p in picks} == {"AllTraffic", "B"}
    fleets = {p.config_name for p in picks if p.name == "AllTraffic"}
    assert fleets == {"new-config" if routes_to_green("session-7", 0.5) else ""}
