"""The MetricStore port's contract as a pytest suite that every adapter must pass.

Subclass `MetricStoreContract` and provide a `metric_store` fixture yielding an empty MetricStore;
parametrise the fixture to run the suite against several adapters. The suite speaks only to
store/metrics.py.
"""

from __future__ import annotations

from typing import Any

from sagemill.store.metrics import (
    Aggregate,
    AlarmHistoryItem,
    AlarmHistoryQuery,
    MetricFilter,
    MetricKey,
    MetricStore,
    Sample,
    ValueRange,
)
from sagemill.testing.store_contract import race

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
T0 = 1_767_225_617  # seconds; not on a minute, so periods that follow the clock instead of `start` show
DAY = 86_400


def mkey(
    name: str = "Invocations",
    dimensions: tuple[tuple[str, str], ...] = (("EndpointName", "ep"),),
    namespace: str = "AWS/SageMaker",
    account: str = ACCOUNT,
    region: str = REGION,
) -> MetricKey:
    return MetricKey(account, region, namespace, name, dimensions)


def one(timestamp: int, value: float, unit: str = "None") -> Sample:
    """One observation."""
    return Sample(timestamp, 1.0, value, value, value, value, unit)


def aggregates(store: MetricStore, key: MetricKey, start: int, end: int, period: int, **kw: Any) -> list[Any]:
    """(start, count, sum, minimum, maximum) of each period of one key."""
    found = store.aggregate([key], start, end, period, **kw).get(key) or []
    return [(a.start, a.count, a.sum, a.minimum, a.maximum) for a in found]


def listed(store: MetricStore, after: MetricKey | None = None, limit: int = 100, **fields: Any) -> list[Any]:
    keys, _ = store.list_metrics(MetricFilter(ACCOUNT, REGION, **fields), after, limit)
    return [(k.namespace, k.metric_name, k.dimensions) for k in keys]


def item(item_id: str, at: float, alarm: str = "cpu", **fields: Any) -> AlarmHistoryItem:
    return AlarmHistoryItem(
        item_id=item_id,
        account_id=fields.pop("account", ACCOUNT),
        region=fields.pop("region", REGION),
        alarm_name=alarm,
        alarm_type=fields.pop("alarm_type", "MetricAlarm"),
        timestamp=at,
        item_type=fields.pop("item_type", "StateUpdate"),
        summary=fields.pop("summary", f"summary of {item_id}"),
        data=fields.pop("data", '{"version":"1.0"}'),
    )


def history(store: MetricStore, **fields: Any) -> list[str]:
    page, _ = store.list_history(AlarmHistoryQuery(ACCOUNT, REGION, **fields))
    return [i.item_id for i in page]


