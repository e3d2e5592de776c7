"""CloudWatch metrics through real boto3 (JSON 1.0) on a live server: ingest, statistics, math, listing."""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sagemill.testing.live_server import LiveServer


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


@pytest.fixture
def cw(server: LiveServer) -> Any:
    return server.client("cloudwatch", account=new_account())


def minute_ago() -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(seconds=now.second) - timedelta(minutes=1)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def stats(cw: Any, name: str, start: datetime, **kw: Any) -> list[dict[str, Any]]:
    reply = cw.get_metric_statistics(
        Namespace="App",
        MetricName=name,
        StartTime=start,
        EndTime=start + timedelta(minutes=1),
        Period=60,
        **kw,
    )
    return sorted(reply["Datapoints"], key=lambda d: d["Timestamp"])


def test_statistics_are_exact_over_values_counts_and_statistic_sets(cw: Any) -> None:
    start = minute_ago()
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {
                "MetricName": "Latency",
                "Timestamp": start + timedelta(seconds=1),
                "Value": 10.0,
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Timestamp": start + timedelta(seconds=2),
                "Values": [20.0, 30.0],
                "Counts": [2.0, 1.0],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Timestamp": start + timedelta(seconds=3),
                "StatisticValues": {"SampleCount": 4, "Sum": 100.0, "Minimum": 5.0, "Maximum": 40.0},
                "Unit": "Milliseconds",
            },
        ],
    )
    [point] = stats(cw, "Latency", start, Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"])
    assert point["SampleCount"] == 8.0
    assert point["Sum"] == 10 + 40 + 30 + 100
    assert point["Average"] == pytest.approx(180 / 8)
    assert (point["Minimum"], point["Maximum"]) == (5.0, 40.0)
    assert point["Unit"] == "Milliseconds"
    assert point["Timestamp"] == start


def test_percentiles_come_from_raw_values(cw: Any) -> None:
    start = minute_ago()
    values = [float(v) for v in range(1, 101)]
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {"MetricName": "Sizes", "Timestamp": start + timedelta(seconds=5), "Values": values[:50]},
            {"MetricName": "Sizes", "Timestamp": start + timedelta(seconds=6), "Values": values[50:]},
        ],
    )
    [point] = stats(cw, "Sizes", start, ExtendedStatistics=["p50", "p99", "p100"])
    extended = point["ExtendedStatistics"]
    assert extended["p100"] == 100.0
    assert 49.0 <= extended["p50"] <= 51.0
    assert 98.0 <= extended["p99"] <= 100.0


def test_unit_filter_and_dimensions_select_series(cw: Any) -> None:
    start = minute_ago()
    at = start + timedelta(seconds=10)
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {
                "MetricName": "Hits",
                "Dimensions": [{"Name": "Host", "Value": "a"}],
                "Timestamp": at,
                "Value": 1.0,
            },
            {
                "MetricName": "Hits",
                "Dimensions": [{"Name": "Host", "Value": "b"}],
                "Timestamp": at,
                "Value": 5.0,
            },
            {"MetricName": "Hits", "Timestamp": at, "Value": 7.0, "Unit": "Count"},
        ],
    )
    [a] = stats(cw, "Hits", start, Statistics=["Sum"], Dimensions=[{"Name": "Host", "Value": "a"}])
    assert a["Sum"] == 1.0
    [bare] = stats(cw, "Hits", start, Statistics=["Sum"], Unit="Count")
    assert bare["Sum"] == 7.0
    assert stats(cw, "Hits", start, Statistics=["Sum"], Unit="Seconds") == []


def test_list_metrics_filters_and_isolates_accounts(server: LiveServer, cw: Any) -> None:
    at = minute_ago()
    cw.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {
                "MetricName": "Orders",
                "Dimensions": [{"Name": "Region", "Value": "eu"}],
                "Timestamp": at,
                "Value": 1,
            },
            {
                "MetricName": "Orders",
                "Dimensions": [{"Name": "Region", "Value": "us"}],
                "Timestamp": at,
                "Value": 1,
            },
            {"MetricName": "Refunds", "Timestamp": at, "Value": 1},
        ],
    )
    everything = cw.list_metrics(Namespace="Shop")["Metrics"]
    assert len(everything) == 3
    eu = cw.list_metrics(Namespace="Shop", Dimensions=[{"Name": "Region", "Value": "eu"}])["Metrics"]
    assert eu == [
        {"Namespace": "Shop", "MetricName": "Orders", "Dimensions": [{"Name": "Region", "Value": "eu"}]}
    ]
    by_name = cw.list_metrics(Namespace="Shop", Dimensions=[{"Name": "Region"}])["Metrics"]
    assert len(by_name) == 2
    other = server.client("cloudwatch", account=new_account())
    assert other.list_metrics(Namespace="Shop")["Metrics"] == []


def test_list_metrics_paginates(cw: Any) -> None:
    at = minute_ago()
    for batch in range(2):
        cw.put_metric_data(
            Namespace="Many",
            MetricData=[
                {"MetricName": f"m{batch}-{i:03d}", "Timestamp": at, "Value": 1.0} for i in range(300)
            ],
        )
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace="Many"))
    names = [m["MetricName"] for p in pages for m in p["Metrics"]]
    assert len(pages) == 2
    assert sorted(names) == names and len(set(names)) == 600


