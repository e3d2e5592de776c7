"""Retention: the day counts PutRetentionPolicy accepts, what reads hide, and the periodic purge."""

from __future__ import annotations

from sagemill.services.logs.errors import constraint
from sagemill.store.logs import LogGroup, LogStore

DAY_MS = 86_400_000
VALID_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def check_days(days: int) -> None:
    """InvalidParameterException, worded as Logs words it, unless `days` is a retention AWS offers."""
    if days not in VALID_DAYS:
        allowed = ", ".join(str(d) for d in VALID_DAYS)
        raise constraint(days, "retentionInDays", f"Member must satisfy enum value set: [{allowed}]")


def floor_ms(group: LogGroup, now_ms: int) -> int | None:
    """The oldest timestamp the group's retention still keeps at `now_ms` (None: kept forever)."""
    if group.retention_days is None:
        return None
    return now_ms - group.retention_days * DAY_MS


def purge_expired(store: LogStore, now: float) -> int:
    """Delete every event that its group's retention no longer keeps at `now` (epoch seconds).

    Reads already hide such events; this reclaims their space. Returns how many were deleted.
    Call it periodically (AWS itself purges up to 72 hours after expiry).
    """
    return store.purge_expired(int(now * 1000))