class MetricStoreContract:
    """The contract of store/metrics.py; subclasses provide a `metric_store` fixture (an empty store)."""

    # samples and aggregates

    def test_periods_start_at_start_and_ranges_are_half_open(self, metric_store: MetricStore) -> None:
        key = mkey()
        at = [T0 - 1, T0, T0 + 59, T0 + 60, T0 + 179, T0 + 300, T0 + 301]
        metric_store.put_samples([(key, one(t, float(i))) for i, t in enumerate(at)])
        # [T0, T0 + 300): T0 - 1 and T0 + 300 fall outside; the empty periods from T0 + 180 are absent.
        assert aggregates(metric_store, key, T0, T0 + 300, 60) == [
            (T0, 2.0, 3.0, 1.0, 2.0),
            (T0 + 60, 1.0, 3.0, 3.0, 3.0),
            (T0 + 120, 1.0, 4.0, 4.0, 4.0),
        ]
        # A range that is not a whole number of periods ends with a short period.
        assert aggregates(metric_store, key, T0 + 60, T0 + 301, 120) == [
            (T0 + 60, 2.0, 7.0, 3.0, 4.0),
            (T0 + 300, 1.0, 5.0, 5.0, 5.0),
        ]
        assert aggregates(metric_store, key, T0, T0, 60) == []
        assert aggregates(metric_store, key, T0 + 1000, T0 + 2000, 60) == []
        # Reads never apply retention: a year-old sample is still read.
        metric_store.put_samples([(key, one(T0 - 365 * DAY, 9.0))])
        assert aggregates(metric_store, key, T0 - 365 * DAY, T0 - 365 * DAY + 1, 1) == [
            (T0 - 365 * DAY, 1.0, 9.0, 9.0, 9.0)
        ]

    def test_statistic_sets_and_samples_of_one_second_all_count(self, metric_store: MetricStore) -> None:
        key = mkey()
        metric_store.put_samples([])
        metric_store.put_samples([(key, one(T0, 5.0)), (key, one(T0, 5.0))])  # one batch, one second
        metric_store.put_samples([(key, Sample(T0, 4.0, 10.0, -1.5, 7.25, None))])  # a later batch
        metric_store.put_samples([(key, Sample(T0 + 1, 2.5, 5.0, 2.0, 2.0, 2.0))])
        assert aggregates(metric_store, key, T0, T0 + 60, 60) == [(T0, 8.5, 25.0, -1.5, 7.25)]
        assert aggregates(metric_store, key, T0, T0 + 2, 1) == [
            (T0, 6.0, 20.0, -1.5, 7.25),
            (T0 + 1, 2.5, 5.0, 2.0, 2.0),
        ]

    def test_unit_filter_reads_one_unit_and_none_reads_all(self, metric_store: MetricStore) -> None:
        key = mkey("ModelLatency")
        metric_store.put_samples(
            [
                (key, one(T0, 1.0, "Seconds")),
                (key, one(T0 + 1, 1000.0, "Milliseconds")),
                (key, one(T0 + 2, 3.0)),
            ]
        )
        assert aggregates(metric_store, key, T0, T0 + 60, 60, unit="Seconds") == [(T0, 1.0, 1.0, 1.0, 1.0)]
        assert aggregates(metric_store, key, T0, T0 + 60, 60, unit="None") == [(T0, 1.0, 3.0, 3.0, 3.0)]
        assert aggregates(metric_store, key, T0, T0 + 60, 60, unit="Bytes") == []
        [combined] = metric_store.aggregate([key], T0, T0 + 60, 60)[key]
        assert (combined.count, combined.sum, combined.minimum, combined.maximum) == (
            3.0,
            1004.0,
            1.0,
            1000.0,
        )
        assert combined.unit in ("Seconds", "Milliseconds", "None")
        [seconds] = metric_store.aggregate([key], T0, T0 + 60, 60, "Seconds")[key]
        assert seconds == Aggregate(T0, 1.0, 1.0, 1.0, 1.0, "Seconds")

    def test_many_keys_in_one_call_stay_apart(self, metric_store: MetricStore) -> None:
        keys = [mkey(dimensions=(("EndpointName", f"ep{i}"), ("VariantName", "v"))) for i in range(30)]
        metric_store.put_samples(
            [(k, one(T0 + p * 60 + i, float(i))) for i, k in enumerate(keys) for p in range(3)]
        )
        same_name_no_dimensions = mkey(dimensions=())
        metric_store.put_samples([(same_name_no_dimensions, one(T0, 100.0))])
        absent = [mkey(dimensions=(("EndpointName", "nowhere"),)), mkey("Invocations", namespace="Other")]
        found = metric_store.aggregate([*keys, same_name_no_dimensions, *absent], T0, T0 + 180, 60)
        for i, key in enumerate(keys):
            assert [(a.start, a.count, a.sum) for a in found[key]] == [
                (T0 + p * 60, 1.0, float(i)) for p in range(3)
            ]
        assert [a.sum for a in found[same_name_no_dimensions]] == [100.0]
        assert all(not found.get(k) for k in absent)
        assert dict(metric_store.aggregate([], T0, T0 + 60, 60)) == {}

    def test_small_periods_over_a_long_range(self, metric_store: MetricStore) -> None:
        key = mkey()
        at = [T0, T0 + 3 * DAY - 1, T0 + 5 * DAY]
        metric_store.put_samples([(key, one(t, 1.0)) for t in at])
        assert [a[0] for a in aggregates(metric_store, key, T0, T0 + 6 * DAY, 1)] == at
        assert [a[0] for a in aggregates(metric_store, key, T0, T0 + 6 * DAY, 5 * DAY)] == [T0, T0 + 5 * DAY]

    def test_percentile_values_skip_unknown_values_in_time_order(self, metric_store: MetricStore) -> None:
        key = mkey("ModelLatency")
        metric_store.put_samples(
            [
                (key, one(T0 + 5, 50.0, "Microseconds")),
                (key, Sample(T0 + 1, 3.0, 30.0, 1.0, 20.0, None, "Microseconds")),  # a statistic set
                (key, Sample(T0 + 2, 4.0, 8.0, 2.0, 2.0, 2.0, "Microseconds")),
                (key, one(T0 - 1, 1.0, "Microseconds")),
                (key, one(T0 + 10, 1.0, "Microseconds")),
                (key, one(T0 + 3, 7.0, "Seconds")),
            ]
        )
        assert metric_store.percentile_values(key, T0, T0 + 10) == [
            (T0 + 2, 2.0, 4.0),
            (T0 + 3, 7.0, 1.0),
            (T0 + 5, 50.0, 1.0),
        ]
        assert metric_store.percentile_values(key, T0, T0 + 10, "Microseconds") == [
            (T0 + 2, 2.0, 4.0),
            (T0 + 5, 50.0, 1.0),
        ]
        assert metric_store.percentile_values(key, T0, T0 + 10, "Bytes") == []
        assert metric_store.percentile_values(mkey("Absent"), T0, T0 + 10) == []

    def test_percentile_values_come_back_as_ints_and_exact_floats(self, metric_store: MetricStore) -> None:
        key = mkey("ModelLatency")
        metric_store.put_samples(
            [(key, one(T0, 0.1 + 0.2)), (key, Sample(T0 + 1, 3.0, 3e-300, 1e-300, 1e-300, 1e-300))]
        )
        rows = metric_store.percentile_values(key, T0, T0 + 2)
        assert rows == [(T0, 0.1 + 0.2, 1.0), (T0 + 1, 1e-300, 3.0)]
        assert [tuple(type(x) for x in row) for row in rows] == [(int, float, float)] * 2

    def test_value_ranges_tell_singles_and_the_extremes_of_known_values(
        self, metric_store: MetricStore
    ) -> None:
        key = mkey("ModelLatency")
        metric_store.put_samples(
            [
                # [T0, T0 + 60): single values only, two of them in one second.
                (key, one(T0, 5.0)),
                (key, one(T0 + 1, -2.5)),
                (key, one(T0 + 1, 9.0)),
                # [T0 + 60, T0 + 120): a value that stands for four observations (Values and Counts).
                (key, Sample(T0 + 61, 4.0, 8.0, 2.0, 2.0, 2.0)),
                (key, one(T0 + 62, 7.0)),
                # [T0 + 120, T0 + 180): a statistic set of one observation: no known value.
                (key, Sample(T0 + 121, 1.0, 3.0, 3.0, 3.0, None)),
                # [T0 + 180, T0 + 240): a single value beside a statistic set.
                (key, one(T0 + 181, 4.0)),
                (key, Sample(T0 + 182, 2.0, 1.0, 0.0, 1.0, None)),
                # [T0 + 300, T0 + 360): outside the range read below.
                (key, one(T0 + 300, 1.0)),
            ]
        )
        found = metric_store.value_ranges([key], T0, T0 + 300, 60)[key]
        assert found == [
            ValueRange(T0, 3.0, "None", True, -2.5, 9.0),
            ValueRange(T0 + 60, 5.0, "None", False, 2.0, 7.0),
            ValueRange(T0 + 120, 1.0, "None", False, None, None),
            ValueRange(T0 + 180, 3.0, "None", False, 4.0, 4.0),
        ]
        # The same periods and counts as `aggregate`.
        assert [(r.start, r.count) for r in found] == [
            (a[0], a[1]) for a in aggregates(metric_store, key, T0, T0 + 300, 60)
        ]
        assert metric_store.value_ranges([key], T0, T0, 60)[key] == []

    def test_value_ranges_read_one_unit_many_keys_and_long_ranges(self, metric_store: MetricStore) -> None:
        keys = [mkey("Latency", (("Host", f"h{i}"),)) for i in range(3)]
        metric_store.put_samples(
            [
                (keys[0], one(T0, 1.0, "Seconds")),
                (keys[0], one(T0 + 1, 500.0, "Milliseconds")),
                (keys[1], one(T0 + 2, 3.0, "Seconds")),
                (keys[1], one(T0 + 5 * DAY, 4.0, "Seconds")),
            ]
        )
        absent = mkey("Absent")
        found = metric_store.value_ranges([*keys, absent], T0, T0 + 60, 60, "Seconds")
        assert found[keys[0]] == [ValueRange(T0, 1.0, "Seconds", True, 1.0, 1.0)]
        assert found[keys[1]] == [ValueRange(T0, 1.0, "Seconds", True, 3.0, 3.0)]
        assert not found.get(keys[2]) and not found.get(absent)
        [both] = metric_store.value_ranges([keys[0]], T0, T0 + 60, 60)[keys[0]]
        assert (both.count, both.singles, both.lowest, both.highest) == (2.0, True, 1.0, 500.0)
        # More periods than a week of minutes: the same answers by another way on some backends.
        long = metric_store.value_ranges([keys[1]], T0, T0 + 6 * DAY, 1)[keys[1]]
        assert long == [
            ValueRange(T0 + 2, 1.0, "Seconds", True, 3.0, 3.0),
            ValueRange(T0 + 5 * DAY, 1.0, "Seconds", True, 4.0, 4.0),
        ]
        assert dict(metric_store.value_ranges([], T0, T0 + 60, 60)) == {}

    def test_concurrent_puts_create_one_metric(self, metric_store: MetricStore) -> None:
        keys = [mkey("Racing"), mkey("Racing", (("Host", "a"), ("Zone", "z")))]
        results = race(8, lambda i: metric_store.put_samples([(k, one(T0 + i, float(i))) for k in keys]))
        assert results == [None] * 8
        for key in keys:
            assert aggregates(metric_store, key, T0, T0 + 60, 60) == [(T0, 8.0, 28.0, 0.0, 7.0)]
        assert len(listed(metric_store, metric_name="Racing")) == 2

    # listing

    def test_listing_filters_by_namespace_name_and_dimensions(self, metric_store: MetricStore) -> None:
        ep = ("EndpointName", "ep")
        metrics = [
            mkey("Invocations", (ep, ("VariantName", "AllTraffic"))),
            mkey("Invocations", (ep, ("VariantName", "canary"))),
            mkey("Invocations", (("EndpointName", "other"), ("VariantName", "AllTraffic"))),
            mkey("ModelLatency", (ep,)),
            mkey("CPUUtilization", (("Host", "algo-1"),), namespace="/aws/sagemaker/TrainingJobs"),
            mkey("Custom", ()),
        ]
        metric_store.put_samples([(k, one(T0, 1.0)) for k in metrics])

        def names(**fields: Any) -> list[tuple[str, str]]:
            return [(n, dict(d).get("VariantName", "")) for _, n, d in listed(metric_store, **fields)]

        assert len(listed(metric_store)) == 6
        assert len(listed(metric_store, namespace="AWS/SageMaker")) == 5
        assert listed(metric_store, namespace="aws/sagemaker") == []  # names are case-sensitive
        assert names(metric_name="ModelLatency") == [("ModelLatency", "")]
        assert sorted(names(dimensions=(("VariantName", None),))) == [
            ("Invocations", "AllTraffic"),
            ("Invocations", "AllTraffic"),
            ("Invocations", "canary"),
        ]
        assert sorted(names(dimensions=(("EndpointName", "ep"),))) == [
            ("Invocations", "AllTraffic"),
            ("Invocations", "canary"),
            ("ModelLatency", ""),
        ]
        both = (("EndpointName", "ep"), ("VariantName", "AllTraffic"))
        assert names(dimensions=both) == [("Invocations", "AllTraffic")]
        assert names(metric_name="ModelLatency", dimensions=(("VariantName", None),)) == []
        assert names(dimensions=(("Host", "ALGO-1"),)) == []
        assert listed(metric_store, dimensions=(("Host", "algo-1"),)) == [
            ("/aws/sagemaker/TrainingJobs", "CPUUtilization", (("Host", "algo-1"),))
        ]

    def test_listing_pages_in_order_and_round_trips_identities(self, metric_store: MetricStore) -> None:
        odd = (('Quote"d', 'va"l\\ue'), ("Ünï", "☃ x"), ("a", ""))
        metrics = [
            mkey("b", namespace="B"),
            mkey("a", namespace="a"),
            mkey("B", namespace="a", dimensions=()),
            mkey("B", namespace="a", dimensions=(("k", "1"),)),
            mkey("B", namespace="a", dimensions=(("k", "1"), ("l", "2"))),
            mkey("B", namespace="a", dimensions=(("k", "2"),)),
            mkey("B", namespace="a", dimensions=odd),
            mkey("é", namespace="a"),
        ]
        metric_store.put_samples([(k, one(T0, 1.0)) for k in metrics])
        everything = listed(metric_store)
        assert {(n, m, d) for n, m, d in everything} == {
            (k.namespace, k.metric_name, k.dimensions) for k in metrics
        }
        # Namespace, then name, by code point; dimensions in an order pages follow.
        assert [(n, m) for n, m, _ in everything] == sorted((k.namespace, k.metric_name) for k in metrics)
        for limit in (1, 2, 3):
            seen: list[Any] = []
            after: MetricKey | None = None
            while True:
                page, more = metric_store.list_metrics(MetricFilter(ACCOUNT, REGION), after, limit)
                assert len(page) <= limit
                seen += [(k.namespace, k.metric_name, k.dimensions) for k in page]
                if not more:
                    break
                after = page[-1]
            assert seen == everything
        assert metric_store.list_metrics(MetricFilter(ACCOUNT, REGION), None, len(metrics))[1] is False
        # A position need not be a stored metric (its metric may have been purged since).
        assert listed(metric_store, after=mkey("A", namespace="a", dimensions=())) == everything[1:]

    def test_listing_keeps_recently_active_metrics(self, metric_store: MetricStore) -> None:
        old, fresh = mkey("Old"), mkey("Fresh")
        metric_store.put_samples([(old, one(T0 - DAY, 1.0)), (fresh, one(T0 - DAY, 1.0))])
        metric_store.put_samples([(fresh, one(T0, 1.0)), (old, one(T0 - 2 * DAY, 1.0))])
        assert [m for _, m, _ in listed(metric_store, active_since=T0)] == ["Fresh"]
        assert [m for _, m, _ in listed(metric_store, active_since=T0 - DAY)] == ["Fresh", "Old"]
        assert [m for _, m, _ in listed(metric_store, active_since=T0 + 1)] == []

    # retention

    def test_purge_deletes_old_samples_and_emptied_metrics(self, metric_store: MetricStore) -> None:
        kept, gone = mkey("Kept"), mkey("Gone")
        metric_store.put_samples(
            [
                (kept, one(T0 - 10, 1.0)),
                (kept, one(T0, 2.0)),
                (gone, one(T0 - 5, 3.0)),
                (gone, one(T0 - 1, 4.0)),
            ]
        )
        assert metric_store.purge_before(T0) == 3
        assert aggregates(metric_store, kept, T0 - DAY, T0 + DAY, 2 * DAY) == [(T0 - DAY, 1.0, 2.0, 2.0, 2.0)]
        assert aggregates(metric_store, gone, T0 - DAY, T0 + DAY, 2 * DAY) == []
        assert metric_store.percentile_values(gone, T0 - DAY, T0 + DAY) == []
        assert [m for _, m, _ in listed(metric_store)] == ["Kept"]
        assert metric_store.purge_before(T0) == 0
        # A purged metric comes back with its next sample.
        metric_store.put_samples([(gone, one(T0 + 1, 5.0))])
        assert aggregates(metric_store, gone, T0, T0 + 60, 60) == [(T0, 1.0, 5.0, 5.0, 5.0)]
        assert [m for _, m, _ in listed(metric_store)] == ["Gone", "Kept"]

    # tenancy

    def test_other_accounts_and_regions_see_nothing(self, metric_store: MetricStore) -> None:
        key = mkey()
        metric_store.put_samples([(key, one(T0, 1.0))])
        metric_store.append_history([item("h1", T0)])
        for account, region in ((OTHER_ACCOUNT, REGION), (ACCOUNT, OTHER_REGION)):
            twin = mkey(account=account, region=region)
            assert not metric_store.aggregate([twin], T0, T0 + 60, 60).get(twin)
            assert metric_store.percentile_values(twin, T0, T0 + 60) == []
            assert metric_store.list_metrics(MetricFilter(account, region), None, 10) == ([], False)
            assert metric_store.list_history(AlarmHistoryQuery(account, region)) == ([], False)
            # The same identity there is a metric of its own.
            metric_store.put_samples([(twin, one(T0, 10.0))])
            assert aggregates(metric_store, twin, T0, T0 + 60, 60) == [(T0, 1.0, 10.0, 10.0, 10.0)]
        assert aggregates(metric_store, key, T0, T0 + 60, 60) == [(T0, 1.0, 1.0, 1.0, 1.0)]
        assert len(listed(metric_store)) == 1

    # alarm history

    def test_history_appends_once_per_item_id(self, metric_store: MetricStore) -> None:
        first = item("a", T0, summary="first")
        metric_store.append_history([first, item("b", T0 + 1)])
        metric_store.append_history(
            [item("a", T0 + 5, summary="retried"), item("c", T0 + 2), item("c", T0 + 2)]
        )
        metric_store.append_history([])
        page, more = metric_store.list_history(AlarmHistoryQuery(ACCOUNT, REGION))
        assert [i.item_id for i in page] == ["c", "b", "a"] and not more
        assert page[-1] == first

    def test_history_filters(self, metric_store: MetricStore) -> None:
        metric_store.append_history(
            [
                item("1", T0, "cpu"),
                item("2", T0 + 1.5, "cpu", item_type="Action"),
                item("3", T0 + 2, "CPU"),
                item("4", T0 + 3, "combo", alarm_type="CompositeAlarm"),
                item("5", T0 + 4, "cpu", item_type="ConfigurationUpdate"),
            ]
        )
        assert history(metric_store, alarm_name="cpu") == ["5", "2", "1"]
        assert history(metric_store, alarm_types=("CompositeAlarm",)) == ["4"]
        assert history(metric_store, alarm_types=("CompositeAlarm", "MetricAlarm")) == [
            "5",
            "4",
            "3",
            "2",
            "1",
        ]
        assert history(metric_store, item_type="Action") == ["2"]
        assert history(metric_store, start=T0 + 1.5, end=T0 + 3) == ["4", "3", "2"]  # both ends inclusive
        assert history(metric_store, start=T0 + 1.6, newest_first=False) == ["3", "4", "5"]
        assert history(metric_store, alarm_name="absent") == []

    def test_history_pages_both_ways_through_equal_timestamps(self, metric_store: MetricStore) -> None:
        items = [item(f"i{n}", T0 + n // 3 + 0.25) for n in range(10)]  # three items per timestamp
        metric_store.append_history(items[::-1])
        for newest_first in (True, False):
            expected = sorted(((i.timestamp, i.item_id) for i in items), reverse=newest_first)
            seen: list[tuple[float, str]] = []
            after: tuple[float, str] | None = None
            while True:
                query = AlarmHistoryQuery(ACCOUNT, REGION, newest_first=newest_first, after=after, limit=4)
                page, more = metric_store.list_history(query)
                seen += [(i.timestamp, i.item_id) for i in page]
                if not more:
                    break
                after = seen[-1]
            assert seen == expected
        assert metric_store.list_history(AlarmHistoryQuery(ACCOUNT, REGION, limit=10)) == (
            sorted(items, key=lambda i: (i.timestamp, i.item_id), reverse=True),
            False,
        )

    def test_history_purge(self, metric_store: MetricStore) -> None:
        metric_store.append_history([item("old", T0 - 10.5), item("edge", T0), item("new", T0 + 1)])
        metric_store.append_history([item("other", T0 - 20, account=OTHER_ACCOUNT)])
        assert metric_store.purge_history_before(T0) == 2
        assert history(metric_store) == ["new", "edge"]
        assert metric_store.purge_history_before(T0) == 0
