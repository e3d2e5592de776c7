"""The alarm evaluator: each tick reads every alarm's datapoints, decides its state, records transitions.

Windows slide with the evaluation: at time `now` the latest period is [now - Period, now) (whole
seconds), the one before it ends where that one starts, and so on over the evaluation range. Metric
alarms of one (period, statistic, unit) are read together, so a tick costs a few SQL statements,
not one per alarm. Composite alarms are decided after the metric alarms of the same tick, from
their children's new states. Only transitions are written, all of a tick's together: their states
and pending records in one transaction, then their follow-ups in batches (`metrics.alarm_records`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sagemill.domain.alarm_criteria import criteria_of
from sagemill.domain.alarm_rules import RuleError, evaluate_rule, parse_rule, referenced_alarms
from sagemill.domain.alarms import AlarmState, Datapoint, Evaluation, evaluate, evaluation_range
from sagemill.domain.resources import Resource
from sagemill.domain.statistics import is_low_sample, parse_extended_statistic
from sagemill.metrics import alarm_records
from sagemill.metrics.alarm_records import COMPOSITE_ALARM, KIND, Publish
from sagemill.metrics.expressions import QueryError, run_queries
from sagemill.metrics.query import read_statistics
from sagemill.store.base import Store
from sagemill.store.metrics import MetricKey, MetricStore

log = logging.getLogger("sagemill.alarms")

MAX_ALARMS = 100_000
DEFAULT_INTERVAL_SECONDS = 10.0

Listener = Callable[[Resource], None]
"""Told about every alarm that just changed state (the deployment engine listens)."""


class AlarmEvaluator:
    """Evaluates every alarm each tick; `evaluate_now` is what a test or the CLI calls directly."""

    def __init__(
        self,
        store: Store,
        metrics: MetricStore,
        publish: Publish | None = None,
        listeners: Sequence[Listener] = (),
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.publish = publish
        self.listeners = list(listeners)

    def tick(self, now: float) -> None:
        alarms = self.store.due_resources(KIND, now, MAX_ALARMS)
        # Follow-ups a crash left behind come first: a new transition would overwrite their record.
        alarms = alarm_records.finish_all_pending(self.store, self.metrics, alarms, self.publish, now)
        metric_alarms = [a for a in alarms if alarm_records.alarm_type(a) != COMPOSITE_ALARM]
        composites = [a for a in alarms if alarm_records.alarm_type(a) == COMPOSITE_ALARM]
        states: dict[tuple[str, str], dict[str, Resource]] = defaultdict(dict)
        changes: list[tuple[Resource, Resource]] = []  # (as read, in its new state)
        for alarm, evaluation in self._evaluate_metric_alarms(metric_alarms, now):
            alarm = self._transition(alarm, evaluation, now, changes)
            states[(alarm.key.account_id, alarm.key.region)][alarm.key.name] = alarm
        for alarm in composites:
            states[(alarm.key.account_id, alarm.key.region)][alarm.key.name] = alarm
        # Composites see their children's new states before those are written, so that every
        # transition of the tick goes in one transaction. A child whose write then loses a race (an
        # update or SetAlarmState meanwhile) misleads its composites for one tick at most.
        for alarm in composites:
            try:
                evaluation = self._evaluate_composite(
                    alarm, states[(alarm.key.account_id, alarm.key.region)], now
                )
            except (RuleError, KeyError, ValueError) as exc:
                log.warning("composite alarm %s cannot be evaluated: %s", alarm.key.name, exc)
                continue
            updated = self._transition(alarm, evaluation, now, changes)
            states[(alarm.key.account_id, alarm.key.region)][alarm.key.name] = updated
        self._write(changes, now)

    def _transition(
        self, alarm: Resource, evaluation: Evaluation, now: float, changes: list[tuple[Resource, Resource]]
    ) -> Resource:
        """The alarm in its evaluated state, the change queued in `changes` when its value changes."""
        if evaluation.state is None or evaluation.state.value == alarm.status:
            return alarm
        changed = alarm_records.transition(
            alarm, evaluation.state.value, evaluation.reason, evaluation.reason_data, now
        )
        changes.append((alarm, changed))
        return changed

    def _write(self, changes: list[tuple[Resource, Resource]], now: float) -> None:
        """The tick's transitions (each with its pending record) in one transaction, then their follow-ups."""
        if not changes:
            return
        written = self.store.update_resources([(changed, alarm.version) for alarm, changed in changes])
        # An alarm changed meanwhile (an update or SetAlarmState) is skipped: the next tick sees it.
        stored = [w for w in written if w is not None]
        for finished in alarm_records.finish_all_pending(self.store, self.metrics, stored, self.publish, now):
            for listener in self.listeners:
                try:
                    listener(finished)
                except Exception:
                    log.exception("alarm listener failed for %s", finished.key.name)

    def _evaluate_metric_alarms(
        self, alarms: list[Resource], now: float
    ) -> list[tuple[Resource, Evaluation]]:
        end = int(now)
        groups: dict[tuple[int, str, str | None, int], list[Resource]] = defaultdict(list)
        out: list[tuple[Resource, Evaluation]] = []
        for alarm in alarms:
            try:
                if alarm.desired.get("Metrics"):
                    out.append((alarm, self._evaluate_math(alarm, end, now)))
                    continue
                criteria = criteria_of(alarm.desired)
                span = evaluation_range(criteria.evaluation_periods) * criteria.period
                groups[(criteria.period, criteria.statistic, criteria.unit, span)].append(alarm)
            except (QueryError, KeyError, ValueError) as exc:
                log.warning("alarm %s cannot be evaluated: %s", alarm.key.name, exc)
        for (period, statistic, unit, span), members in groups.items():
            keys = [_metric_key(a) for a in members]
            start = end - span
            rows = read_statistics(
                self.metrics, list(dict.fromkeys(keys)), start, end, period, [statistic], unit
            )
            for alarm, key in zip(members, keys, strict=True):
                by_start = {r.start: r for r in rows.get(key, [])}
                points = []
                extended = _low_sample_rule(alarm)
                for k in range(span // period):
                    t = start + k * period
                    row = by_start.get(t)
                    value = row.values.get(statistic) if row is not None else None
                    count = row.count if row is not None else 0.0
                    low = extended is not None and value is not None and is_low_sample(extended, count)
                    points.append(Datapoint(t, None if low else value, count, low_sample=low))
                out.append(
                    (alarm, evaluate(criteria_of(alarm.desired), points, AlarmState(alarm.status), now))
                )
        return out

    def _evaluate_math(self, alarm: Resource, end: int, now: float) -> Evaluation:
        criteria = criteria_of(alarm.desired)
        span = evaluation_range(criteria.evaluation_periods) * criteria.period
        start = end - span
        results = run_queries(
            self.metrics, alarm.key.account_id, alarm.key.region, alarm.desired["Metrics"], start, end
        )
        returned = [r for r in results if r.return_data]
        values = (
            dict(zip(returned[0].series.timestamps, returned[0].series.values, strict=True))
            if returned
            else {}
        )
        points = [
            Datapoint(start + k * criteria.period, values.get(start + k * criteria.period))
            for k in range(span // criteria.period)
        ]
        return evaluate(criteria, points, AlarmState(alarm.status), now)

    def _evaluate_composite(self, alarm: Resource, peers: dict[str, Resource], now: float) -> Evaluation:
        rule = parse_rule(alarm.desired["AlarmRule"])
        by_ref: dict[str, AlarmState] = {}
        children: list[Resource] = []
        for ref in referenced_alarms(rule):
            child = peers.get(ref.rsplit(":alarm:", 1)[-1])
            if child is not None:
                by_ref[ref] = AlarmState(child.status)
                children.append(child)
        verdict = evaluate_rule(rule, by_ref)
        state = (
            AlarmState.INSUFFICIENT_DATA
            if verdict is None
            else (AlarmState.ALARM if verdict else AlarmState.OK)
        )
        trigger = _latest_transition(children, state)
        if trigger is None:
            reason = f"Composite alarm rule evaluated to {state.value}."
            data: dict[str, Any] = {"triggeringAlarms": []}
        else:
            when = float(trigger.observed.get("StateTransitionedTimestamp", trigger.updated_at))
            stamp = datetime.fromtimestamp(when, UTC).strftime("%A %d %B, %Y %H:%M:%S UTC")
            reason = f"{trigger.arn} transitioned to {trigger.status} at {stamp}"
            data = {
                "triggeringAlarms": [
                    {
                        "arn": trigger.arn,
                        "state": {"value": trigger.status, "timestamp": alarm_records.iso(when)},
                    }
                ]
            }
        return Evaluation(state, reason, data)


def _metric_key(alarm: Resource) -> MetricKey:
    desired = alarm.desired
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in desired.get("Dimensions") or []))
    return MetricKey(
        alarm.key.account_id, alarm.key.region, desired["Namespace"], desired["MetricName"], dimensions
    )


def _low_sample_rule(alarm: Resource) -> Any:
    desired = alarm.desired
    if desired.get("EvaluateLowSampleCountPercentile") != "ignore" or not desired.get("ExtendedStatistic"):
        return None
    return parse_extended_statistic(desired["ExtendedStatistic"])


def _latest_transition(children: list[Resource], state: AlarmState) -> Resource | None:
    relevant = [c for c in children if c.status == state.value] or children
    if not relevant:
        return None
    return max(relevant, key=lambda c: float(c.observed.get("StateTransitionedTimestamp", c.updated_at)))
