"""CloudWatch through real clients: an older botocore (query), current boto3 (JSON 1.0) and the AWS CLI."""

from __future__ import annotations

import inspect
import json
import secrets
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from s3_helpers import tool_env, tool_venv

from sagemill.testing.live_server import LiveServer

# botocore 1.42.6 is the last release whose CloudWatch model speaks only query; boto3 1.42.6 accepts
# any 1.42.x botocore, so botocore is pinned too or pip picks a newer one that sends JSON.
QUERY_BOTO = ["boto3==1.42.6", "botocore==1.42.6"]
QUERY_PROBE = [
    "-c",
    "from botocore.session import get_session as g; "
    "assert g().get_service_model('cloudwatch').protocol == 'query'",
]
AWSCLI = ["awscli>=1.40,<2"]
FORM = "application/x-www-form-urlencoded"
JSON_10 = "application/x-amz-json-1.0"
TARGET_PREFIX = "GraniteServiceVersion20100801."


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def walkthrough(cw: Any) -> dict[str, Any]:
    """Every call the issue names, with its own assertions; returns what the test compares.

    Self-contained (imports inside, stdlib and botocore only): its source also runs in the query venv.
    """
    import json
    import time
    from datetime import UTC, datetime

    from botocore.exceptions import ClientError

    wire: list[dict[str, str | None]] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        def header(name: str) -> str | None:
            value = request.headers.get(name)
            return value.decode() if isinstance(value, bytes) else value

        wire.append(
            {
                "operation": event_name.rsplit(".", 1)[-1],
                "content_type": header("Content-Type"),
                "target": header("X-Amz-Target"),
            }
        )

    cw.meta.events.register("before-send.cloudwatch", record)

    # A whole minute well in the past, so every point lands in one period whatever the clock says.
    minute = int(time.time()) // 60 * 60 - 300
    start, end = datetime.fromtimestamp(minute, UTC), datetime.fromtimestamp(minute + 60, UTC)
    namespace, dimensions = "Sagemill/Clients", [{"Name": "Host", "Value": "web-1"}]
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": dimensions,
                "Timestamp": start,
                "Values": [10.0, 20.0, 30.0, 40.0],
                "Counts": [1.0, 1.0, 1.0, 1.0],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": dimensions,
                "Timestamp": datetime.fromtimestamp(minute + 30, UTC),
                "Value": 50.0,
                "Unit": "Milliseconds",
            },
        ],
    )
    stats = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=dimensions,
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
    )
    [point] = stats["Datapoints"]
    assert stats["Label"] == "Latency", stats
    assert (point["SampleCount"], point["Sum"], point["Average"]) == (5.0, 150.0, 30.0), point
    assert (point["Minimum"], point["Maximum"], point["Unit"]) == (10.0, 50.0, "Milliseconds"), point
    assert point["Timestamp"] == start, point
    extended = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=dimensions,
        StartTime=start,
        EndTime=end,
        Period=60,
        ExtendedStatistics=["p50", "p99"],
    )
    [percentiles] = extended["Datapoints"]
    p50, p99 = percentiles["ExtendedStatistics"]["p50"], percentiles["ExtendedStatistics"]["p99"]
    assert 20.0 <= p50 <= 40.0 and 40.0 <= p99 <= 50.0, percentiles

    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": "Latency", "Dimensions": dimensions},
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "e1", "Expression": "m1 * 2", "Label": "doubled"},
        ],
        StartTime=start,
        EndTime=end,
    )
    [doubled] = data["MetricDataResults"]
    assert (doubled["Id"], doubled["Label"], doubled["StatusCode"]) == ("e1", "doubled", "Complete"), doubled
    assert doubled["Values"] == [300.0] and doubled["Timestamps"] == [start], doubled

    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert listed == [{"Namespace": namespace, "MetricName": "Latency", "Dimensions": dimensions}], listed

    # The alarm function of AWS's deployment-guardrails walkthrough, unchanged.
    alarm = "guardrail-5xx"
    cw.put_metric_alarm(
        AlarmName=alarm,
        AlarmDescription="Test SageMaker endpoint deployment auto-rollback alarm",
        ActionsEnabled=False,
        MetricName="Invocation5XXErrors",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Dimensions=[
            {"Name": "EndpointName", "Value": "my-endpoint"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    [described] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    expected = {
        "AlarmName": alarm,
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": False,
    }
    assert {k: described.get(k) for k in expected} == expected, described
    assert described["AlarmArn"].endswith(f":alarm:{alarm}"), described
    assert {(d["Name"], d["Value"]) for d in described["Dimensions"]} == {
        ("EndpointName", "my-endpoint"),
        ("VariantName", "AllTraffic"),
    }, described
    # The evaluator may already have moved it from INSUFFICIENT_DATA to OK (no data, notBreaching).
    assert described["StateValue"] in ("INSUFFICIENT_DATA", "OK"), described

    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="Forced by the client test")
    history = cw.describe_alarm_history(AlarmName=alarm)["AlarmHistoryItems"]
    kinds = {item["HistoryItemType"] for item in history}
    assert {"ConfigurationUpdate", "StateUpdate"} <= kinds, history
    forced = [
        json.loads(item["HistoryData"])
        for item in history
        if item["HistoryItemType"] == "StateUpdate" and item["HistorySummary"].endswith(" to ALARM")
    ]
    assert any(f["newState"]["stateReason"] == "Forced by the client test" for f in forced), history
    assert any(i["HistorySummary"] == f'Alarm "{alarm}" created' for i in history), history

    errors: dict[str, str] = {}
    try:
        cw.put_metric_data(Namespace="AWS/X", MetricData=[{"MetricName": "m", "Value": 1.0}])
    except ClientError as exc:
        errors["reserved_namespace"] = exc.response["Error"]["Code"]
    try:
        cw.set_alarm_state(AlarmName="no-such-alarm", StateValue="OK", StateReason="x")
    except cw.exceptions.ResourceNotFound as exc:
        errors["missing_alarm"] = exc.response["Error"]["Code"]

    cw.delete_alarms(AlarmNames=[alarm])
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []
    return {
        "wire": wire,
        "errors": errors,
        "percentiles": {"p50": p50, "p99": p99},
        "history_types": sorted(kinds),
    }


def large_batch(cw: Any) -> dict[str, Any]:
    """PutMetricData past botocore's 10 KiB compression threshold: the body goes gzipped.

    Self-contained like `walkthrough`: its source also runs in the query venv.
    """
    import time
    from datetime import UTC, datetime

    encodings: list[str | None] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("Content-Encoding")
        encodings.append(value.decode() if isinstance(value, bytes) else value)

    cw.meta.events.register("before-send.cloudwatch.PutMetricData", record)
    first = int(time.time()) // 60 * 60 - 600
    data = [
        {"MetricName": "Batch", "Timestamp": datetime.fromtimestamp(first + i, UTC), "Value": float(i)}
        for i in range(500)
    ]
    cw.put_metric_data(Namespace="Sagemill/Clients", MetricData=data)
    stats = cw.get_metric_statistics(
        Namespace="Sagemill/Clients",
        MetricName="Batch",
        StartTime=datetime.fromtimestamp(first, UTC),
        EndTime=datetime.fromtimestamp(first + 600, UTC),
        Period=600,
        Statistics=["SampleCount", "Sum"],
    )
    [point] = stats["Datapoints"]
    return {"encodings": encodings, "count": point["SampleCount"], "sum": point["Sum"]}


def query_script(function: Callable[[Any], dict[str, Any]]) -> str:
    """A script for the query venv: `function` against $AWS_ENDPOINT_URL, its result as JSON on stdout."""
    return "\n".join(
        [
            "from __future__ import annotations",
            "import json",
            "from typing import Any",
            "import boto3",
            "import botocore",
            "from botocore.config import Config",
            textwrap.dedent(inspect.getsource(function)),
            "cw = boto3.client('cloudwatch', config=Config(retries={'max_attempts': 1}))",
            f"result = {function.__name__}(cw)",
            "result['botocore'] = botocore.__version__",
            "print(json.dumps(result))",
        ]
    )


def run_query(server: LiveServer, function: Callable[[Any], dict[str, Any]], folder: Path) -> dict[str, Any]:
    """Run `function` with botocore 1.42.6 (query) in its own venv, in a fresh account."""
    python = tool_venv("boto3-query", QUERY_BOTO, QUERY_PROBE) / "bin" / "python"
    script = folder / f"{function.__name__}.py"
    script.write_text(query_script(function))
    done = subprocess.run(
        [str(python), str(script)],
        env=tool_env(server, account=new_account()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


EXPECTED_OPERATIONS = [
    "PutMetricData",
    "GetMetricStatistics",
    "GetMetricStatistics",
    "GetMetricData",
    "ListMetrics",
    "PutMetricAlarm",
    "DescribeAlarms",
    "SetAlarmState",
    "DescribeAlarmHistory",
    "PutMetricData",
    "SetAlarmState",
    "DeleteAlarms",
    "DescribeAlarms",
]
EXPECTED_ERRORS = {"reserved_namespace": "InvalidParameterValue", "missing_alarm": "ResourceNotFound"}


@pytest.fixture(scope="module")
def over_query(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The walkthrough's result from botocore 1.42.6 in its own venv, run once for the module."""
    return run_query(server, walkthrough, tmp_path_factory.mktemp("query"))


def test_older_botocore_speaks_query_end_to_end(over_query: dict[str, Any]) -> None:
    assert over_query["botocore"] == "1.42.6"
    assert [w["operation"] for w in over_query["wire"]] == EXPECTED_OPERATIONS
    # Query: form-encoded bodies (Action=…&Version=2010-08-01), no JSON target header.
    assert all(w["content_type"].startswith(FORM) for w in over_query["wire"]), over_query["wire"]
    assert all(w["target"] is None for w in over_query["wire"]), over_query["wire"]
    assert over_query["errors"] == EXPECTED_ERRORS


def test_current_boto3_speaks_json_end_to_end(server: LiveServer) -> None:
    import botocore

    cw = server.client("cloudwatch", account=new_account())
    result = walkthrough(cw)
    assert tuple(int(p) for p in botocore.__version__.split(".")[:3]) >= (1, 42, 7)
    assert [w["operation"] for w in result["wire"]] == EXPECTED_OPERATIONS
    assert all(w["content_type"] == JSON_10 for w in result["wire"]), result["wire"]
    assert [w["target"] for w in result["wire"]] == [TARGET_PREFIX + op for op in EXPECTED_OPERATIONS]
    assert result["errors"] == EXPECTED_ERRORS


def test_both_protocols_give_the_same_answers(over_query: dict[str, Any], server: LiveServer) -> None:
    over_json = walkthrough(server.client("cloudwatch", account=new_account()))
    # Doubles travel as text in query XML and as JSON numbers: equal to the last bit either way.
    for field in ("errors", "percentiles", "history_types"):
        assert over_query[field] == over_json[field], field


def test_current_boto3_sends_a_large_batch_gzipped(server: LiveServer) -> None:
    result = large_batch(server.client("cloudwatch", account=new_account()))
    assert result == {"encodings": ["gzip"], "count": 500.0, "sum": float(sum(range(500)))}


def test_older_botocore_sends_a_large_batch_gzipped(server: LiveServer, tmp_path: Path) -> None:
    result = run_query(server, large_batch, tmp_path)
    assert {k: result[k] for k in ("encodings", "count", "sum")} == {
        "encodings": ["gzip"],
        "count": 500.0,
        "sum": float(sum(range(500))),
    }


# The AWS CLI, in the tool venv the S3 and Logs CLI tests share.


@pytest.fixture(scope="module")
def aws() -> Path:
    return tool_venv("awscli", AWSCLI, ["-m", "awscli", "--version"]) / "bin" / "aws"


def aws_cli(aws: Path, server: LiveServer, account: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(aws), "--output", "json", *args],
        env=tool_env(server, account=account),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_aws_cli_puts_and_describes_the_walkthrough_alarm(aws: Path, server: LiveServer) -> None:
    account = new_account()
    put = aws_cli(
        aws,
        server,
        account,
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "cli-5xx",
        "--metric-name",
        "Invocation5XXErrors",
        "--namespace",
        "AWS/SageMaker",
        "--statistic",
        "Average",
        "--dimensions",
        "Name=EndpointName,Value=my-endpoint",
        "Name=VariantName,Value=AllTraffic",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--comparison-operator",
        "GreaterThanOrEqualToThreshold",
        "--treat-missing-data",
        "notBreaching",
        "--no-actions-enabled",
    )
    assert put.returncode == 0, put.stderr
    described = aws_cli(aws, server, account, "cloudwatch", "describe-alarms", "--alarm-names", "cli-5xx")
    assert described.returncode == 0, described.stderr
    document = json.loads(described.stdout)
    assert document["CompositeAlarms"] == []
    [alarm] = document["MetricAlarms"]
    assert alarm["AlarmName"] == "cli-5xx"
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{account}:alarm:cli-5xx"
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/SageMaker",
        "Invocation5XXErrors",
        "Average",
    )
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (60, 1, 1.0)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["ActionsEnabled"] is False
    assert alarm["Dimensions"] == [
        {"Name": "EndpointName", "Value": "my-endpoint"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert alarm["StateValue"] in ("INSUFFICIENT_DATA", "OK")

    missing = aws_cli(
        aws,
        server,
        account,
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        "absent",
        "--state-value",
        "OK",
        "--state-reason",
        "x",
    )
    assert missing.returncode != 0
    assert "ResourceNotFound" in missing.stderr, missing.stderr
