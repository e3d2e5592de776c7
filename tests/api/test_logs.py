"""CloudWatch Logs through real boto3 (and the AWS CLI when installed) against a live server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import tool_venv

from sagemill.services.logs.retention import purge_expired
from sagemill.services.logs.writer import LogWriter
from sagemill.store.sql.engine import default_url, make_engine
from sagemill.store.sql.logs import SqlLogStore
from sagemill.testing.live_server import LiveServer

TRAINING = "/aws/sagemaker/TrainingJobs"
DAY = 86_400_000
NOT_FOUND_GROUP = ("ResourceNotFoundException", "The specified log group does not exist.")
NOT_FOUND_STREAM = ("ResourceNotFoundException", "The specified log stream does not exist.")


def new_account() -> str:
    return str(100_000_000_000 + secrets.randbelow(900_000_000_000))


def now_ms() -> int:
    return int(time.time() * 1000)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def account() -> str:
    return new_account()


@pytest.fixture
def logs(server: LiveServer, account: str) -> Any:
    """A Logs client in an account no other test uses."""
    return server.client("logs", account=account)


@pytest.fixture(scope="module")
def server_store(server: LiveServer) -> Iterator[SqlLogStore]:
    """The live server's own database, as the platform's in-process writers see it."""
    engine = make_engine(default_url(server.data_dir))
    yield SqlLogStore(engine)
    engine.dispose()


@pytest.fixture
def writer(server_store: SqlLogStore) -> LogWriter:
    return LogWriter(server_store)


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"] for e in events]


def put(logs: Any, group: str, stream: str, lines: list[tuple[int, str]]) -> dict[str, Any]:
    events = [{"timestamp": t, "message": m} for t, m in lines]
    result: dict[str, Any] = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    return result


def make_stream(logs: Any, group: str, stream: str, lines: list[tuple[int, str]] | None = None) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    if lines:
        put(logs, group, stream, lines)


# The SageMaker SDK's log loop


def test_sagemaker_sdk_training_log_polling(logs: Any, writer: LogWriter, account: str) -> None:
    job = "xgb-job-1"
    # The job has not logged yet: the SDK ignores exactly this error and polls again.
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(
            logGroupName=TRAINING, logStreamNamePrefix=f"{job}/", orderBy="LogStreamName", limit=1
        )
    assert error_of(exc) == NOT_FOUND_GROUP
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    stream = f"{job}/algo-1-1767225600"
    t0 = now_ms() - 60_000
    writer.append(
        account, "us-east-1", TRAINING, stream, [(t0 + i, f"[{i}] train-rmse:{i}") for i in range(7)]
    )
    writer.append(account, "us-east-1", TRAINING, "other-job/algo-1-1767225600", [(t0, "not mine")])
    streams = logs.describe_log_streams(
        logGroupName=TRAINING, logStreamNamePrefix=f"{job}/", orderBy="LogStreamName", limit=1
    )["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]

    # GetLogEvents(startFromHead=True) page by page until an empty page, as sagemaker.logs.log_stream does.
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        extra = {"nextToken": token} if token else {}
        page = logs.get_log_events(
            logGroupName=TRAINING, logStreamName=stream, startTime=0, startFromHead=True, limit=3, **extra
        )
        pages += 1
        token = page["nextForwardToken"]
        if not page["events"]:
            break
        seen += messages(page["events"])
    assert seen == [f"[{i}] train-rmse:{i}" for i in range(7)]
    assert pages == 4  # 3 + 3 + 1, then the empty page

    # The job keeps logging; the last forward token yields exactly the new lines, then stays put.
    writer.append(account, "us-east-1", TRAINING, stream, [(t0 + 7, "[7] done"), (t0 + 7, "[8] same ms")])
    page = logs.get_log_events(
        logGroupName=TRAINING, logStreamName=stream, startTime=0, startFromHead=True, nextToken=token
    )
    assert messages(page["events"]) == ["[7] done", "[8] same ms"]
    last = page["nextForwardToken"]
    again = logs.get_log_events(
        logGroupName=TRAINING, logStreamName=stream, startFromHead=True, nextToken=last
    )
    assert again["events"] == [] and again["nextForwardToken"] == last
    assert (
        logs.get_log_events(logGroupName=TRAINING, logStreamName=stream, nextToken=last)["nextForwardToken"]
        == last
    )
    event = page["events"][0]
    assert event["timestamp"] == t0 + 7 and isinstance(event["ingestionTime"], int)


def test_endpoint_logs_through_filter_with_a_variant_prefix(
    logs: Any, writer: LogWriter, account: str
) -> None:
    group = "/aws/sagemaker/Endpoints/my-ep"
    t0 = now_ms() - 1000
    writer.append(
        account, "us-east-1", group, "AllTraffic/i-0001", [(t0, "model loaded"), (t0 + 2, "ping ok")]
    )
    writer.append(account, "us-east-1", group, "AllTraffic/i-0002", [(t0 + 1, "model loaded")])
    writer.append(account, "us-east-1", group, "Shadow/i-0003", [(t0, "shadow")])
    found = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="AllTraffic/")
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [
        ("AllTraffic/i-0001", "model loaded"),
        ("AllTraffic/i-0002", "model loaded"),
        ("AllTraffic/i-0001", "ping ok"),
    ]
    assert "nextToken" not in found
    assert len({e["eventId"] for e in found["events"]}) == 3


# GetLogEvents paging and tokens


def test_tokens_are_aws_shaped_and_stable_both_ways(logs: Any) -> None:
    t0 = now_ms() - 10_000
    make_stream(logs, "/tokens", "s", [(t0 + i, f"m{i}") for i in range(5)])
    tail = logs.get_log_events(logGroupName="/tokens", logStreamName="s", limit=2)  # startFromHead false
    assert messages(tail["events"]) == ["m3", "m4"]
    for name in ("nextForwardToken", "nextBackwardToken"):
        direction, digits, suffix = tail[name].split("/")
        assert (direction, len(digits), suffix) == (name[4].lower(), 56, "s") and digits.isdigit()
    # Backward from the tail to the head, then the backward token stays put at the head.
    older: list[str] = []
    token = tail["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName="/tokens", logStreamName="s", limit=2, nextToken=token)
        if not page["events"]:
            assert page["nextBackwardToken"] == token
            break
        older = messages(page["events"]) + older
        token = page["nextBackwardToken"]
    assert older == ["m0", "m1", "m2"]
    # From the head forward again with the last backward token.
    forward = logs.get_log_events(
        logGroupName="/tokens", logStreamName="s", nextToken=token.replace("b/", "f/")
    )
    assert messages(forward["events"]) == ["m0", "m1", "m2", "m3", "m4"]
    # An empty stream answers stable tokens too.
    logs.create_log_stream(logGroupName="/tokens", logStreamName="empty")
    first = logs.get_log_events(logGroupName="/tokens", logStreamName="empty", startFromHead=True)
    second = logs.get_log_events(
        logGroupName="/tokens", logStreamName="empty", startFromHead=True, nextToken=first["nextForwardToken"]
    )
    assert first["events"] == second["events"] == []
    assert second["nextForwardToken"] == first["nextForwardToken"]
    for bad in ("f/123/s", "x/" + "0" * 56 + "/s", "garbage"):
        with pytest.raises(ClientError) as exc:
            logs.get_log_events(logGroupName="/tokens", logStreamName="s", nextToken=bad)
        assert error_of(exc) == ("InvalidParameterException", "The specified nextToken is invalid.")


def test_pages_stop_near_one_megabyte(logs: Any) -> None:
    t0 = now_ms() - 10_000
    make_stream(logs, "/big", "s", [(t0, "a" * 400_000), (t0 + 1, "b" * 400_000)])
    put(logs, "/big", "s", [(t0 + 2, "c" * 400_000)])
    head = logs.get_log_events(logGroupName="/big", logStreamName="s", startFromHead=True)
    assert [m[0] for m in messages(head["events"])] == ["a", "b"]
    rest = logs.get_log_events(logGroupName="/big", logStreamName="s", nextToken=head["nextForwardToken"])
    assert [m[0] for m in messages(rest["events"])] == ["c"]
    tail = logs.get_log_events(logGroupName="/big", logStreamName="s")  # the newest that fit
    assert [m[0] for m in messages(tail["events"])] == ["b", "c"]


def test_time_bounds(logs: Any) -> None:
    t0 = now_ms() - 10_000
    make_stream(logs, "/bounds", "s", [(t0 + i * 10, f"m{i}") for i in range(5)])

    def get(**kw: Any) -> list[str]:
        return messages(
            logs.get_log_events(logGroupName="/bounds", logStreamName="s", startFromHead=True, **kw)["events"]
        )

    def filtered(**kw: Any) -> list[str]:
        return messages(logs.filter_log_events(logGroupName="/bounds", **kw)["events"])

    assert get(startTime=t0 + 10, endTime=t0 + 30) == ["m1", "m2"]  # end exclusive
    assert filtered(startTime=t0 + 10, endTime=t0 + 30) == ["m1", "m2", "m3"]  # end inclusive
    assert get(startTime=t0 + 11) == ["m2", "m3", "m4"]
    assert get(endTime=t0) == []
    page = logs.get_log_events(
        logGroupName="/bounds", logStreamName="s", startTime=t0 + 10, endTime=t0 + 30, limit=1
    )
    assert messages(page["events"]) == ["m2"]  # the tail of the window


# FilterLogEvents


def test_filter_patterns(logs: Any) -> None:
    t0 = now_ms() - 10_000
    lines = [
        "ERROR Internal Server Error in handler",
        "WARN disk almost full",
        "INFO request ok",
        "ERROR timeout talking to s3",
        "error lower case",
        'DEBUG said "hello world"',
    ]
    make_stream(logs, "/filters", "a", [(t0 + i, m) for i, m in enumerate(lines)])

    def match(pattern: str) -> list[str]:
        return messages(logs.filter_log_events(logGroupName="/filters", filterPattern=pattern)["events"])

    assert match("") == lines
    assert match("ERROR") == [lines[0], lines[3]]  # case-sensitive
    assert match("ERROR timeout") == [lines[3]]  # all terms
    assert match('"Internal Server Error"') == [lines[0]]
    assert match('"hello world"') == [lines[5]]
    assert match('"said \\"hello"') == [lines[5]]
    assert match("?WARN ?timeout") == [lines[1], lines[3]]
    assert match("ERROR -timeout") == [lines[0]]
    assert match('-ERROR -"request ok"') == [lines[1], lines[4], lines[5]]
    for unsupported in (
        '{ $.level = "ERROR" }',
        "[ip, user, status]",
        "%ERR.R%",
        "ERROR ?WARN",
        "s3.amazonaws",
    ):
        with pytest.raises(ClientError) as exc:
            match(unsupported)
        assert error_of(exc)[0] == "InvalidParameterException", unsupported
    with pytest.raises(ClientError) as exc:
        match("s3.amazonaws")
    assert error_of(exc) == ("InvalidParameterException", "Invalid character(s) in term 's3.amazonaws'")


def test_filter_pagination_streams_and_direction(logs: Any) -> None:
    t0 = now_ms() - 10_000
    make_stream(
        logs, "/pages", "a", [(t0 + 2 * i, f"a{i} hit" if i % 2 == 0 else f"a{i}") for i in range(10)]
    )
    make_stream(logs, "/pages", "b", [(t0 + 2 * i + 1, f"b{i} hit") for i in range(5)])

    def walk(**kw: Any) -> list[list[str]]:
        pages: list[list[str]] = []
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            page = logs.filter_log_events(logGroupName="/pages", limit=3, **kw, **extra)
            pages.append(messages(page["events"]))
            token = page.get("nextToken")
            if token is None:
                return pages

    hits = [m for p in walk(filterPattern="hit") for m in p]
    assert hits == [
        "a0 hit",
        "b0 hit",
        "b1 hit",
        "a2 hit",
        "b2 hit",
        "b3 hit",
        "a4 hit",
        "b4 hit",
        "a6 hit",
        "a8 hit",
    ]
    assert all(len(p) <= 3 for p in walk(filterPattern="hit"))
    assert [m for p in walk(logStreamNames=["b"]) for m in p] == [f"b{i} hit" for i in range(5)]
    newest_first = [m for p in walk(filterPattern="hit", startFromHead=False) for m in p]
    assert newest_first == hits[::-1]
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName="/pages", logStreamNames=["a"], logStreamNamePrefix="a")
    assert error_of(exc)[0] == "InvalidParameterException"
    paginated = logs.get_paginator("filter_log_events").paginate(
        logGroupName="/pages", PaginationConfig={"PageSize": 4}
    )
    assert len([e for page in paginated for e in page["events"]]) == 15


# Listings


def test_describe_groups_and_streams(logs: Any, account: str) -> None:
    t0 = now_ms() - 10_000
    for name in ["/app/a", "/app/b", "/app/c", "/other", "/app/d"]:
        logs.create_log_group(logGroupName=name, tags={"team": "ml"})
    pages = list(
        logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix="/app/", PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["logGroups"]) for p in pages] == [2, 2]
    group = pages[0]["logGroups"][0]
    assert group["logGroupName"] == "/app/a"
    assert group["arn"] == f"arn:aws:logs:us-east-1:{account}:log-group:/app/a:*"
    assert group["logGroupArn"] == f"arn:aws:logs:us-east-1:{account}:log-group:/app/a"
    assert group["storedBytes"] == 0 and "retentionInDays" not in group
    pattern = logs.describe_log_groups(logGroupNamePattern="pp/")["logGroups"]
    assert [g["logGroupName"] for g in pattern] == ["/app/a", "/app/b", "/app/c", "/app/d"]
    assert set(pattern[0]) == {"logGroupName", "creationTime", "arn"}

    for i, stream in enumerate(["s3", "s1", "s2"]):
        make_stream(logs, "/app/a", stream, [(t0 + (2 - i), "x" * (i + 1))])
    by_name = logs.describe_log_streams(logGroupName="/app/a")["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["s1", "s2", "s3"]
    assert by_name[0]["arn"] == f"arn:aws:logs:us-east-1:{account}:log-group:/app/a:log-stream:s1"
    assert by_name[0]["firstEventTimestamp"] == by_name[0]["lastEventTimestamp"] == t0 + 1
    paged = logs.get_paginator("describe_log_streams").paginate(
        logGroupName="/app/a", orderBy="LastEventTime", descending=True, PaginationConfig={"PageSize": 1}
    )
    assert [s["logStreamName"] for p in paged for s in p["logStreams"]] == ["s3", "s1", "s2"]
    stored = logs.describe_log_groups(logGroupNamePrefix="/app/a")["logGroups"][0]["storedBytes"]
    assert stored == 1 + 2 + 3
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="/app/a", logStreamNamePrefix="s", orderBy="LastEventTime")
    assert error_of(exc) == (
        "InvalidParameterException",
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
    )
    by_arn = logs.describe_log_streams(logGroupIdentifier=group["logGroupArn"])["logStreams"]
    assert len(by_arn) == 3


# Retention


def test_retention_hides_then_purge_deletes(logs: Any, server_store: SqlLogStore) -> None:
    now = now_ms()
    make_stream(logs, "/ret", "s", [(now - 3 * DAY + i, f"old{i}") for i in range(3)])
    put(logs, "/ret", "s", [(now, "fresh")])
    before = logs.describe_log_groups(logGroupNamePrefix="/ret")["logGroups"][0]
    assert before["storedBytes"] == 3 * 4 + 5

    logs.put_retention_policy(logGroupName="/ret", retentionInDays=1)
    assert logs.describe_log_groups(logGroupNamePrefix="/ret")["logGroups"][0]["retentionInDays"] == 1
    visible = logs.get_log_events(logGroupName="/ret", logStreamName="s", startFromHead=True)
    assert messages(visible["events"]) == ["fresh"]
    assert messages(logs.filter_log_events(logGroupName="/ret")["events"]) == ["fresh"]

    assert purge_expired(server_store, time.time()) >= 3
    after = logs.describe_log_groups(logGroupNamePrefix="/ret")["logGroups"][0]
    assert after["storedBytes"] == 5
    stream = logs.describe_log_streams(logGroupName="/ret")["logStreams"][0]
    assert stream["firstEventTimestamp"] == now

    # With retention set, PutLogEvents rejects what it would no longer keep, and says which.
    result = put(
        logs,
        "/ret",
        "s",
        [
            (now - 20 * DAY, "too old"),
            (now - 2 * DAY, "expired"),
            (now, "ok"),
            (now + 3 * 3_600_000, "too new"),
        ],
    )
    assert result["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 0,
        "expiredLogEventEndIndex": 1,
        "tooNewLogEventStartIndex": 3,
    }
    logs.delete_retention_policy(logGroupName="/ret")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="/ret")["logGroups"][0]
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="/ret", retentionInDays=2)
    assert error_of(exc) == (
        "InvalidParameterException",
        "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: "
        "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, "
        "731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
    )


# Tenancy


def test_accounts_and_regions_are_isolated(server: LiveServer, logs: Any, account: str) -> None:
    make_stream(logs, "/mine", "s", [(now_ms(), "secret")])
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:/mine"
    other = server.client("logs", account=new_account())
    elsewhere = server.client("logs", account=account, region="eu-west-1")
    for client in (other, elsewhere):
        assert client.describe_log_groups(logGroupNamePrefix="/mine")["logGroups"] == []
        for call in (
            lambda c=client: c.get_log_events(logGroupName="/mine", logStreamName="s"),
            lambda c=client: c.get_log_events(logGroupIdentifier=arn, logStreamName="s"),
            lambda c=client: c.filter_log_events(logGroupIdentifier=arn),
            lambda c=client: c.list_tags_for_resource(resourceArn=arn),
            lambda c=client: c.delete_log_group(logGroupName="/mine"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert error_of(exc) == NOT_FOUND_GROUP
    make_stream(other, "/mine", "s", [(now_ms(), "theirs")])
    assert messages(logs.filter_log_events(logGroupName="/mine")["events"]) == ["secret"]
    assert messages(other.filter_log_events(logGroupName="/mine")["events"]) == ["theirs"]


# Bad input


def test_missing_and_duplicate_resources(logs: Any) -> None:
    for call in (
        lambda: logs.get_log_events(logGroupName="/nope", logStreamName="s"),
        lambda: logs.put_log_events(
            logGroupName="/nope", logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "m"}]
        ),
        lambda: logs.create_log_stream(logGroupName="/nope", logStreamName="s"),
        lambda: logs.describe_log_streams(logGroupName="/nope"),
        lambda: logs.delete_log_group(logGroupName="/nope"),
        lambda: logs.put_retention_policy(logGroupName="/nope", retentionInDays=1),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == NOT_FOUND_GROUP
        assert isinstance(exc.value, logs.exceptions.ResourceNotFoundException)
    logs.create_log_group(logGroupName="/dup")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException) as dup:
        logs.create_log_group(logGroupName="/dup")
    assert error_of(dup) == ("ResourceAlreadyExistsException", "The specified log group already exists.")
    logs.create_log_stream(logGroupName="/dup", logStreamName="s")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/dup", logStreamName="s")
    assert error_of(exc) == ("ResourceAlreadyExistsException", "The specified log stream already exists.")
    for call in (
        lambda: logs.get_log_events(logGroupName="/dup", logStreamName="absent"),
        lambda: logs.put_log_events(
            logGroupName="/dup", logStreamName="absent", logEvents=[{"timestamp": now_ms(), "message": "m"}]
        ),
        lambda: logs.delete_log_stream(logGroupName="/dup", logStreamName="absent"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == NOT_FOUND_STREAM
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/dup", logGroupIdentifier="/dup", logStreamName="s")
    assert error_of(exc)[0] == "InvalidParameterException"


def test_put_log_events_batch_rules(logs: Any) -> None:
    now = now_ms()
    make_stream(logs, "/batch", "s")
    with pytest.raises(ClientError) as exc:
        put(logs, "/batch", "s", [(now, "b"), (now - 1, "a")])
    assert error_of(exc) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    with pytest.raises(ClientError) as exc:
        put(logs, "/batch", "s", [(now - 25 * 3_600_000, "a"), (now, "b")])
    assert error_of(exc) == (
        "InvalidParameterException",
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
    )
    with pytest.raises(ClientError) as exc:
        put(logs, "/batch", "s", [(now, "x" * 600_000), (now, "y" * 600_000)])
    assert error_of(exc) == (
        "InvalidParameterException",
        "Upload too large: 1200052 bytes exceeds limit of 1048576",
    )
    # Nothing of a refused batch lands; the sequence token is accepted and ignored.
    ok = logs.put_log_events(
        logGroupName="/batch",
        logStreamName="s",
        logEvents=[{"timestamp": now, "message": "kept"}],
        sequenceToken="bogus",
    )
    assert "rejectedLogEventsInfo" not in ok and ok["nextSequenceToken"]
    assert messages(logs.get_log_events(logGroupName="/batch", logStreamName="s")["events"]) == ["kept"]


# Tags, deletion


def test_tags_and_deletion(logs: Any, account: str) -> None:
    logs.create_log_group(logGroupName="/t", tags={"a": "1"})
    arn = f"arn:aws:logs:us-east-1:{account}:log-group:/t"
    logs.tag_resource(resourceArn=arn, tags={"b": "2"})
    logs.tag_log_group(logGroupName="/t", tags={"c": "3"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2", "c": "3"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    logs.untag_log_group(logGroupName="/t", tags=["b"])
    assert logs.list_tags_log_group(logGroupName="/t")["tags"] == {"c": "3"}
    with pytest.raises(ClientError) as exc:
        logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert error_of(exc)[0] == "TooManyTagsException"

    make_stream(logs, "/t", "s", [(now_ms(), "bye")])
    logs.put_log_group_deletion_protection(logGroupIdentifier="/t", deletionProtectionEnabled=True)
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName="/t")
    assert error_of(exc)[0] == "ValidationException"
    logs.put_log_group_deletion_protection(logGroupIdentifier=arn, deletionProtectionEnabled=False)
    logs.delete_log_stream(logGroupName="/t", logStreamName="s")
    assert logs.describe_log_streams(logGroupName="/t")["logStreams"] == []
    logs.delete_log_group(logGroupName="/t")
    assert logs.describe_log_groups(logGroupNamePrefix="/t")["logGroups"] == []
    logs.create_log_group(logGroupName="/t")
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {}


# The AWS CLI, in the tool venv the S3 CLI tests build (it pins its own botocore).


def test_aws_cli_reads_logs(server: LiveServer, logs: Any, account: str, tmp_path: Path) -> None:
    cli = str(tool_venv("awscli", ["awscli>=1.40,<2"], ["-m", "awscli", "--version"]) / "bin" / "aws")
    t0 = now_ms() - 1000
    make_stream(logs, "/cli", "s", [(t0, "hello from boto3"), (t0 + 1, "second line")])
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "sagemill-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    command = [
        cli,
        "logs",
        "get-log-events",
        "--log-group-name",
        "/cli",
        "--log-stream-name",
        "s",
        "--start-from-head",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert messages(json.loads(done.stdout)["events"]) == ["hello from boto3", "second line"]
    missing = subprocess.run(
        [cli, "logs", "describe-log-streams", "--log-group-name", "/absent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0
    assert (
        "ResourceNotFoundException" in missing.stderr
        and "The specified log group does not exist." in missing.stderr
    )
