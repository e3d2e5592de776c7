"""CloudWatch Logs filter patterns for unstructured events: terms, phrases, ?OR terms and -exclusions.

Supported (case-sensitive; a term matches where it occurs anywhere in the message):
- ``ERROR`` and ``ERROR timeout``: every term must occur (AND);
- ``"Internal Server Error"``: a quoted phrase is one term; ``\\"`` and ``\\\\`` escape inside quotes;
- ``?ERROR ?WARN``: any of the ``?`` terms must occur (OR); every term of such a pattern is a ``?`` term;
- ``ERROR -DEBUG`` and ``-"health check"``: events containing an excluded term never match;
- an empty or blank pattern, or ``""``, matches every event.

Not supported, answered with InvalidParameterException rather than a silently wrong result: JSON
patterns (``{ $.x = 1 }``), space-delimited patterns (``[ip, user, ...]``), regular expressions
(``%...%``), and ``?`` terms mixed with plain or excluded terms. Unquoted terms may hold only letters,
digits and underscores, as AWS requires; anything else must be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sagemill.aws.errors import ServiceError
from sagemill.services.logs.errors import invalid_parameter

_BARE_TERM = re.compile(r"\w+")
_UNSUPPORTED = {
    "{": "JSON filter patterns",
    "[": "space-delimited filter patterns",
    "%": "regular-expression filter patterns",
}


@dataclass(frozen=True, slots=True)
class FilterPattern:
    """A compiled pattern: all of `required`, any of `any_of` (when given), none of `excluded`."""

    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def matches_everything(self) -> bool:
        return not self.any_of and not self.excluded and all(term == "" for term in self.required)

    def matches(self, message: str) -> bool:
        if any(term in message for term in self.excluded):
            return False
        if self.any_of and not any(term in message for term in self.any_of):
            return False
        return all(term in message for term in self.required)


MATCH_ALL = FilterPattern()


def _unsupported(kind: str) -> ServiceError:
    return invalid_parameter(
        f"Sagemill does not support {kind} yet; use terms, quoted phrases, ?terms and -terms."
    )


def _read_quoted(pattern: str, start: int) -> tuple[str, int]:
    """The phrase that opens with the quote at `start`, and the index just past its closing quote."""
    chars: list[str] = []
    i = start + 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in ('"', "\\"):
            chars.append(pattern[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(chars), i + 1
        chars.append(char)
        i += 1
    raise invalid_parameter(f"Invalid filter pattern: unterminated quoted term in '{pattern}'.")


def compile_pattern(pattern: str | None) -> FilterPattern:
    """Parse a filter pattern; InvalidParameterException for what Sagemill cannot evaluate faithfully."""
    text = (pattern or "").strip()
    if not text:
        return MATCH_ALL
    if text[0] in ("{", "["):
        raise _unsupported(_UNSUPPORTED[text[0]])
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        target = required
        if text[i] in ("?", "-"):
            target = any_of if text[i] == "?" else excluded
            i += 1
            if i >= len(text) or text[i].isspace():
                raise invalid_parameter(f"Invalid filter pattern: '{text[i - 1]}' must precede a term.")
        if text[i] == '"':
            term, i = _read_quoted(text, i)
            if i < len(text) and not text[i].isspace():
                raise invalid_parameter(f"Invalid character(s) in term '{text[i:].split()[0]}'")
        else:
            end = i
            while end < len(text) and not text[end].isspace():
                end += 1
            term = text[i:end]
            if term[0] in _UNSUPPORTED:
                raise _unsupported(_UNSUPPORTED[term[0]])
            if not _BARE_TERM.fullmatch(term):
                raise invalid_parameter(f"Invalid character(s) in term '{term}'")
            i = end
        target.append(term)
    if any_of and (required or excluded):
        raise _unsupported("?terms combined with plain or -terms")
    return FilterPattern(tuple(required), tuple(any_of), tuple(excluded))
