"""The LogStore port's contract as a pytest suite that every adapter must pass.

Subclass `LogStoreContract` and provide a `log_store` fixture yielding an empty LogStore; parametrise
the fixture to run the suite against several adapters. The suite speaks only to store/logs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from sagemill.domain.errors import AlreadyExists
from sagemill.store.logs import (
    EventCursor,
    EventQuery,
    LogEvent,
    LogGroup,
    LogGroupKey,
    LogGroupNotFound,
    LogGroupQuery,
    LogStore,
    LogStreamNotFound,
    LogStreamQuery,
)
from sagemill.testing.store_contract import race

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
T0 = 1_767_225_600_123  # ms; not round, so truncation shows
DAY = 86_400_000


def gkey(
    name: str = "/aws/sagemaker/TrainingJobs", account: str = ACCOUNT, region: str = REGION
) -> LogGroupKey:
    return LogGroupKey(account, region, name)


def group(name: str = "/aws/sagemaker/TrainingJobs", **fields: Any) -> LogGroup:
    return LogGroup(
        key=gkey(name, fields.pop("account", ACCOUNT), fields.pop("region", REGION)), created_ms=T0, **fields
    )


def messages(events: list[LogEvent]) -> list[str]:
    return [e.message for e in events]


def read(store: LogStore, key: LogGroupKey, **fields: Any) -> list[LogEvent]:
    return store.read_events(EventQuery(group=key, **fields))


class LogStoreContract:
    """The contract of store/logs.py; subclasses provide a `log_store` fixture yielding an empty store."""

    # groups

    def test_group_round_trips_and_missing_reads_as_none(self, log_store: LogStore) -> None:
        created = group(
            "/g", retention_days=7, kms_key_id="arn:aws:kms:k", log_group_class="INFREQUENT_ACCESS"
        )
        log_store.create_log_group(created, {"team": "ml"})
        assert log_store.get_log_group(created.key) == created
        assert log_store.get_log_group(created.key, count_bytes=False) == created
        assert log_store.group_tags(created.key) == {"team": "ml"}
        assert log_store.get_log_group(gkey("/G")) is None  # names are case-sensitive
        assert log_store.get_log_group(gkey("/g", account=OTHER_ACCOUNT)) is None
        assert log_store.group_tags(gkey("/absent")) is None

    def test_duplicate_group_raises_and_keeps_the_original(self, log_store: LogStore) -> None:
        log_store.create_log_group(group("/dup", retention_days=1), {"a": "1"})
        with pytest.raises(AlreadyExists):
            log_store.create_log_group(group("/dup"), {"b": "2"})
        kept = log_store.get_log_group(gkey("/dup"))
        assert kept is not None and kept.retention_days == 1
        assert log_store.group_tags(gkey("/dup")) == {"a": "1"}
        # The same name in another account or region is another group.
        log_store.create_log_group(group("/dup", account=OTHER_ACCOUNT), {})
        log_store.create_log_group(group("/dup", region=OTHER_REGION), {})

    def test_racing_group_creates_let_exactly_one_win(self, log_store: LogStore) -> None:
        results = race(
            8, lambda i: log_store.create_log_group(group("/race", retention_days=[1, 3][i % 2]), {})
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, AlreadyExists) for r in results if r is not None)

    def test_group_listing_filters_and_pages_in_code_point_order(self, log_store: LogStore) -> None:
        names = ["/a/B", "/a/a", "/a/b", "/a_b", "/a%b", "/ab", "/b", "/a/b/c", "/aws/x"]
        for name in names:
            log_store.create_log_group(
                group(name, log_group_class="STANDARD" if name != "/b" else "ESSENTIALS"), {}
            )
        log_store.create_log_group(group("/a/z", account=OTHER_ACCOUNT), {})

        def listed(**fields: Any) -> list[str]:
            page, _ = log_store.list_log_groups(LogGroupQuery(ACCOUNT, REGION, limit=100, **fields))
            return [g.key.name for g in page]

        assert listed() == sorted(names)
        assert listed(name_prefix="/a/") == ["/a/B", "/a/a", "/a/b", "/a/b/c"]
        assert listed(name_prefix="/a_") == ["/a_b"]  # wildcards are literal
        assert listed(name_prefix="/a%") == ["/a%b"]
        assert listed(name_contains="b") == ["/a%b", "/a/b", "/a/b/c", "/a_b", "/ab", "/b"]
        assert listed(name_contains="B") == ["/a/B"]  # substring search is case-sensitive
        assert listed(names=("/b", "/ab", "/missing")) == ["/ab", "/b"]
        assert listed(classes=("ESSENTIALS",)) == ["/b"]
        seen: list[str] = []
        after: str | None = None
        while True:
            page, more = log_store.list_log_groups(LogGroupQuery(ACCOUNT, REGION, after_name=after, limit=4))
            seen += [g.key.name for g in page]
            if not more:
                break
            after = page[-1].key.name
        assert seen == sorted(names)

    def test_retention_and_deletion_protection(self, log_store: LogStore) -> None:
        log_store.create_log_group(group("/r"), {})
        assert log_store.set_retention(gkey("/r"), 30)
        assert log_store.set_deletion_protection(gkey("/r"), True)
        stored = log_store.get_log_group(gkey("/r"))
        assert stored is not None and (stored.retention_days, stored.deletion_protection) == (30, True)
        assert log_store.set_retention(gkey("/r"), None)
        stored = log_store.get_log_group(gkey("/r"))
        assert stored is not None and stored.retention_days is None
        assert not log_store.set_retention(gkey("/absent"), 1)
        assert not log_store.set_deletion_protection(gkey("/absent"), True)

    def test_delete_group_takes_streams_events_and_tags_with_it(self, log_store: LogStore) -> None:
        log_store.create_log_group(group("/doomed"), {"k": "v"})
        log_store.create_log_stream(gkey("/doomed"), "s", T0)
        log_store.append_events(gkey("/doomed"), "s", [(T0, "x"), (T0 + 1, "y")], T0)
        log_store.append_events(gkey("/keeper"), "s", [(T0, "kept")], T0, create=True)
        assert log_store.delete_log_group(gkey("/doomed"))
        assert not log_store.delete_log_group(gkey("/doomed"))
        assert log_store.get_log_group(gkey("/doomed")) is None
        assert log_store.get_log_stream(gkey("/doomed"), "s") is None
        assert read(log_store, gkey("/doomed")) == []
        log_store.create_log_group(group("/doomed"), {})
        assert log_store.group_tags(gkey("/doomed")) == {}
        assert log_store.list_log_streams(LogStreamQuery(gkey("/doomed"))) == ([], False)
        assert messages(read(log_store, gkey("/keeper"))) == ["kept"]

    # streams

    def test_streams_need_their_group_and_unique_names(self, log_store: LogStore) -> None:
        with pytest.raises(LogGroupNotFound):
            log_store.create_log_stream(gkey("/none"), "s", T0)
        log_store.create_log_group(group("/g"), {})
        log_store.create_log_stream(gkey("/g"), "job/algo-1", T0)
        with pytest.raises(AlreadyExists):
            log_store.create_log_stream(gkey("/g"), "job/algo-1", T0 + 5)
        log_store.create_log_stream(gkey("/g"), "Job/algo-1", T0)  # case-sensitive
        stream = log_store.get_log_stream(gkey("/g"), "job/algo-1")
        assert stream is not None and stream.created_ms == T0 and stream.first_event_ms is None
        assert log_store.get_log_stream(gkey("/g", account=OTHER_ACCOUNT), "job/algo-1") is None

    def test_stream_listing_by_name_and_by_last_event(self, log_store: LogStore) -> None:
        log_store.create_log_group(group("/g"), {})
        for i, name in enumerate(["b/2", "a/1", "b/1", "a/2", "b/10", "c"]):
            log_store.create_log_stream(gkey("/g"), name, T0)
            if name != "c":
                log_store.append_events(gkey("/g"), name, [(T0 + (i * 7) % 5, "m")], T0)

        def walk(**fields: Any) -> list[str]:
            names: list[str] = []
            after: tuple[int, str] | None = None
            while True:
                page, more = log_store.list_log_streams(
                    LogStreamQuery(gkey("/g"), after=after, limit=2, **fields)
                )
                names += [s.name for s in page]
                if not more:
                    return names
                last = page[-1]
                after = (last.last_event_ms if last.last_event_ms is not None else -1, last.name)

        assert walk() == ["a/1", "a/2", "b/1", "b/10", "b/2", "c"]
        assert walk(descending=True) == ["c", "b/2", "b/10", "b/1", "a/2", "a/1"]
        assert walk(name_prefix="b/") == ["b/1", "b/10", "b/2"]
        assert walk(name_prefix="B/") == []
        # last events: b/2→T0, a/1→T0+2, b/1→T0+4, a/2→T0+1, b/10→T0+3; c has none.
        assert walk(by_last_event=True) == ["c", "b/2", "a/2", "a/1", "b/10", "b/1"]
        assert walk(by_last_event=True, descending=True) == ["b/1", "b/10", "a/1", "a/2", "b/2", "c"]

    def test_delete_stream_removes_its_events_only(self, log_store: LogStore) -> None:
        log_store.append_events(gkey("/g"), "gone", [(T0, "a")], T0, create=True)
        log_store.append_events(gkey("/g"), "kept", [(T0, "b")], T0, create=True)
        assert log_store.delete_log_stream(gkey("/g"), "gone")
        assert not log_store.delete_log_stream(gkey("/g"), "gone")
        assert messages(read(log_store, gkey("/g"))) == ["b"]
        stored = log_store.get_log_group(gkey("/g"))
        assert stored is not None and stored.stored_bytes == 1

    # appending

    def test_append_needs_group_and_stream_unless_asked_to_create(self, log_store: LogStore) -> None:
        with pytest.raises(LogGroupNotFound):
            log_store.append_events(gkey("/g"), "s", [(T0, "x")], T0)
        log_store.create_log_group(group("/g"), {})
        with pytest.raises(LogStreamNotFound):
            log_store.append_events(gkey("/g"), "s", [(T0, "x")], T0)
        with pytest.raises(LogStreamNotFound):
            log_store.append_events(gkey("/g"), "s", [], T0)
        assert log_store.append_events(gkey("/new"), "s", [], T0 + 9, create=True) == 0
        created = log_store.get_log_group(gkey("/new"))
        assert created is not None and created.created_ms == T0 + 9 and created.retention_days is None
        assert log_store.append_events(gkey("/g"), "t", [(T0, "x"), (T0, "y")], T0, create=True) == 2

    def test_append_keeps_statistics(self, log_store: LogStore) -> None:
        key = gkey("/g")
        log_store.append_events(key, "s", [(T0 + 10, "héllo"), (T0 + 20, "b")], T0 + 30, create=True)
        log_store.append_events(key, "s", [(T0 + 5, "late")], T0 + 40)  # earlier timestamp, later batch
        log_store.append_events(key, "t", [(T0, "x" * 100)], T0 + 50, create=True)
        stream = log_store.get_log_stream(key, "s")
        assert stream is not None
        assert (stream.first_event_ms, stream.last_event_ms, stream.last_ingestion_ms) == (
            T0 + 5,
            T0 + 20,
            T0 + 40,
        )
        assert stream.stored_bytes == len("héllo".encode()) + 1 + 4
        stored = log_store.get_log_group(key)
        assert stored is not None and stored.stored_bytes == stream.stored_bytes + 100
        cheap = log_store.get_log_group(key, count_bytes=False)
        assert cheap is not None and cheap.stored_bytes == 0 and cheap.created_ms == stored.created_ms

    def test_messages_round_trip_as_text(self, log_store: LogStore) -> None:
        text = ["plain", "ünïcödé ✓ 🚀", " leading and trailing ", "tab\tand\nnewline", 'quote"back\\slash']
        log_store.append_events(gkey("/g"), "s", [(T0 + i, m) for i, m in enumerate(text)], T0, create=True)
        log_store.append_events(gkey("/g"), "s", [(T0 + 9, "nul\x00byte")], T0)
        assert messages(read(log_store, gkey("/g"))) == [*text, "nul\ufffdbyte"]

    # reading

    def test_reads_order_by_timestamp_then_arrival(self, log_store: LogStore) -> None:
        key = gkey("/g")
        log_store.append_events(key, "s", [(T0 + 2, "c1"), (T0 + 2, "c2")], T0, create=True)
        log_store.append_events(key, "s", [(T0 + 1, "b"), (T0 + 2, "c3")], T0)
        log_store.append_events(key, "t", [(T0, "a"), (T0 + 3, "d")], T0, create=True)
        assert messages(read(log_store, key)) == ["a", "b", "c1", "c2", "c3", "d"]
        assert messages(read(log_store, key, descending=True)) == ["d", "c3", "c2", "c1", "b", "a"]
        assert messages(read(log_store, key, stream_names=("s",))) == ["b", "c1", "c2", "c3"]
        assert messages(read(log_store, key, stream_names=("t", "nope"))) == ["a", "d"]
        assert messages(read(log_store, key, stream_names=("nope",))) == []
        assert messages(read(log_store, key, stream_prefix="t")) == ["a", "d"]
        assert messages(read(log_store, key, start_ms=T0 + 1, end_ms=T0 + 3)) == ["b", "c1", "c2", "c3"]
        assert messages(read(log_store, key, limit=2)) == ["a", "b"]
        assert read(log_store, gkey("/absent")) == []

    def test_cursors_name_the_gaps_between_events(self, log_store: LogStore) -> None:
        key = gkey("/g")
        log_store.append_events(
            key, "s", [(T0, "a"), (T0, "b"), (T0 + 1, "c"), (T0 + 2, "d")], T0, create=True
        )
        every = read(log_store, key)
        b = every[1]
        assert messages(read(log_store, key, cursor=b.after)) == ["c", "d"]
        assert messages(read(log_store, key, cursor=b.before)) == ["b", "c", "d"]
        assert messages(read(log_store, key, cursor=b.after, descending=True)) == ["b", "a"]
        assert messages(read(log_store, key, cursor=b.before, descending=True)) == ["a"]
        assert messages(read(log_store, key, cursor=EventCursor(T0 + 1, -1))) == ["c", "d"]
        assert read(log_store, key, cursor=every[-1].after) == []
        # A forward reader at the end sees exactly what is appended later, even at an equal timestamp.
        end = every[-1].after
        log_store.append_events(key, "s", [(T0 + 2, "e"), (T0 + 3, "f")], T0)
        assert messages(read(log_store, key, cursor=end)) == ["e", "f"]
        assert len({e.seq for e in read(log_store, key)}) == 6

    def test_concurrent_appends_to_one_stream_all_land_in_writer_order(self, log_store: LogStore) -> None:
        key = gkey("/hot")

        def writer(i: int) -> None:
            for j in range(5):
                log_store.append_events(key, "s", [(T0, f"{i}:{j}:{k}") for k in range(3)], T0, create=True)

        assert all(r is None for r in race(6, writer))
        got = messages(read(log_store, key))
        assert len(got) == 6 * 5 * 3
        for i in range(6):
            mine = [m for m in got if m.startswith(f"{i}:")]
            assert mine == [f"{i}:{j}:{k}" for j in range(5) for k in range(3)]
        listed, _ = log_store.list_log_groups(LogGroupQuery(ACCOUNT, REGION))
        assert [g.key.name for g in listed] == ["/hot"]

    # retention

    def test_purge_deletes_only_what_retention_no_longer_keeps(self, log_store: LogStore) -> None:
        now = T0 + 10 * DAY
        kept_group, forever = gkey("/short"), gkey("/forever")
        log_store.append_events(
            kept_group, "s", [(T0, "old"), (now - DAY - 1, "just expired")], now, create=True
        )
        log_store.append_events(kept_group, "s", [(now - DAY, "edge"), (now, "new")], now)
        log_store.append_events(kept_group, "t", [(T0 + DAY, "old too")], now, create=True)
        log_store.append_events(forever, "s", [(T0, "ancient")], now, create=True)
        log_store.set_retention(kept_group, 1)
        assert log_store.purge_expired(now) == 3
        assert log_store.purge_expired(now) == 0
        assert messages(read(log_store, kept_group)) == ["edge", "new"]
        assert messages(read(log_store, forever)) == ["ancient"]
        stream = log_store.get_log_stream(kept_group, "s")
        assert stream is not None and (stream.first_event_ms, stream.last_event_ms) == (now - DAY, now)
        emptied = log_store.get_log_stream(kept_group, "t")
        assert emptied is not None and emptied.first_event_ms is None and emptied.stored_bytes == 0
        stored = log_store.get_log_group(kept_group)
        assert stored is not None and stored.stored_bytes == len("edge") + len("new")

    # tags

    def test_tags_add_overwrite_and_remove(self, log_store: LogStore) -> None:
        log_store.create_log_group(group("/t"), {"a": "1", "b": "2"})
        assert log_store.set_group_tags(gkey("/t"), {"b": "3", "c": "4"})
        assert log_store.group_tags(gkey("/t")) == {"a": "1", "b": "3", "c": "4"}
        assert log_store.remove_group_tags(gkey("/t"), ["a", "zzz"])
        assert log_store.remove_group_tags(gkey("/t"), [])
        assert log_store.group_tags(gkey("/t")) == {"b": "3", "c": "4"}
        assert not log_store.set_group_tags(gkey("/absent"), {"a": "1"})
        assert not log_store.remove_group_tags(gkey("/absent"), ["a"])
