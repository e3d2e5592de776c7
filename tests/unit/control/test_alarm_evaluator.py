"""The alarm evaluator writes a tick's transitions in batches and stays crash-safe doing so."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sagemill.aws.context import Principal, RequestContext
from sagemill.control.alarms import AlarmEvaluator
from sagemill.domain.resources import Resource, ResourceKey
from sagemill.metrics.alarm_records import KIND
from sagemill.services.cloudwatch import alarms as alarm_operations
from sagemill.store.metrics import AlarmHistoryItem, AlarmHistoryQuery, MetricKey, Sample
from sagemill.store.sql.metrics import SqlMetricStore
from sagemill.store.sql.migrate import upgrade
from sagemill.store.sql.repositories import SqlStore

ACCOUNT, REGION = "123456789012", "us-east-1"
NOW = 1_700_000_000.0
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"


class Crash(Exception):
    """Stands for the process dying at that point."""


class CountingStore(SqlStore):
    """Counts the batched writes, and can die before the n-th one."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.batches: list[int] = []
        self.crash_at: int | None = None

    def update_resources(self, items: Sequence[tuple[Resource, int]]) -> list[Resource | None]:
        if self.crash_at is not None and len(self.batches) + 1 == self.crash_at:
            self.crash_at = None
            raise Crash
        self.batches.append(len(items))
        return super().update_resources(items)


