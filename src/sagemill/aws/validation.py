"""Model-driven input validation, worded exactly as AWS's JSON services word it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from sagemill.aws.errors import ValidationError

# AWS stops listing after this many problems; the count in the message stays exact.
_MAX_LISTED = 10


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        # A Java-only construct: we cannot check it faithfully, so we do not reject on it.
        return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, bytes):
        return "java.nio.HeapByteBuffer"
    return str(value)


def _problem(value: Any, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{_render(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


# Services that word a model-constraint failure with their own code (same message).
_CODES = {"logs": "InvalidParameterException", "s3": "InvalidArgument", "cloudwatch": "ValidationError"}


def validate(shape: Shape | None, params: Mapping[str, Any], service: str = "") -> None:
    """Raise ValidationError listing every constraint `params` breaks."""
    if shape is None:
        return
    problems: list[str] = []
    _check_structure(shape, params, "", problems)
    if problems:
        error = ValidationError(problems[:_MAX_LISTED])
        error.code = _CODES.get(service, error.code)
        if len(problems) > _MAX_LISTED:
            error.message = error.message.replace(
                f"{_MAX_LISTED} validation", f"{len(problems)} validation", 1
            )
            error.args = (error.message,)
        raise error


def _check_structure(shape: Shape, value: Mapping[str, Any], path: str, problems: list[str]) -> None:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(_problem(None, _join(path, name), "Member must not be null"))
    for name, item in value.items():
        member = members.get(name)
        if member is not None and item is not None:
            _check(member, item, _join(path, name), problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{_camel(name)}" if path else _camel(name)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if isinstance(value, Mapping) and not meta.get("document"):
            _check_structure(shape, value, path, problems)
        return
    if kind == "list":
        _check_length(value, path, meta, problems)
        for index, item in enumerate(value, start=1):
            if item is not None:
                _check(shape.member, item, f"{path}.{index}.member", problems)
        return
    if kind == "map":
        _check_length(value, path, meta, problems)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}.key", problems)
            if item is not None:
                _check(shape.value, item, f"{path}.{key}.value", problems)
        return
    if kind == "string":
        enum = meta.get("enum")
        if enum and value not in enum:
            problems.append(_problem(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
            return
        _check_length(value, path, meta, problems)
        pattern = meta.get("pattern")
        if pattern:
            compiled = _compiled(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                problems.append(
                    _problem(value, path, f"Member must satisfy regular expression pattern: {pattern}")
                )
        return
    if kind == "blob":
        if isinstance(value, bytes | str):  # a streamed body has no length yet
            _check_length(value, path, meta, problems)
        return
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(
                _problem(value, path, f"Member must have value greater than or equal to {meta['min']}")
            )
        elif "max" in meta and value > meta["max"]:
            problems.append(
                _problem(value, path, f"Member must have value less than or equal to {meta['max']}")
            )


def _check_length(value: Any, path: str, meta: Mapping[str, Any], problems: list[str]) -> None:
    length = len(value)
    if "min" in meta and length < meta["min"]:
        problems.append(
            _problem(value, path, f"Member must have length greater than or equal to {meta['min']}")
        )
    elif "max" in meta and length > meta["max"]:
        problems.append(_problem(value, path, f"Member must have length less than or equal to {meta['max']}"))