def test_get_metric_data_math_and_labels(cw: Any) -> None:
    start = minute_ago() - timedelta(minutes=2)
    data = []
    for minute in range(3):
        at = start + timedelta(minutes=minute, seconds=1)
        data.append({"MetricName": "Errors", "Timestamp": at, "Value": float(minute)})
        data.append({"MetricName": "Requests", "Timestamp": at, "Value": 10.0})
    cw.put_metric_data(Namespace="App", MetricData=data)

    def stat(name: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60, "Stat": "Sum"}

    reply = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "errors", "MetricStat": stat("Errors"), "ReturnData": False},
            {"Id": "requests", "MetricStat": stat("Requests"), "ReturnData": False},
            {"Id": "rate", "Expression": "100 * errors / requests", "Label": "Error rate"},
            {"Id": "total", "Expression": "SUM(METRICS())"},
        ],
        StartTime=start,
        EndTime=start + timedelta(minutes=3),
        ScanBy="TimestampAscending",
    )
    results = {r["Id"]: r for r in reply["MetricDataResults"]}
    assert set(results) == {"rate", "total"}
    assert results["rate"]["Label"] == "Error rate"
    assert results["rate"]["Values"] == [0.0, 10.0, 20.0]
    assert results["rate"]["Timestamps"] == [start + timedelta(minutes=m) for m in range(3)]
    assert results["rate"]["StatusCode"] == "Complete"


def test_get_metric_data_pages_by_max_datapoints(cw: Any) -> None:
    start = minute_ago() - timedelta(minutes=9)
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {"MetricName": "Ticks", "Timestamp": start + timedelta(minutes=m, seconds=2), "Value": 1.0}
            for m in range(10)
        ],
    )
    query = {
        "Id": "ticks",
        "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Ticks"}, "Period": 60, "Stat": "Sum"},
    }
    pages = list(
        cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=[query],
            StartTime=start,
            EndTime=start + timedelta(minutes=10),
            PaginationConfig={"PageSize": 4},
        )
    )
    values = [v for p in pages for r in p["MetricDataResults"] for v in r["Values"]]
    assert len(pages) == 3 and values == [1.0] * 10
    assert pages[0]["MetricDataResults"][0]["StatusCode"] == "PartialData"


@pytest.mark.parametrize(
    ("datum", "code"),
    [
        ({"MetricName": "x", "Value": math.nan}, "InvalidParameterValue"),
        ({"MetricName": "x", "Value": math.inf}, "InvalidParameterValue"),
        ({"MetricName": "x", "Value": 1.0, "Values": [1.0]}, "InvalidParameterCombination"),
        ({"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}, "InvalidParameterValue"),
        ({"MetricName": "x", "Values": [1.0] * 151}, "InvalidParameterValue"),
        ({"MetricName": "x" * 256, "Value": 1.0}, "ValidationError"),
        (
            {"MetricName": "x", "Value": 1.0, "Timestamp": datetime(2001, 1, 1, tzinfo=UTC)},
            "InvalidParameterValue",
        ),
        (
            {
                "MetricName": "x",
                "Value": 1.0,
                "Dimensions": [{"Name": f"d{i}", "Value": "v"} for i in range(31)],
            },
            "ValidationError",
        ),
    ],
)
def test_bad_data_is_refused_and_nothing_is_stored(cw: Any, datum: dict[str, Any], code: str) -> None:
    good = {"MetricName": "kept", "Value": 1.0}
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Bad", MetricData=[good, datum])
    assert error_of(exc)[0] == code
    assert error_of(exc)[2] == 400
    assert cw.list_metrics(Namespace="Bad")["Metrics"] == []


def test_aws_namespaces_and_oversized_batches_are_refused(cw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "x", "Value": 1.0}])
    assert error_of(exc)[:2] == (
        "InvalidParameterValue",
        "The value AWS/SageMaker for parameter Namespace is invalid.",
    )
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Big", MetricData=[{"MetricName": "x", "Value": 1.0}] * 1001)
    assert error_of(exc)[0] in ("InvalidParameterValue", "ValidationError")


def test_statistics_requests_are_checked(cw: Any) -> None:
    start = minute_ago()
    base = {"Namespace": "App", "MetricName": "x", "StartTime": start}
    cases = [
        (
            {"EndTime": start + timedelta(minutes=1), "Period": 7, "Statistics": ["Sum"]},
            "InvalidParameterValue",
        ),
        (
            {"EndTime": start - timedelta(minutes=1), "Period": 60, "Statistics": ["Sum"]},
            "InvalidParameterValue",
        ),
        (
            {"EndTime": start + timedelta(days=2), "Period": 60, "Statistics": ["Sum"]},
            "InvalidParameterCombination",
        ),
        (
            {
                "EndTime": start + timedelta(minutes=1),
                "Period": 60,
                "Statistics": ["Sum"],
                "ExtendedStatistics": ["p9"],
            },
            "InvalidParameterCombination",
        ),
        ({"EndTime": start + timedelta(minutes=1), "Period": 60}, "MissingParameter"),
        (
            {"EndTime": start + timedelta(minutes=1), "Period": 60, "ExtendedStatistics": ["p101"]},
            "InvalidParameterValue",
        ),
    ]
    for extra, code in cases:
        with pytest.raises(ClientError) as exc:
            cw.get_metric_statistics(**base, **extra)
        assert error_of(exc)[0] == code, extra


def test_bad_math_is_a_validation_error(cw: Any) -> None:
    start = minute_ago()
    with pytest.raises(ClientError) as exc:
        cw.get_metric_data(
            MetricDataQueries=[{"Id": "e1", "Expression": "1 +* 2"}],
            StartTime=start,
            EndTime=start + timedelta(minutes=1),
        )
    code, message, _ = error_of(exc)
    assert code == "ValidationError" and "e1" in message


def test_query_error_header_carries_legacy_code(cw: Any) -> None:
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "x", "Value": 1.0}])
    headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
