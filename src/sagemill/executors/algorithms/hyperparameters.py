"""Declarative hyperparameter validation with the messages of AWS's `sagemaker_algorithm_toolkit`.

Values arrive as the strings of the HyperParameters map. A `Schema` resolves aliases, fills defaults,
rejects unknown and missing names, parses each value, checks its range, then runs the cross-parameter
checks, in that order, each failing with the toolkit's wording:
"Missing required hyperparameter: x", "Extraneous hyperparameter found: x",
"Hyperparameter x: could not parse value (caused by ValueError)", "Hyperparameter x: v is not in [0, 1]".
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagemill.executors.algorithms.errors import UserError


@dataclass(frozen=True, slots=True)
class Interval:
    min_open: float | None = None
    min_closed: float | None = None
    max_open: float | None = None
    max_closed: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float):
            return False
        return not (
            (self.min_open is not None and value <= self.min_open)
            or (self.min_closed is not None and value < self.min_closed)
            or (self.max_open is not None and value >= self.max_open)
            or (self.max_closed is not None and value > self.max_closed)
        )

    def __str__(self) -> str:
        # Same rendering as the toolkit's Interval.__str__, so range errors read identically.
        low = (
            f"({_num(self.min_open)}, "
            if self.min_open is not None
            else f"[{_num(self.min_closed)}, "
            if self.min_closed is not None
            else "(-inf, "
        )
        high = (
            f"{_num(self.max_open)})"
            if self.max_open is not None
            else f"{_num(self.max_closed)}]"
            if self.max_closed is not None
            else "+inf)"
        )
        return low + high


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


class Parameter:
    """One hyperparameter: how to parse its string and which values it accepts."""

    def __init__(self, name: str, *, required: bool = False, default: Any = None) -> None:
        self.name = name
        self.required = required
        self.default = default

    def parse(self, value: Any) -> Any:
        return value

    def check(self, value: Any) -> None:
        """Raise UserError if the parsed value is out of range."""


class Text(Parameter):
    """Free text, accepted as is."""


class Integer(Parameter):
    def __init__(self, name: str, interval: Interval, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.interval = interval

    def parse(self, value: Any) -> Any:
        return int(value)

    def check(self, value: Any) -> None:
        if value not in self.interval:
            raise UserError(f"Hyperparameter {self.name}: {value} is not in {self.interval}")


class Continuous(Integer):
    def parse(self, value: Any) -> Any:
        return float(value)


class Categorical(Parameter):
    def __init__(self, name: str, values: Sequence[str], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.values = list(values)

    def check(self, value: Any) -> None:
        if value not in self.values:
            raise UserError(f"Hyperparameter {self.name}: {value} is not in {self.values}")


class Boolean(Parameter):
    """`true`/`false` in any case (the SDK sends Python's `True`), parsed to bool."""

    def parse(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{value!r} is not a boolean")
        return text in ("true", "1")


class AutoOr(Parameter):
    """A number, or one of a few keywords such as `auto` (linear-learner's `learning_rate`, `wd`...)."""

    def __init__(
        self, name: str, number: Parameter, keywords: Sequence[str] = ("auto",), **kwargs: Any
    ) -> None:
        super().__init__(name, **kwargs)
        self.number = number
        self.keywords = list(keywords)

    def parse(self, value: Any) -> Any:
        text = str(value).strip()
        return text.lower() if text.lower() in self.keywords else self.number.parse(text)

    def check(self, value: Any) -> None:
        if value not in self.keywords:
            self.number.check(value)


class CommaList(Parameter):
    """A comma-separated list whose items must each be accepted by `accepts`."""

    def __init__(
        self, name: str, accepts: Callable[[str], bool], shown: Sequence[str], **kwargs: Any
    ) -> None:
        super().__init__(name, **kwargs)
        self.accepts = accepts
        self.shown = list(shown)

    def parse(self, value: Any) -> Any:
        return [item.strip() for item in str(value).split(",") if item.strip()]

    def check(self, value: Any) -> None:
        if not all(self.accepts(item) for item in value):
            raise UserError(f"Hyperparameter {self.name}: value {value} not in range {self.shown}")


class StringList(CommaList):
    """A list written as JSON (`["msd"]`), a Python literal (`['msd']`, what the SDK's str() sends) or CSV."""

    def parse(self, value: Any) -> Any:
        text = str(value).strip()
        for decode in (json.loads, ast.literal_eval):
            try:
                decoded = decode(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(decoded, list | tuple):
                return [str(item).strip() for item in decoded]
            if isinstance(decoded, str):
                return [decoded.strip()]
        return super().parse(text)


Check = Callable[[dict[str, Any]], None]


@dataclass
class Schema:
    parameters: list[Parameter]
    aliases: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    """Cross-parameter checks run on the parsed values, after every range check passed."""
    ignore: Callable[[str], bool] = field(default=lambda name: False)
    """Names dropped before validation (e.g. the underscore-prefixed internals of the Amazon algorithms)."""

    def names(self) -> Iterable[str]:
        return (p.name for p in self.parameters)

    def validate(self, given: Mapping[str, str]) -> dict[str, Any]:
        by_name = {p.name: p for p in self.parameters}
        values: dict[str, Any] = {}
        for name, value in given.items():
            if self.ignore(name):
                continue
            values[self.aliases.get(name, name)] = value
        for parameter in self.parameters:
            if parameter.name not in values:
                if parameter.required:
                    raise UserError(f"Missing required hyperparameter: {parameter.name}")
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            known = by_name.get(name)
            if known is None:
                raise UserError(f"Extraneous hyperparameter found: {name}")
            try:
                parsed[name] = known.parse(value)
            except (ValueError, TypeError, SyntaxError) as error:
                raise UserError(
                    f"Hyperparameter {name}: could not parse value (caused by {type(error).__name__})"
                ) from error
        for name, value in parsed.items():
            by_name[name].check(value)
        for check in self.checks:
            check(parsed)
        return parsed
