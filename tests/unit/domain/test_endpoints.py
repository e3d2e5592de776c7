"""The endpoint state machine: transitions, update refusals, weighted choice, JSON round trips."""

from __future__ import annotations

import pytest

from sagemill.domain.endpoints import (
    TRANSITIONS,
    EndpointState,
    EndpointStatus,
    Instance,
    InvalidTransition,
    Variant,
    VariantStatusName,
    choose_weighted,
    fail,
    move,
    update_refusal,
    with_status,
)

E = EndpointStatus


def _variant() -> Variant:
    return Variant(
        name="AllTraffic",
        model_name="m",
        image="img",
        model_dir="/tmp/m",
        instance_type="ml.m5.large",
        kind="xgboost",
        environment={"A": "1"},
        desired_count=2,
        desired_weight=1.0,
        current_weight=0.0,
        deployed_at=1.0,
        instances=(Instance("i-1", 1000, 1.0, ready=True), Instance("i-2", 1001, 1.0)),
    )


def test_every_status_has_a_row_and_deleting_is_reachable_from_all_others() -> None:
    assert set(TRANSITIONS) == set(E)
    for status in E:
        if status is not E.DELETING:
            assert E.DELETING in TRANSITIONS[status]
    assert TRANSITIONS[E.FAILED] == frozenset({E.DELETING})


def test_move_follows_the_table() -> None:
    state = move(EndpointState(), E.IN_SERVICE)
    assert state.status is E.IN_SERVICE and state.serving
    with pytest.raises(InvalidTransition):
        move(EndpointState(status=E.FAILED), E.IN_SERVICE)
    assert move(state, E.IN_SERVICE) == state


def test_fail_keeps_1024_characters() -> None:
    state = fail(EndpointState(), "x" * 2000)
    assert state.status is E.FAILED and len(state.failure_reason) == 1024 and not state.serving


@pytest.mark.parametrize("status", list(E))
def test_update_refusal(status: EndpointStatus) -> None:
    message = update_refusal(status, "arn")
    if status in (E.IN_SERVICE, E.UPDATE_ROLLBACK_FAILED):
        assert message is None
    elif status is E.FAILED:
        assert message == 'Cannot update failed endpoint "arn".'
    else:
        assert message == 'Cannot update in-progress endpoint "arn".'


def test_choose_weighted() -> None:
    assert choose_weighted([1.0, 0.0, 3.0], 0.0) == 0
    assert choose_weighted([1.0, 0.0, 3.0], 0.24) == 0
    assert choose_weighted([1.0, 0.0, 3.0], 0.26) == 2
    assert choose_weighted([1.0, 0.0, 3.0], 0.999999) == 2
    assert choose_weighted([0.0, 0.0], 0.5) == -1
    assert choose_weighted([], 0.5) == -1


def test_variant_readiness_and_status() -> None:
    variant = _variant()
    assert len(variant.ready) == 1 and not variant.complete
    variant = with_status(variant, VariantStatusName.CREATING, "Launching 2 instance(s).", 5.0)
    assert variant.statuses[0].status == "Creating"
    assert with_status(variant, VariantStatusName.CREATING, "Launching 2 instance(s).", 9.0) == variant
    assert with_status(variant, None, "", 9.0).statuses == ()


def test_state_round_trips_through_json() -> None:
    state = EndpointState(
        status=E.UPDATING, config_name="c1", fleet=(_variant(),), pending_config="c2", pending=(_variant(),)
    )
    assert EndpointState.from_json(state.to_json()) == state
    assert EndpointState.from_json({}) == EndpointState()
