"""Periods and time ranges as CloudWatch accepts them, shared by the statistics and query operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sagemill.services.cloudwatch.errors import invalid_value

HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


def check_period(period: int, member: str = "Period") -> int:
    if period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0):
        return period
    raise invalid_value(f"The parameter {member} must be 1, 5, 10, 20, 30, 60, or any multiple of 60.")


def seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def aligned_start(start: float, period: int, now: float) -> int:
    """StartTime rounded down as CloudWatch rounds it: by the period's granularity and the data's age."""
    age = now - start
    if period < 60:
        step = period
    elif age <= 15 * 86_400:
        step = 60
    elif age <= 63 * 86_400:
        step = 300
    else:
        step = 3600
    whole = int(start)
    return whole - whole % step


def check_range(start: float, end: float) -> None:
    if start >= end:
        raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")
