"""RollingDriver with operators' controls: an abort before the walk began, a pause that holds the watch."""

from __future__ import annotations

from test_rolling import RESOURCE, FakeFleets, _driver, _updating

from sagemill.domain import deployment as rollouts
from sagemill.domain import rolling_deployment as walk
from sagemill.domain.deployment_controls import request
from sagemill.domain.endpoints import EndpointStatus

E = EndpointStatus
ME = "arn:aws:iam::111122223333:root"


def test_an_abort_before_the_first_tick_ends_the_update_without_planning_the_new_fleet() -> None:
    fleets = FakeFleets()
    aborted = request(_updating(), "abort", ME, 0.5, "too soon")
    done = _driver(fleets).serve(RESOURCE, aborted, 1.0)
    assert fleets.planned == 0
    assert done.status is E.IN_SERVICE and done.config_name == "old-config" and not done.pending
    assert done.failure_reason.startswith(f"Deployment was aborted by {ME} at ")
    assert done.failure_reason.endswith("Reason: too soon")
    assert done.extra[rollouts.HISTORY][-1]["outcome"] == "RolledBack"


def test_a_paused_update_launches_its_current_batch_and_no_more() -> None:
    fleets = FakeFleets()
    driver = _driver(fleets)
    state = driver.serve(RESOURCE, _updating(), 1.0)  # planned and begun: nothing launched yet
    state = request(state, "pause", ME, 1.5)
    for now in (2.0, 3.0, 4.0, 5.0):
        state = driver.serve(RESOURCE, state, now)
    assert walk.targets(state) == (4, 2) and len(state.pending[0].ready) == 2
    assert rollouts.green_weight(state) == 0.0 and not state.retiring
    state = request(state, "resume", ME, 6.0)
    state = driver.serve(RESOURCE, state, 7.0)
    assert rollouts.green_weight(state) > 0
