"""Ship a worker's output file to CloudWatch Logs as SageMaker does, and match metric regexes on the way."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Read at most this much per tick so one chatty job cannot stall the loop.
MAX_READ = 4 * 1024 * 1024


class LogSink(Protocol):
    """Where shipped lines go (the platform's CloudWatch Logs writer)."""

    def append(
        self, account: str, region: str, group: str, stream: str, lines: Sequence[tuple[int, str]]
    ) -> int: ...


def escape_line(line: str) -> str:
    """Control characters as SageMaker's log pipeline writes them (syslog octal: TAB → `#011`)."""
    return "".join(f"#{ord(ch):03o}" if ord(ch) < 32 and ch != "\n" else ch for ch in line)


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    pattern: re.Pattern[str]


def compile_definitions(definitions: Sequence[dict[str, str]]) -> list[MetricDefinition]:
    compiled = []
    for item in definitions:
        try:
            compiled.append(MetricDefinition(item["Name"], re.compile(item["Regex"])))
        except (re.error, KeyError):
            continue  # SageMaker accepts the job and simply never matches a broken regex
    return compiled


def match_metrics(line: str, definitions: Sequence[MetricDefinition]) -> list[tuple[str, float]]:
    """(name, value) for each definition whose first group captures a number in this line."""
    found = []
    for definition in definitions:
        match = definition.pattern.search(line)
        if match is None or not match.groups():
            continue
        try:
            found.append((definition.name, float(match.group(1))))
        except (TypeError, ValueError):
            continue
    return found


def read_new_lines(path: Path, offset: int, *, final: bool = False) -> tuple[list[str], int]:
    """Complete lines after `offset` and the offset after them; `final` also takes a last partial line."""
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(MAX_READ)
    if not data:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0 and not final and len(data) < MAX_READ:
        return [], offset
    usable = data if (final or end < 0) else data[: end + 1]
    lines = usable.decode("utf-8", "replace").splitlines()
    return [escape_line(line) for line in lines], offset + len(usable)
