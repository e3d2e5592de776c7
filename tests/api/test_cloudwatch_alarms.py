"""CloudWatch alarms through real boto3: configuration, listing, state, history, evaluation and restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from live_helpers import create_alarm, new_account

from sagemill.testing.live_server import LiveServer


@pytest.fixture
def cw(server: LiveServer) -> Any:
    return server.client("cloudwatch", account=new_account())


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_walkthrough_alarm_is_created_insufficient_data(cw: Any) -> None:
    create_alarm(cw, "ep-5xx")
    [alarm] = cw.describe_alarms(AlarmNames=["ep-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    assert alarm["AlarmArn"].endswith(":alarm:ep-5xx") and alarm["AlarmArn"].startswith("arn:aws:cloudwatch:")
    assert alarm["Threshold"] == 1.0 and alarm["TreatMissingData"] == "notBreaching"
    assert alarm["Dimensions"][0] == {"Name": "EndpointName", "Value": "ep"}
    history = cw.describe_alarm_history(AlarmName="ep-5xx")["AlarmHistoryItems"]
    assert [h["HistoryItemType"] for h in history] == ["ConfigurationUpdate"]
    assert history[0]["HistorySummary"] == 'Alarm "ep-5xx" created'


def test_update_keeps_state_and_overwrites_config(cw: Any) -> None:
    create_alarm(cw, "upd")
    cw.set_alarm_state(AlarmName="upd", StateValue="ALARM", StateReason="testing")
    create_alarm(cw, "upd", Threshold=0.5)
    [alarm] = cw.describe_alarms(AlarmNames=["upd"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM" and alarm["Threshold"] == 0.5
    assert "AlarmDescription" in alarm


def test_describe_filters_and_paginates(cw: Any) -> None:
    for i in range(7):
        create_alarm(cw, f"page-{i}")
    create_alarm(cw, "other")
    cw.set_alarm_state(AlarmName="page-3", StateValue="OK", StateReason="manual")
    pages = list(
        cw.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix="page-", PaginationConfig={"PageSize": 3}
        )
    )
    names = [a["AlarmName"] for p in pages for a in p["MetricAlarms"]]
    assert names == [f"page-{i}" for i in range(7)] and len(pages) == 3
    ok = cw.describe_alarms(StateValue="OK")["MetricAlarms"]
    assert [a["AlarmName"] for a in ok] == ["page-3"]
    for_metric = cw.describe_alarms_for_metric(
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Dimensions=[{"Name": "VariantName", "Value": "AllTraffic"}, {"Name": "EndpointName", "Value": "ep"}],
    )["MetricAlarms"]
    assert len(for_metric) == 8
    with pytest.raises(ClientError) as exc:
        cw.describe_alarms(AlarmNames=["a"], AlarmNamePrefix="a")
    assert error_of(exc)[0] == "InvalidParameterCombination"


def test_set_alarm_state_records_history_and_delete_keeps_it(cw: Any) -> None:
    create_alarm(cw, "hist")
    cw.set_alarm_state(
        AlarmName="hist",
        StateValue="ALARM",
        StateReason="forced",
        StateReasonData=json.dumps({"why": "test"}),
    )
    [alarm] = cw.describe_alarms(AlarmNames=["hist"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "forced")
    assert json.loads(alarm["StateReasonData"]) == {"why": "test"}
    cw.delete_alarms(AlarmNames=["hist", "never-existed"])
    assert cw.describe_alarms(AlarmNames=["hist"])["MetricAlarms"] == []
    items = cw.describe_alarm_history(AlarmName="hist", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == ["Alarm updated from INSUFFICIENT_DATA to ALARM"]
    data = json.loads(items[0]["HistoryData"])
    assert (
        data["oldState"]["stateValue"] == "INSUFFICIENT_DATA" and data["newState"]["stateReason"] == "forced"
    )
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="hist", StateValue="OK", StateReason="x")
    assert error_of(exc) == ("ResourceNotFound", "Alarm hist not found")
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x", StateReasonData="{bad")
    assert error_of(exc)[0] in ("ResourceNotFound", "InvalidFormat")


def test_actions_toggle_and_tags(cw: Any) -> None:
    create_alarm(cw, "acts", ActionsEnabled=True, Tags=[{"Key": "team", "Value": "ml"}])
    cw.disable_alarm_actions(AlarmNames=["acts"])
    [alarm] = cw.describe_alarms(AlarmNames=["acts"])["MetricAlarms"]
    assert alarm["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=["acts"])
    assert cw.describe_alarms(AlarmNames=["acts"])["MetricAlarms"][0]["ActionsEnabled"] is True
    arn = alarm["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"Period": 45}, "InvalidParameterValue"),
        ({"DatapointsToAlarm": 3, "EvaluationPeriods": 2}, "ValidationError"),
        ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
        ({"Statistic": None, "ExtendedStatistic": "p101"}, "InvalidParameterValue"),
        ({"TreatMissingData": "sometimes"}, "InvalidParameterValue"),
        ({"Period": 60, "EvaluationPeriods": 1441}, "ValidationError"),
        ({"ComparisonOperator": "LessThanLowerThreshold"}, "InvalidParameterValue"),
    ],
)
def test_bad_alarms_are_refused_and_nothing_is_stored(cw: Any, overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as exc:
        create_alarm(cw, "bad", **overrides)
    assert error_of(exc)[0] == code
    assert cw.describe_alarms(AlarmNames=["bad"])["MetricAlarms"] == []


def test_math_alarm_rules(cw: Any) -> None:
    stat = {"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(
            AlarmName="math",
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[{"Id": "m1", "MetricStat": stat}, {"Id": "e1", "Expression": "m1 * 2"}],
        )
    assert error_of(exc) == ("ValidationError", "Exactly one element of the metrics list should return data.")
    cw.put_metric_alarm(
        AlarmName="math",
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "m1", "MetricStat": stat, "ReturnData": False}, {"Id": "e1", "Expression": "m1 * 2"}],
    )
    [alarm] = cw.describe_alarms(AlarmNames=["math"])["MetricAlarms"]
    assert [m["Id"] for m in alarm["Metrics"]] == ["m1", "e1"]


def test_composite_alarms(cw: Any) -> None:
    create_alarm(cw, "child-a")
    create_alarm(cw, "child-b")
    cw.put_composite_alarm(AlarmName="parent", AlarmRule='ALARM("child-a") OR ALARM(child-b)')
    reply = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert reply["MetricAlarms"] == [] and reply["CompositeAlarms"][0]["AlarmRule"].startswith("ALARM(")
    children = cw.describe_alarms(ChildrenOfAlarmName="parent")
    assert sorted(a["AlarmName"] for a in children["MetricAlarms"]) == ["child-a", "child-b"]
    parents = cw.describe_alarms(ParentsOfAlarmName="child-a")
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == ["parent"]
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName="broken", AlarmRule="ALARM(child-a) ANDD OK(child-b)")
    assert error_of(exc)[0] == "ValidationError"


def put_errors(cw: Any, values: list[float], dims: list[dict[str, str]]) -> None:
    cw.put_metric_data(
        Namespace="Guard",
        MetricData=[{"MetricName": "Errors", "Dimensions": dims, "Value": v} for v in values],
    )


def test_alarm_fires_from_data_and_recovers(alarm_server: LiveServer) -> None:
    cw = alarm_server.client("cloudwatch", account=new_account())
    dims = [{"Name": "Service", "Value": "api"}]
    cw.put_metric_alarm(
        AlarmName="errors",
        Namespace="Guard",
        MetricName="Errors",
        Dimensions=dims,
        Statistic="Average",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )

    def state() -> str:
        return str(cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["StateValue"])

    wait_for(lambda: state() == "OK")
    put_errors(cw, [1.0, 1.0, 0.0], dims)
    wait_for(lambda: state() == "ALARM")
    [alarm] = cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"]
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 ")
    data = json.loads(alarm["StateReasonData"])
    assert data["threshold"] == 0.5 and data["statistic"] == "Average" and data["period"] == 10
    assert data["recentDatapoints"] and abs(data["recentDatapoints"][0] - 2 / 3) < 1e-9
    wait_for(lambda: state() == "OK", timeout=40)
    summaries = [
        i["HistorySummary"]
        for i in cw.describe_alarm_history(AlarmName="errors", HistoryItemType="StateUpdate")[
            "AlarmHistoryItems"
        ]
    ]
    assert summaries[:3] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]


def test_alarm_state_survives_restart_without_duplicate_transition(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data", env={"SAGEMILL_ALARM_EVALUATION_SECONDS": "1"}).start()
    try:
        cw = live.client("cloudwatch")
        dims = [{"Name": "Service", "Value": "restart"}]
        cw.put_metric_alarm(
            AlarmName="sticky",
            Namespace="Guard",
            MetricName="Errors",
            Dimensions=dims,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0.5,
            ComparisonOperator="GreaterThanThreshold",
        )
        put_errors(cw, [1.0], dims)
        wait_for(
            lambda: cw.describe_alarms(AlarmNames=["sticky"])["MetricAlarms"][0]["StateValue"] == "ALARM"
        )
        live.kill()
        live.start()
        cw = live.client("cloudwatch")
        time.sleep(3)  # several evaluations after the restart: none may repeat the transition
        items = cw.describe_alarm_history(AlarmName="sticky", HistoryItemType="StateUpdate")[
            "AlarmHistoryItems"
        ]
        assert [i["HistorySummary"] for i in items] == ["Alarm updated from INSUFFICIENT_DATA to ALARM"]
        assert cw.describe_alarms(AlarmNames=["sticky"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    finally:
        live.stop()


def test_composite_follows_children(alarm_server: LiveServer) -> None:
    cw = alarm_server.client("cloudwatch", account=new_account())
    for name in ("c1", "c2"):
        create_alarm(cw, name, Namespace="Guard", MetricName=f"None-{name}")
    cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(c1) AND ALARM(c2)")
    cw.set_alarm_state(AlarmName="c1", StateValue="ALARM", StateReason="t")
    cw.set_alarm_state(AlarmName="c2", StateValue="ALARM", StateReason="t")
    # The children's own evaluation turns them OK again (no data, notBreaching); the parent must
    # have seen ALARM in between or settle OK: either way its history explains it.
    wait_for(
        lambda: (
            cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0][
                "StateValue"
            ]
            != "INSUFFICIENT_DATA"
        )
    )
    reason = cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert "transitioned to" in reason["StateReason"] or "evaluated" in reason["StateReason"]


def test_history_date_filters(cw: Any) -> None:
    create_alarm(cw, "dated")
    now = datetime.now(UTC)
    assert (
        cw.describe_alarm_history(
            AlarmName="dated", StartDate=now + timedelta(hours=1), EndDate=now + timedelta(hours=2)
        )["AlarmHistoryItems"]
        == []
    )
    assert (
        len(
            cw.describe_alarm_history(
                AlarmName="dated", StartDate=now - timedelta(hours=1), EndDate=now + timedelta(hours=1)
            )["AlarmHistoryItems"]
        )
        == 1
    )
