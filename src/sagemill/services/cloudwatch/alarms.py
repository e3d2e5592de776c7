"""Alarm operations: put, describe, delete, set state, enable and disable actions."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
from sagemill.domain.resources import Resource, ResourceKey, ResourceQuery, SortKey, SortOrder, Tag
from sagemill.metrics import alarm_records
from sagemill.metrics.alarm_records import COMPOSITE_ALARM, KIND, METRIC_ALARM, Publish
from sagemill.services.clock import Clock, to_datetime
from sagemill.services.cloudwatch.alarm_config import check_composite, check_metric_alarm, warning_of
from sagemill.services.cloudwatch.errors import (
    alarm_not_found,
    invalid_combination,
    invalid_format,
    invalid_next_token,
    invalid_value,
)
from sagemill.services.cloudwatch.ingest import dimension_pairs
from sagemill.store.base import Store
from sagemill.store.metrics import MetricStore

log = logging.getLogger("sagemill.alarms")

_PAGE = 1000
_INITIAL_REASON = "Unchecked: Initial alarm creation"


def alarm_arn(account_id: str, region: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{name}"


def _key(context: RequestContext, name: str) -> ResourceKey:
    return ResourceKey(context.account_id, context.region, KIND, name)


def all_alarms(store: Store, account_id: str, region: str) -> list[Resource]:
    """Every alarm of one account and region, by name."""
    found: list[Resource] = []
    after: tuple[Any, str] | None = None
    while True:
        query = ResourceQuery(
            account_id,
            region,
            KIND,
            sort_key=SortKey.NAME,
            sort_order=SortOrder.ASCENDING,
            limit=_PAGE,
            after=after,
        )
        page, more = store.list_resources(query)
        found.extend(page)
        if not more or not page:
            return found
        after = (page[-1].key.name, page[-1].key.name)


def _common(alarm: Resource) -> dict[str, Any]:
    desired, observed = alarm.desired, alarm.observed
    shape: dict[str, Any] = {
        "AlarmName": alarm.key.name,
        "AlarmArn": alarm.arn,
        "AlarmConfigurationUpdatedTimestamp": to_datetime(observed.get("configured", alarm.created_at)),
        "ActionsEnabled": desired.get("ActionsEnabled", True),
        "OKActions": desired.get("OKActions") or [],
        "AlarmActions": desired.get("AlarmActions") or [],
        "InsufficientDataActions": desired.get("InsufficientDataActions") or [],
        "StateValue": alarm.status,
        "StateReason": alarm.status_reason,
        "StateUpdatedTimestamp": to_datetime(observed.get("StateUpdatedTimestamp", alarm.created_at)),
        "StateTransitionedTimestamp": to_datetime(
            observed.get("StateTransitionedTimestamp", alarm.created_at)
        ),
    }
    if desired.get("AlarmDescription") is not None:
        shape["AlarmDescription"] = desired["AlarmDescription"]
    if observed.get("StateReasonData"):
        shape["StateReasonData"] = observed["StateReasonData"]
    return shape


_METRIC_FIELDS = (
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
)


def to_wire(alarm: Resource) -> dict[str, Any]:
    shape = _common(alarm)
    if alarm_records.alarm_type(alarm) == COMPOSITE_ALARM:
        shape["AlarmRule"] = alarm.desired["AlarmRule"]
        return shape
    for field in _METRIC_FIELDS:
        if alarm.desired.get(field) is not None:
            shape[field] = alarm.desired[field]
    shape.setdefault("Dimensions", [])
    return shape


def _stored(params: Mapping[str, Any], alarm_type: str) -> dict[str, Any]:
    desired = {k: v for k, v in params.items() if k != "Tags"}
    desired["AlarmType"] = alarm_type
    return json.loads(json.dumps(desired, default=str))  # type: ignore[no-any-return]


def operations(
    store: Store, metrics: MetricStore, clock: Clock, publish: Publish | None
) -> dict[str, Handler]:
    def put(context: RequestContext, params: dict[str, Any], alarm_type: str) -> None:
        name = params["AlarmName"]
        desired = _stored(params, alarm_type)
        now = clock()
        existing = store.get_resource(_key(context, name))
        if existing is not None and alarm_records.alarm_type(existing) != alarm_type:
            raise invalid_value(f"The alarm {name} already exists as a {alarm_records.alarm_type(existing)}.")
        warning = warning_of(desired) if alarm_type == METRIC_ALARM else None
        if warning:
            log.warning("alarm %s can never fire: %s", name, warning)
        if existing is None:
            _create(context, name, desired, params, now, warning)
            return
        observed = {**existing.observed, "configured": now, "warning": warning}
        updated = replace(existing, desired=desired, observed=observed, updated_at=now)
        try:
            store.update_resource(updated, existing.version)
        except (VersionConflict, NotFound):
            raise invalid_value(f"The alarm {name} was changed by another request; try again.") from None
        _config_history(existing, now, "Update", desired)

    def _create(
        context: RequestContext,
        name: str,
        desired: dict[str, Any],
        params: Mapping[str, Any],
        now: float,
        warning: str | None,
    ) -> None:
        alarm = Resource(
            key=_key(context, name),
            arn=alarm_arn(context.account_id, context.region, name),
            desired=desired,
            created_at=now,
            updated_at=now,
            status="INSUFFICIENT_DATA",
            status_reason=_INITIAL_REASON,
            next_action_at=0.0,
            observed={"configured": now, "StateUpdatedTimestamp": now, "warning": warning},
        )
        tags = [Tag(t["Key"], t["Value"]) for t in params.get("Tags") or []]
        try:
            store.create_resource(alarm, tags)
        except AlreadyExists:
            raise invalid_value(f"The alarm {name} was created by another request; try again.") from None
        _config_history(alarm, now, "Create", desired)

    def _config_history(alarm: Resource, now: float, change: str, desired: dict[str, Any]) -> None:
        verb = "created" if change == "Create" else "updated"
        data = {"version": "1.0", "type": change, f"{verb}Alarm": desired}
        item = alarm_records.history_item(
            alarm,
            f"{alarm.arn}#config#{now:.6f}",
            now,
            "ConfigurationUpdate",
            f'Alarm "{alarm.key.name}" {verb}',
            data,
        )
        metrics.append_history([item])

    def put_metric_alarm(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        check_metric_alarm(params)
        put(context, params, METRIC_ALARM)
        return {}

    def put_composite_alarm(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        check_composite(params)
        put(context, params, COMPOSITE_ALARM)
        return {}

    def describe_alarms(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names, prefix = params.get("AlarmNames"), params.get("AlarmNamePrefix")
        children, parents = params.get("ChildrenOfAlarmName"), params.get("ParentsOfAlarmName")
        if names and prefix:
            raise invalid_combination("AlarmNames and AlarmNamePrefix cannot be specified together.")
        types = set(params.get("AlarmTypes") or [METRIC_ALARM])
        alarms = all_alarms(store, context.account_id, context.region)
        if children or parents:
            alarms = _related(alarms, children, parents)
            types = {METRIC_ALARM, COMPOSITE_ALARM} if not params.get("AlarmTypes") else types
        selected = [
            a
            for a in alarms
            if alarm_records.alarm_type(a) in types
            and (not names or a.key.name in names)
            and (not prefix or a.key.name.startswith(prefix))
            and (not params.get("StateValue") or a.status == params["StateValue"])
            and (not params.get("ActionPrefix") or _has_action_prefix(a, params["ActionPrefix"]))
        ]
        page, token = _page(selected, params.get("NextToken"), int(params.get("MaxRecords") or 50))
        result: dict[str, Any] = {
            "MetricAlarms": [to_wire(a) for a in page if alarm_records.alarm_type(a) == METRIC_ALARM],
            "CompositeAlarms": [to_wire(a) for a in page if alarm_records.alarm_type(a) == COMPOSITE_ALARM],
        }
        if token:
            result["NextToken"] = token
        return result

    def describe_alarms_for_metric(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        wanted = dimension_pairs(params.get("Dimensions"))
        matches = []
        for alarm in all_alarms(store, context.account_id, context.region):
            d = alarm.desired
            if alarm_records.alarm_type(alarm) != METRIC_ALARM or d.get("Metrics"):
                continue
            if d.get("Namespace") != params["Namespace"] or d.get("MetricName") != params["MetricName"]:
                continue
            if params.get("Dimensions") is not None and dimension_pairs(d.get("Dimensions")) != wanted:
                continue
            if any(
                params.get(f) is not None and d.get(f) != params[f]
                for f in ("Statistic", "ExtendedStatistic", "Period", "Unit")
            ):
                continue
            matches.append(to_wire(alarm))
        return {"MetricAlarms": matches}

    def delete_alarms(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # As CloudWatch: names that match no alarm are ignored, the others deleted.
        for name in params["AlarmNames"]:
            store.delete_resource(_key(context, name))
        return {}

    def set_alarm_state(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        alarm = store.get_resource(_key(context, params["AlarmName"]))
        if alarm is None:
            raise alarm_not_found(params["AlarmName"])
        data = params.get("StateReasonData")
        parsed = None
        if data is not None:
            try:
                parsed = json.loads(data)
            except ValueError as exc:
                raise invalid_format("The StateReasonData is not valid JSON.") from exc
        now = clock()
        changed = alarm_records.change_state(
            store, alarm, params["StateValue"], params["StateReason"], parsed, now, forced=True
        )
        if changed is None:
            raise invalid_value(f"The alarm {params['AlarmName']} was changed by another request; try again.")
        alarm_records.finish_pending(store, metrics, changed, publish, now)
        return {}

    def actions(enabled: bool) -> Handler:
        def handler(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
            for name in params["AlarmNames"]:
                alarm = store.get_resource(_key(context, name))
                if alarm is None:
                    continue
                desired = {**alarm.desired, "ActionsEnabled": enabled}
                try:
                    store.update_resource(replace(alarm, desired=desired), alarm.version)
                except (VersionConflict, NotFound):
                    continue
            return {}

        return handler

    return {
        "PutMetricAlarm": put_metric_alarm,
        "PutCompositeAlarm": put_composite_alarm,
        "DescribeAlarms": describe_alarms,
        "DescribeAlarmsForMetric": describe_alarms_for_metric,
        "DeleteAlarms": delete_alarms,
        "SetAlarmState": set_alarm_state,
        "EnableAlarmActions": actions(True),
        "DisableAlarmActions": actions(False),
    }


def _has_action_prefix(alarm: Resource, prefix: str) -> bool:
    fields = ("AlarmActions", "OKActions", "InsufficientDataActions")
    return any(a.startswith(prefix) for f in fields for a in alarm.desired.get(f) or [])


def _related(alarms: list[Resource], children: str | None, parents: str | None) -> list[Resource]:
    from sagemill.domain.alarm_rules import parse_rule, referenced_alarms

    by_name = {a.key.name: a for a in alarms}

    def refs(alarm: Resource) -> set[str]:
        names = referenced_alarms(parse_rule(alarm.desired["AlarmRule"]))
        return {n.rsplit(":alarm:", 1)[-1] for n in names}

    if children:
        parent = by_name.get(children)
        if parent is None or alarm_records.alarm_type(parent) != COMPOSITE_ALARM:
            return []
        return [by_name[n] for n in sorted(refs(parent)) if n in by_name]
    assert parents is not None
    return [a for a in alarms if alarm_records.alarm_type(a) == COMPOSITE_ALARM and parents in refs(a)]


def _page(items: list[Resource], token: str | None, size: int) -> tuple[list[Resource], str | None]:
    start = 0
    if token:
        names = [a.key.name for a in items]
        if not token.startswith("after:"):
            raise invalid_next_token()
        last = token.removeprefix("after:")
        start = next((i for i, n in enumerate(names) if n > last), len(names))
    page = items[start : start + size]
    more = start + size < len(items)
    return page, (f"after:{page[-1].key.name}" if more and page else None)
