"""The Store port's contract as a pytest suite that every adapter must pass.

Use it by subclassing `StoreContract` in a test module and providing a `store` fixture that
yields an empty Store (no resources, tags, accounts or keys); parametrise that fixture to run
the same suite against several adapters:

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self) -> Iterator[Store]: ...

The suite speaks only to the port (store/base.py), so it holds for any adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
from sagemill.domain.resources import (
    AccessKey,
    Account,
    Resource,
    ResourceKey,
    ResourceQuery,
    SortKey,
    SortOrder,
    Tag,
)
from sagemill.store.base import Store

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
KIND = "Model"
OTHER_KIND = "EndpointConfig"
# Not a round number, so a backend that truncates or rounds timestamps is caught.
T0 = 1_700_000_000.123456

T = TypeVar("T")

# Every sort the port offers, for the tests that must hold under each of them.
SORTS = [
    pytest.param(key, order, id=f"{key.value}-{order.value}")
    for key in (SortKey.NAME, SortKey.CREATION_TIME)
    for order in (SortOrder.ASCENDING, SortOrder.DESCENDING)
]


def key_of(name: str, account: str = ACCOUNT, region: str = REGION, kind: str = KIND) -> ResourceKey:
    return ResourceKey(account, region, kind, name)


def arn_of(key: ResourceKey) -> str:
    return f"arn:aws:sagemaker:{key.region}:{key.account_id}:{key.kind.lower()}/{key.name}"


def make_resource(
    name: str,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    kind: str = KIND,
    created_at: float = T0,
    status: str = "InService",
    next_action_at: float | None = None,
    desired: dict[str, Any] | None = None,
) -> Resource:
    key = key_of(name, account, region, kind)
    return Resource(
        key=key,
        arn=arn_of(key),
        desired=desired if desired is not None else {"ModelName": name},
        created_at=created_at,
        updated_at=created_at,
        status=status,
        next_action_at=next_action_at,
    )


def query(**fields: Any) -> ResourceQuery:
    base: dict[str, Any] = {"account_id": ACCOUNT, "region": REGION, "kind": KIND, "limit": 100}
    base.update(fields)
    return ResourceQuery(**base)


def names(rows: list[Resource]) -> list[str]:
    return [row.key.name for row in rows]


def expected_order(rows: list[Resource], sort_key: SortKey, sort_order: SortOrder) -> list[str]:
    """The order the port promises: by the sort key, then by name, names by code point."""
    if sort_key is SortKey.NAME:
        ordered = sorted(rows, key=lambda r: r.key.name)
    else:
        ordered = sorted(rows, key=lambda r: (r.created_at, r.key.name))
    if sort_order is SortOrder.DESCENDING:
        ordered.reverse()
    return names(ordered)


def walk_pages(store: Store, base: ResourceQuery, page_size: int) -> list[list[str]]:
    """Page through a listing the way the API does, carrying (sort value, name) forward."""
    pages: list[list[str]] = []
    after: tuple[Any, str] | None = None
    for _ in range(1000):
        page_query = ResourceQuery(**{**_fields(base), "limit": page_size, "after": after})
        rows, more = store.list_resources(page_query)
        assert len(rows) <= page_size
        pages.append(names(rows))
        if not more:
            return pages
        assert rows, "a page reported more rows but was empty"
        last = rows[-1]
        after = (last.key.name if base.sort_key is SortKey.NAME else last.created_at, last.key.name)
    raise AssertionError("pagination never ended")


def _fields(q: ResourceQuery) -> dict[str, Any]:
    return {name: getattr(q, name) for name in ResourceQuery.__dataclass_fields__}


def race(workers: int, action: Callable[[int], T]) -> list[T | BaseException]:
    """Run `action(i)` on `workers` threads released together; each result or exception, in order."""
    barrier = threading.Barrier(workers)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return action(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


class StoreContract:
    """The contract of store/base.py; subclasses provide a `store` fixture yielding an empty Store."""

    # resources: create and read

    def test_create_then_get_round_trips_every_field(self, store: Store) -> None:
        desired = {"ModelName": "m", "Nested": {"List": [1, 2.5, None, True]}, "Unicode": "é✓"}
        resource = Resource(
            key=key_of("m"),
            arn=arn_of(key_of("m")),
            desired=desired,
            observed={"Endpoint": "http://127.0.0.1:1234"},
            created_at=T0,
            updated_at=T0 + 1.5,
            status="Creating",
            status_reason="waiting for capacity",
            version=1,
            next_action_at=T0 + 0.000001,
        )
        store.create_resource(resource, [])
        assert store.get_resource(resource.key) == resource
        assert store.get_resource_by_arn(resource.arn) == resource

    def test_missing_resource_reads_as_none(self, store: Store) -> None:
        assert store.get_resource(key_of("absent")) is None
        assert store.get_resource_by_arn(arn_of(key_of("absent"))) is None

    def test_duplicate_create_raises_already_exists_and_keeps_the_original(self, store: Store) -> None:
        original = make_resource("dup", desired={"v": 1})
        store.create_resource(original, [Tag("k", "original")])
        clash = make_resource("dup", desired={"v": 2}, created_at=T0 + 5)
        with pytest.raises(AlreadyExists):
            store.create_resource(clash, [Tag("k", "clash"), Tag("extra", "x")])
        assert store.get_resource(original.key) == original
        # The failed create is one transaction: none of its tags may land.
        assert store.list_tags(original.arn, None, 10) == ([Tag("k", "original")], False)

    def test_racing_creates_of_one_key_let_exactly_one_win(self, store: Store) -> None:
        for round_ in range(3):
            name = f"race-{round_}"

            def create(i: int, name: str = name) -> None:
                store.create_resource(make_resource(name, desired={"by": i}), [Tag("by", str(i))])

            results = race(8, create)
            winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
            losers = [r for r in results if isinstance(r, BaseException)]
            assert len(winners) == 1, results
            assert all(isinstance(r, AlreadyExists) for r in losers), losers
            stored = store.get_resource(key_of(name))
            assert stored is not None and stored.desired == {"by": winners[0]}
            assert store.list_tags(stored.arn, None, 10) == ([Tag("by", str(winners[0]))], False)

    def test_concurrent_creates_of_different_keys_all_succeed(self, store: Store) -> None:
        def create_many(worker: int) -> None:
            for j in range(5):
                store.create_resource(make_resource(f"w{worker}-{j}"), [Tag("w", str(worker))])

        results = race(8, create_many)
        assert all(r is None for r in results), results
        rows, more = store.list_resources(query(limit=100))
        assert len(rows) == 40 and not more

    def test_create_stores_its_tags_and_the_last_of_repeated_keys_wins(self, store: Store) -> None:
        resource = make_resource("tagged")
        store.create_resource(resource, [Tag("b", "1"), Tag("a", "2"), Tag("b", "3")])
        assert store.list_tags(resource.arn, None, 10) == ([Tag("a", "2"), Tag("b", "3")], False)
        assert store.count_tags(resource.arn) == 2

    # resources: update with optimistic locking

    def test_update_writes_the_new_state_at_the_next_version(self, store: Store) -> None:
        created = make_resource("u", status="Creating")
        store.create_resource(created, [])
        changed = Resource(
            key=created.key,
            arn=created.arn,
            desired={"ModelName": "u", "New": True},
            observed={"seen": 1},
            created_at=created.created_at,
            updated_at=T0 + 10,
            status="InService",
            status_reason="ready",
            version=created.version,
            next_action_at=T0 + 20,
        )
        updated = store.update_resource(changed, expected_version=1)
        assert updated.version == 2
        assert updated.desired == {"ModelName": "u", "New": True}
        assert updated.observed == {"seen": 1}
        assert (updated.status, updated.status_reason) == ("InService", "ready")
        assert (updated.updated_at, updated.next_action_at) == (T0 + 10, T0 + 20)
        # Identity and birth are not the writer's to change.
        assert updated.key == created.key
        assert (updated.arn, updated.created_at) == (created.arn, created.created_at)
        assert store.get_resource(created.key) == updated
        again = store.update_resource(Resource(**{**_resource_fields(updated), "status": "Updating"}), 2)
        assert (again.version, again.status) == (3, "Updating")

    def test_update_with_a_stale_version_conflicts_and_changes_nothing(self, store: Store) -> None:
        created = make_resource("stale")
        store.create_resource(created, [])
        current = store.update_resource(Resource(**{**_resource_fields(created), "status": "A"}), 1)
        with pytest.raises(VersionConflict):
            store.update_resource(Resource(**{**_resource_fields(created), "status": "B"}), 1)
        with pytest.raises(VersionConflict):
            store.update_resource(Resource(**{**_resource_fields(created), "status": "C"}), 7)
        assert store.get_resource(created.key) == current

    def test_racing_updates_from_one_version_let_exactly_one_win(self, store: Store) -> None:
        created = make_resource("contended")
        store.create_resource(created, [])
        results = race(
            6,
            lambda i: store.update_resource(Resource(**{**_resource_fields(created), "status": f"s{i}"}), 1),
        )
        won = [r for r in results if isinstance(r, Resource)]
        lost = [r for r in results if not isinstance(r, Resource)]
        assert len(won) == 1, results
        assert all(isinstance(r, VersionConflict) for r in lost), lost
        assert store.get_resource(created.key) == won[0]
        assert won[0].version == 2

    def test_update_of_a_missing_resource_raises_not_found(self, store: Store) -> None:
        never = make_resource("never-created")
        with pytest.raises(NotFound):
            store.update_resource(never, 1)
        gone = make_resource("deleted")
        store.create_resource(gone, [])
        assert store.delete_resource(gone.key)
        with pytest.raises(NotFound):
            store.update_resource(gone, 1)

    # resources: batched updates

    def test_update_resources_writes_each_matching_item_at_its_next_version(self, store: Store) -> None:
        rows = [make_resource(f"b{i}", status="Creating") for i in range(3)]
        for row in rows:
            store.create_resource(row, [])
        changed = [
            Resource(
                **{**_resource_fields(row), "status": "InService", "observed": {"i": i}, "updated_at": T0 + i}
            )
            for i, row in enumerate(rows)
        ]
        written = store.update_resources([(row, 1) for row in changed])
        assert [w.version if w else None for w in written] == [2, 2, 2]
        for row, stored in zip(changed, written, strict=True):
            assert stored is not None
            assert (stored.status, stored.observed, stored.updated_at) == (
                "InService",
                row.observed,
                row.updated_at,
            )
            assert store.get_resource(row.key) == stored
        assert store.update_resources([]) == []

    def test_update_resources_skips_stale_and_missing_items_and_writes_the_rest(self, store: Store) -> None:
        fresh, stale, gone = (make_resource(n) for n in ("fresh", "stale", "gone"))
        for row in (fresh, stale, gone):
            store.create_resource(row, [])
        moved_on = store.update_resource(Resource(**{**_resource_fields(stale), "status": "Moved"}), 1)
        assert store.delete_resource(gone.key)
        never = make_resource("never-created")
        items = [
            (Resource(**{**_resource_fields(row), "status": "Batch"}), 1)
            for row in (stale, fresh, gone, never)
        ]
        written = store.update_resources(items)
        assert written[0] is None and written[2] is None and written[3] is None
        assert written[1] is not None and (written[1].status, written[1].version) == ("Batch", 2)
        assert store.get_resource(stale.key) == moved_on
        assert store.get_resource(gone.key) is None and store.get_resource(never.key) is None

    def test_update_resources_applies_repeats_of_one_row_in_order(self, store: Store) -> None:
        row = make_resource("twice")
        store.create_resource(row, [])
        first = Resource(**{**_resource_fields(row), "status": "First"})
        second = Resource(**{**_resource_fields(row), "status": "Second"})
        clash = Resource(**{**_resource_fields(row), "status": "Clash"})
        written = store.update_resources([(first, 1), (second, 2), (clash, 2)])
        assert [(w.status, w.version) if w else None for w in written] == [("First", 2), ("Second", 3), None]
        assert store.get_resource(row.key) == written[1]

    def test_update_resources_is_one_transaction(self, store: Store) -> None:
        rows = [make_resource(f"t{i}") for i in range(3)]
        for row in rows:
            store.create_resource(row, [])
        # An item that cannot be written at all (its state is not JSON) fails the whole batch.
        broken = Resource(**{**_resource_fields(rows[2]), "observed": {"bad": object()}})
        items = [(Resource(**{**_resource_fields(row), "status": "Batch"}), 1) for row in rows[:2]]
        with pytest.raises(TypeError):
            store.update_resources([*items, (broken, 1)])
        assert [store.get_resource(row.key) for row in rows] == rows

    def test_racing_batches_over_the_same_rows_let_one_win_each_row(self, store: Store) -> None:
        for round_ in range(3):  # a deadlock between batches shows only now and then: look a few times
            rows = [make_resource(f"r{round_}-{i}") for i in range(6)]
            for row in rows:
                store.create_resource(row, [])

            def batch(worker: int, rows: list[Resource] = rows) -> list[Resource | None]:
                # Each worker lists the rows in its own order: the store must not deadlock on that.
                order = rows[worker:] + rows[:worker]
                order = order if worker % 2 else order[::-1]
                items = [(Resource(**{**_resource_fields(row), "status": f"w{worker}"}), 1) for row in order]
                return store.update_resources(items)

            results = race(6, batch)
            assert not [r for r in results if isinstance(r, BaseException)], results
            for row in rows:
                stored = store.get_resource(row.key)
                assert stored is not None and stored.version == 2
                won = [w for r in results if isinstance(r, list) for w in r if w and w.key == row.key]
                assert won == [stored]

    # resources: delete

    def test_delete_removes_the_row_and_its_tags(self, store: Store) -> None:
        doomed = make_resource("doomed")
        keeper = make_resource("keeper")
        store.create_resource(doomed, [Tag("a", "1"), Tag("b", "2")])
        store.create_resource(keeper, [Tag("a", "1")])
        assert store.delete_resource(doomed.key) is True
        assert store.get_resource(doomed.key) is None
        assert store.get_resource_by_arn(doomed.arn) is None
        assert store.count_tags(doomed.arn) == 0
        assert store.list_tags(doomed.arn, None, 10) == ([], False)
        assert store.delete_resource(doomed.key) is False
        assert store.list_tags(keeper.arn, None, 10) == ([Tag("a", "1")], False)
        # The name is free again, and the new resource starts with only its own tags.
        store.create_resource(doomed, [Tag("c", "3")])
        assert store.list_tags(doomed.arn, None, 10) == ([Tag("c", "3")], False)

    def test_delete_of_a_missing_resource_returns_false(self, store: Store) -> None:
        assert store.delete_resource(key_of("absent")) is False

    # resources: listing filters

    def test_name_contains_ignores_case(self, store: Store) -> None:
        for name in ("Alpha-Model", "alpha-two", "ALPHA", "beta", "GammaAlph"):
            store.create_resource(make_resource(name), [])
        rows, _ = store.list_resources(query(name_contains="aLpHa", sort_key=SortKey.NAME))
        assert sorted(names(rows)) == ["ALPHA", "Alpha-Model", "alpha-two"]

    def test_name_contains_takes_wildcards_literally(self, store: Store) -> None:
        for name in ("a%b", "axxb", "a_b", "azb", "a\\b", "ab", "50%_off"):
            store.create_resource(make_resource(name), [])

        def matching(fragment: str) -> list[str]:
            rows, _ = store.list_resources(query(name_contains=fragment, sort_key=SortKey.NAME))
            return sorted(names(rows))

        assert matching("%") == ["50%_off", "a%b"]
        assert matching("a%b") == ["a%b"]
        assert matching("_") == ["50%_off", "a_b"]
        assert matching("a_b") == ["a_b"]
        assert matching("\\") == ["a\\b"]
        assert matching("%_") == ["50%_off"]

    def test_creation_time_after_is_inclusive_before_exclusive(self, store: Store) -> None:
        for i in range(5):
            store.create_resource(make_resource(f"t{i}", created_at=T0 + i), [])

        def between(after: float | None, before: float | None) -> list[str]:
            rows, _ = store.list_resources(
                query(created_after=after, created_before=before, sort_order=SortOrder.ASCENDING)
            )
            return names(rows)

        assert between(T0 + 1, None) == ["t1", "t2", "t3", "t4"]
        assert between(None, T0 + 3) == ["t0", "t1", "t2"]
        assert between(T0 + 0.5, T0 + 3.5) == ["t1", "t2", "t3"]
        assert between(T0 + 2, T0 + 2) == []
        assert between(T0 + 2, T0 + 2.5) == ["t2"]

    def test_status_filter(self, store: Store) -> None:
        for i, status in enumerate(["InService", "Failed", "InService", "Creating"]):
            store.create_resource(make_resource(f"s{i}", status=status, created_at=T0 + i), [])
        rows, _ = store.list_resources(query(status="InService", sort_order=SortOrder.ASCENDING))
        assert names(rows) == ["s0", "s2"]
        rows, _ = store.list_resources(query(status="Deleting"))
        assert rows == []

    def test_filters_combine(self, store: Store) -> None:
        for i in range(12):
            status = "InService" if i % 2 else "Failed"
            store.create_resource(
                make_resource(f"{'keep' if i % 3 else 'drop'}-{i}", status=status, created_at=T0 + i), []
            )
        rows, _ = store.list_resources(
            query(
                name_contains="KEEP",
                status="InService",
                created_after=T0 + 1,
                created_before=T0 + 11,
                sort_order=SortOrder.ASCENDING,
            )
        )
        assert names(rows) == ["keep-1", "keep-5", "keep-7"]

    # resources: sorting and keyset pagination

    @pytest.mark.parametrize(("sort_key", "sort_order"), SORTS)
    def test_sorting(self, store: Store, sort_key: SortKey, sort_order: SortOrder) -> None:
        rows = [
            make_resource("charlie", created_at=T0 + 1),
            make_resource("alpha", created_at=T0 + 3),
            make_resource("delta", created_at=T0 + 2),
            make_resource("bravo", created_at=T0 + 2),
        ]
        for row in rows:
            store.create_resource(row, [])
        listed, more = store.list_resources(query(sort_key=sort_key, sort_order=sort_order))
        assert not more
        assert names(listed) == expected_order(rows, sort_key, sort_order)

    def test_names_sort_by_code_point_on_every_backend(self, store: Store) -> None:
        # A database collation (en_US, ICU) would put "a-1" before "B-2"; the port promises one
        # order everywhere, so pages do not reshuffle when a deployment moves to another backend.
        rows = [make_resource(name) for name in ("a-1", "B-2", "c-3", "Z", "0-x", "b-1")]
        for row in rows:
            store.create_resource(row, [])
        listed, _ = store.list_resources(query(sort_key=SortKey.NAME, sort_order=SortOrder.ASCENDING))
        assert names(listed) == ["0-x", "B-2", "Z", "a-1", "b-1", "c-3"]
        pages = walk_pages(store, query(sort_key=SortKey.NAME, sort_order=SortOrder.DESCENDING), 4)
        assert [n for page in pages for n in page] == ["c-3", "b-1", "a-1", "Z", "B-2", "0-x"]

    @pytest.mark.parametrize(("sort_key", "sort_order"), SORTS)
    def test_keyset_pagination_loses_and_repeats_nothing(
        self, store: Store, sort_key: SortKey, sort_order: SortOrder
    ) -> None:
        # Timestamps tie in runs of up to five, and names are not in creation order, so the
        # name tie-break is what keeps a page boundary inside a run from dropping or repeating rows.
        rows = [
            make_resource(
                f"r-{(i * 23) % 61:02d}", created_at=T0 + (i // 5) * 0.5, status="S" if i % 4 else "X"
            )
            for i in range(61)
        ]
        for row in rows:
            store.create_resource(row, [])
        store.create_resource(make_resource("r-other-account", account=OTHER_ACCOUNT), [])
        for page_size in (1, 7, 30, 61, 100):
            pages = walk_pages(store, query(sort_key=sort_key, sort_order=sort_order), page_size)
            flat = [n for page in pages for n in page]
            assert flat == expected_order(rows, sort_key, sort_order), page_size
            assert all(len(page) == page_size for page in pages[:-1])
        filtered = walk_pages(store, query(sort_key=sort_key, sort_order=sort_order, status="S"), 6)
        wanted = [r for r in rows if r.status == "S"]
        assert [n for page in filtered for n in page] == expected_order(wanted, sort_key, sort_order)

    def test_a_full_last_page_reports_no_more(self, store: Store) -> None:
        for i in range(4):
            store.create_resource(make_resource(f"p{i}", created_at=T0 + i), [])
        rows, more = store.list_resources(query(limit=4))
        assert len(rows) == 4 and more is False
        rows, more = store.list_resources(query(limit=3))
        assert len(rows) == 3 and more is True
        rows, more = store.list_resources(query(limit=10, kind=OTHER_KIND))
        assert rows == [] and more is False

    # resources: scoping

    def test_accounts_regions_and_kinds_are_isolated(self, store: Store) -> None:
        scopes = [
            (ACCOUNT, REGION, KIND),
            (OTHER_ACCOUNT, REGION, KIND),
            (ACCOUNT, OTHER_REGION, KIND),
            (ACCOUNT, REGION, OTHER_KIND),
        ]
        for i, (account, region, kind) in enumerate(scopes):
            store.create_resource(
                make_resource("shared", account=account, region=region, kind=kind, desired={"scope": i}),
                [Tag("scope", str(i))],
            )
        for i, (account, region, kind) in enumerate(scopes):
            key = key_of("shared", account, region, kind)
            got = store.get_resource(key)
            assert got is not None and got.desired == {"scope": i}
            assert store.get_resource_by_arn(arn_of(key)) == got
            listed, _ = store.list_resources(query(account_id=account, region=region, kind=kind))
            assert [r.desired for r in listed] == [{"scope": i}]
            assert store.list_tags(arn_of(key), None, 10) == ([Tag("scope", str(i))], False)
        assert store.delete_resource(key_of("shared", OTHER_ACCOUNT, REGION, KIND))
        remaining = [store.get_resource(key_of("shared", *scope)) for scope in scopes]
        assert [r is not None for r in remaining] == [True, False, True, True]
        assert store.count_tags(arn_of(key_of("shared"))) == 1

    # reconciler queue

    def test_due_resources_are_those_whose_time_has_come_oldest_first(self, store: Store) -> None:
        now = T0 + 100
        plan = {
            "late": now - 50,
            "later": now - 10,
            "exactly-now": now,
            "future": now + 1,
            "idle": None,
            "earliest": now - 90,
        }
        for name, at in plan.items():
            store.create_resource(make_resource(name, next_action_at=at), [])
        store.create_resource(make_resource("other-kind", kind=OTHER_KIND, next_action_at=now - 99), [])
        store.create_resource(
            make_resource("other-account", account=OTHER_ACCOUNT, next_action_at=now - 5), []
        )
        due = store.due_resources(KIND, now, 100)
        assert names(due) == ["earliest", "late", "later", "other-account", "exactly-now"]
        assert names(store.due_resources(KIND, now, 2)) == ["earliest", "late"]
        assert store.due_resources(KIND, now - 1000, 10) == []
        assert names(store.due_resources(OTHER_KIND, now, 10)) == ["other-kind"]

    def test_count_by_status_spans_accounts_and_keeps_kinds_apart(self, store: Store) -> None:
        assert store.count_by_status(KIND) == {}
        store.create_resource(make_resource("a", status="InProgress"), [])
        store.create_resource(make_resource("b", status="InProgress", account=OTHER_ACCOUNT), [])
        store.create_resource(make_resource("c", status="Completed"), [])
        store.create_resource(make_resource("d", status="Completed", kind=OTHER_KIND), [])
        assert store.count_by_status(KIND) == {"InProgress": 2, "Completed": 1}
        assert store.count_by_status(OTHER_KIND) == {"Completed": 1}

    def test_next_action_time_is_the_earliest_scheduled_of_a_kind(self, store: Store) -> None:
        assert store.next_action_time(KIND) is None
        store.create_resource(make_resource("idle", next_action_at=None), [])
        assert store.next_action_time(KIND) is None
        store.create_resource(make_resource("later", next_action_at=T0 + 50), [])
        store.create_resource(make_resource("sooner", next_action_at=T0 + 5.25), [])
        store.create_resource(make_resource("other-kind", kind=OTHER_KIND, next_action_at=T0), [])
        assert store.next_action_time(KIND) == T0 + 5.25
        assert store.next_action_time(OTHER_KIND) == T0

    def test_an_update_moves_a_resource_in_and_out_of_the_queue(self, store: Store) -> None:
        created = make_resource("queued", next_action_at=T0)
        store.create_resource(created, [])
        assert names(store.due_resources(KIND, T0, 10)) == ["queued"]
        parked = store.update_resource(Resource(**{**_resource_fields(created), "next_action_at": None}), 1)
        assert store.due_resources(KIND, T0 + 1e6, 10) == []
        store.update_resource(Resource(**{**_resource_fields(parked), "next_action_at": T0 + 5}), 2)
        assert store.due_resources(KIND, T0 + 4, 10) == []
        assert names(store.due_resources(KIND, T0 + 5, 10)) == ["queued"]

    # tags

    def test_set_tags_adds_and_overwrites(self, store: Store) -> None:
        resource = make_resource("t")
        store.create_resource(resource, [Tag("env", "dev"), Tag("team", "ml")])
        store.set_tags(resource.arn, [Tag("env", "prod"), Tag("cost", "42")])
        assert store.list_tags(resource.arn, None, 10) == (
            [Tag("cost", "42"), Tag("env", "prod"), Tag("team", "ml")],
            False,
        )
        store.set_tags(resource.arn, [])
        store.set_tags(resource.arn, [Tag("x", "1"), Tag("x", "2")])
        tags, _ = store.list_tags(resource.arn, None, 10)
        assert Tag("x", "2") in tags and Tag("x", "1") not in tags
        assert store.count_tags(resource.arn) == 4

    def test_remove_tags_removes_only_the_named_keys(self, store: Store) -> None:
        resource = make_resource("t")
        store.create_resource(resource, [Tag("a", "1"), Tag("b", "2"), Tag("c", "3")])
        other = make_resource("u")
        store.create_resource(other, [Tag("a", "1")])
        store.remove_tags(resource.arn, ["a", "c", "not-there"])
        store.remove_tags(resource.arn, [])
        assert store.list_tags(resource.arn, None, 10) == ([Tag("b", "2")], False)
        assert store.list_tags(other.arn, None, 10) == ([Tag("a", "1")], False)

    def test_tag_listing_pages_by_key(self, store: Store) -> None:
        resource = make_resource("many-tags")
        tag_list = [Tag(f"k{(i * 13) % 47:02d}", f"v{i}") for i in range(47)]
        store.create_resource(resource, tag_list)
        store.set_tags(make_resource("neighbour").arn, [Tag("k00", "other")])
        assert store.count_tags(resource.arn) == 47
        seen: list[Tag] = []
        after: str | None = None
        while True:
            page, more = store.list_tags(resource.arn, after, 10)
            assert len(page) <= 10
            seen.extend(page)
            if not more:
                break
            after = page[-1].key
        assert seen == sorted(tag_list, key=lambda t: t.key)
        assert store.list_tags(resource.arn, None, 47) == (sorted(tag_list, key=lambda t: t.key), False)
        assert store.list_tags(resource.arn, "k46", 10) == ([], False)

    def test_tags_of_an_untagged_arn(self, store: Store) -> None:
        assert store.list_tags("arn:aws:sagemaker:us-east-1:111122223333:model/none", None, 10) == ([], False)
        assert store.count_tags("arn:aws:sagemaker:us-east-1:111122223333:model/none") == 0

    def test_concurrent_set_tags_on_one_key_never_fail(self, store: Store) -> None:
        resource = make_resource("hot")
        store.create_resource(resource, [])
        for _ in range(3):
            results = race(8, lambda i: store.set_tags(resource.arn, [Tag("k", str(i)), Tag(f"own{i}", "x")]))
            assert all(r is None for r in results), results
        tags, _ = store.list_tags(resource.arn, None, 20)
        assert len(tags) == 9
        assert next(t for t in tags if t.key == "k").value in {str(i) for i in range(8)}

    # accounts and access keys

    def test_accounts(self, store: Store) -> None:
        account = Account(ACCOUNT, "main", T0)
        store.create_account(account)
        assert store.get_account(ACCOUNT) == account
        assert store.get_account(OTHER_ACCOUNT) is None
        with pytest.raises(AlreadyExists):
            store.create_account(Account(ACCOUNT, "impostor", T0 + 1))
        assert store.get_account(ACCOUNT) == account

    def test_access_keys(self, store: Store) -> None:
        store.create_account(Account(ACCOUNT, "main", T0))
        key = AccessKey("AKIAEXAMPLE0000001", ACCOUNT, "alice", "Active", T0)
        # Ciphertext is arbitrary bytes: NULs and high bytes must survive untouched.
        secret = bytes(range(256)) + b"\x00tail"
        store.create_access_key(key, secret)
        assert store.get_access_key(key.access_key_id) == (key, secret)
        assert store.get_access_key("AKIAMISSING") is None
        with pytest.raises(AlreadyExists):
            store.create_access_key(AccessKey(key.access_key_id, ACCOUNT, "mallory", "Active", T0), b"x")
        assert store.get_access_key(key.access_key_id) == (key, secret)
        second = AccessKey("AKIAEXAMPLE0000002", ACCOUNT, "alice", "Inactive", T0 + 1)
        store.create_access_key(second, b"")
        assert store.get_access_key(second.access_key_id) == (second, b"")


def _resource_fields(resource: Resource) -> dict[str, Any]:
    return {name: getattr(resource, name) for name in Resource.__dataclass_fields__}