class CountingMetrics(SqlMetricStore):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.engine, write_lock=store.write_lock)
        self.appends: list[list[str]] = []
        self.crash_next = False

    def append_history(self, items: Sequence[AlarmHistoryItem]) -> None:
        if self.crash_next:
            self.crash_next = False
            raise Crash
        self.appends.append([i.item_type for i in items])
        super().append_history(items)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = CountingStore(f"sqlite:///{tmp_path / 'alarms.db'}")
        upgrade(self.store.engine)
        self.metrics = CountingMetrics(self.store)
        self.published: list[tuple[str, str]] = []
        self.changed: list[Resource] = []
        self.evaluator = AlarmEvaluator(self.store, self.metrics, self.publish, [self.changed.append])
        principal = Principal(ACCOUNT, "AKIDTEST", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
        self.context = RequestContext("test", "cloudwatch", "Put", REGION, principal)
        self.operations = alarm_operations.operations(self.store, self.metrics, lambda: NOW, self.publish)

    def publish(self, account: str, region: str, topic: str, message: str, subject: str | None) -> str:
        self.published.append((topic, str(subject)))
        return f"msg-{len(self.published)}"

    def put_data(self, name: str, value: float) -> None:
        key = MetricKey(ACCOUNT, REGION, "Test", "Latency", (("Host", name),))
        self.metrics.put_samples([(key, Sample(int(NOW) - 30, 1.0, value, value, value, value))])

    def put_alarm(self, name: str, threshold: float = 50.0, **extra: Any) -> None:
        params = {
            "AlarmName": name,
            "Namespace": "Test",
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Host", "Value": name}],
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            **extra,
        }
        self.operations["PutMetricAlarm"](self.context, params)

    def put_composite(self, name: str, rule: str) -> None:
        self.operations["PutCompositeAlarm"](self.context, {"AlarmName": name, "AlarmRule": rule})

    def alarm(self, name: str) -> Resource:
        found = self.store.get_resource(ResourceKey(ACCOUNT, REGION, KIND, name))
        assert found is not None
        return found

    def history(self, name: str) -> list[tuple[str, str]]:
        items, _ = self.metrics.list_history(
            AlarmHistoryQuery(ACCOUNT, REGION, alarm_name=name, newest_first=False)
        )
        return [(i.item_type, i.summary) for i in items if i.item_type != "ConfigurationUpdate"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.store.close()


def test_a_tick_writes_all_its_transitions_in_three_batches(world: World) -> None:
    for i in range(5):
        world.put_data(f"a{i}", 100.0 if i % 2 else 0.0)
        world.put_alarm(f"a{i}")
    world.metrics.appends.clear()
    world.evaluator.tick(NOW)
    # States with their pending records, then their history, then the records cleared.
    assert world.store.batches == [5, 5]
    assert world.metrics.appends == [["StateUpdate"] * 5]
    for i in range(5):
        alarm = world.alarm(f"a{i}")
        assert alarm.status == ("ALARM" if i % 2 else "OK")
        assert "pending" not in alarm.observed
        assert world.history(f"a{i}") == [
            ("StateUpdate", f"Alarm updated from INSUFFICIENT_DATA to {alarm.status}")
        ]
    assert sorted(a.key.name for a in world.changed) == [f"a{i}" for i in range(5)]
    assert all("pending" not in a.observed for a in world.changed)
    # A steady tick writes nothing.
    world.evaluator.tick(NOW + 1)
    assert world.store.batches == [5, 5]


def test_actions_run_after_the_state_history_and_are_recorded_after_it(world: World) -> None:
    world.put_data("loud", 100.0)
    world.put_alarm("loud", AlarmActions=[TOPIC])
    world.put_data("quiet", 100.0)
    world.put_alarm("quiet")
    world.metrics.appends.clear()
    world.evaluator.tick(NOW)
    assert world.metrics.appends == [["StateUpdate", "StateUpdate"], ["Action"]]
    assert world.published == [(TOPIC, 'ALARM: "loud" in US East (N. Virginia)')]
    assert [t for t, _ in world.history("loud")] == ["StateUpdate", "Action"]


def test_a_crash_before_the_history_is_finished_by_the_next_tick_once(world: World) -> None:
    world.put_data("a", 100.0)
    world.put_alarm("a", AlarmActions=[TOPIC])
    world.metrics.crash_next = True
    with pytest.raises(Crash):
        world.evaluator.tick(NOW)
    # The state is written, with the record of what must follow.
    assert world.alarm("a").status == "ALARM"
    assert world.alarm("a").observed["pending"]["new"]["stateValue"] == "ALARM"
    assert world.history("a") == []
    world.evaluator.tick(NOW + 10)
    assert "pending" not in world.alarm("a").observed
    assert [t for t, _ in world.history("a")] == ["StateUpdate", "Action"]
    assert len(world.published) == 1
    world.evaluator.tick(NOW + 20)
    assert [t for t, _ in world.history("a")] == ["StateUpdate", "Action"]


def test_a_crash_before_the_records_are_cleared_duplicates_no_history(world: World) -> None:
    for name in ("a", "b"):
        world.put_data(name, 100.0)
        world.put_alarm(name, AlarmActions=[TOPIC])
    world.store.crash_at = 2  # the batch that clears the records
    with pytest.raises(Crash):
        world.evaluator.tick(NOW)
    assert all("pending" in world.alarm(n).observed for n in ("a", "b"))
    world.evaluator.tick(NOW + 10)
    for name in ("a", "b"):
        assert "pending" not in world.alarm(name).observed
        assert [t for t, _ in world.history(name)] == ["StateUpdate", "Action"]
    # At least once: the actions ran again for the unfinished transitions.
    assert len(world.published) == 4


def test_an_alarm_changed_meanwhile_is_skipped_and_the_others_written(world: World) -> None:
    for name in ("a", "b"):
        world.put_data(name, 100.0)
        world.put_alarm(name)
    real = world.store.due_resources

    def racing(kind: str, now: float, limit: int) -> list[Resource]:
        read = real(kind, now, limit)
        # SetAlarmState lands between the evaluator's read and its write.
        world.operations["SetAlarmState"](
            world.context, {"AlarmName": "b", "StateValue": "OK", "StateReason": "by hand"}
        )
        return read

    world.store.due_resources = racing  # type: ignore[method-assign]
    world.evaluator.tick(NOW)
    assert world.alarm("a").status == "ALARM"
    assert (world.alarm("b").status, world.alarm("b").status_reason) == ("OK", "by hand")
    assert [a.key.name for a in world.changed] == ["a"]
    world.store.due_resources = real  # type: ignore[method-assign]
    world.evaluator.tick(NOW + 10)
    assert world.alarm("b").status == "ALARM"
    assert "pending" not in world.alarm("b").observed


def test_composites_follow_their_children_in_the_same_tick_and_transaction(world: World) -> None:
    world.put_data("child", 100.0)
    world.put_alarm("child")
    world.put_composite("parent", 'ALARM("child")')
    world.metrics.appends.clear()
    world.evaluator.tick(NOW)
    assert world.alarm("child").status == "ALARM"
    assert world.alarm("parent").status == "ALARM"
    assert world.store.batches == [2, 2]
    assert world.metrics.appends == [["StateUpdate", "StateUpdate"]]
    assert "child transitioned to ALARM" in world.alarm("parent").status_reason


def test_set_alarm_state_still_writes_and_finishes_its_transition(world: World) -> None:
    world.put_alarm("manual")
    world.operations["SetAlarmState"](
        world.context, {"AlarmName": "manual", "StateValue": "ALARM", "StateReason": "test"}
    )
    alarm = world.alarm("manual")
    assert (alarm.status, "pending" in alarm.observed) == ("ALARM", False)
    assert world.history("manual") == [("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM")]
