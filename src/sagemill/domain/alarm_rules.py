"""Composite alarm rules (PutCompositeAlarm ``AlarmRule``): parse, list the children, evaluate. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from sagemill.domain.alarms import AlarmState

# Grammar (CloudWatch user guide "Creating a composite alarm" and the PutCompositeAlarm API reference):
#   rule     := rule OR rule | rule AND rule | NOT rule | ( rule ) | TRUE | FALSE | check | at_least
#   check    := ALARM(ref) | OK(ref) | INSUFFICIENT_DATA(ref)      ref: alarm name or ARN, "quoted" or not
#   at_least := AT_LEAST(count | percent%, [NOT] ALARM|OK|INSUFFICIENT_DATA, (ref, ref, ...))   (Nov 2025)
# AWS documents no precedence; we use the usual one, NOT over AND over OR (AWS's examples always group
# mixed AND/OR with parentheses). Keywords are matched case-insensitively: AWS's own advice to break a
# cycle writes the rule as "False". Inside quotes a backslash escapes the next character.
MAX_LENGTH = 10240  # AlarmRule: min 1, max 10240 characters (botocore model)
MAX_ELEMENTS = 500  # "child alarms, TRUE or FALSE statements, and parentheses"; a pair counts once
MAX_CHILDREN = 100  # "An AlarmRule expression can specify as many as 100 'child' alarms"


class RuleError(ValueError):
    """An AlarmRule that does not parse or exceeds CloudWatch's limits."""


@dataclass(frozen=True, slots=True)
class Constant:
    value: bool


@dataclass(frozen=True, slots=True)
class StateIs:
    state: AlarmState
    alarm: str  # the name or ARN as written


@dataclass(frozen=True, slots=True)
class Not:
    operand: Rule


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AtLeast:
    """True when at least ``threshold`` of ``alarms`` (a percentage of them when ``percent``) match."""

    threshold: float
    percent: bool
    state: AlarmState
    negated: bool  # NOT ALARM / NOT OK / NOT INSUFFICIENT_DATA
    alarms: tuple[str, ...]


Rule: TypeAlias = Constant | StateIs | Not | And | Or | AtLeast

_STATES = {s.value: s for s in AlarmState}
_WORD = re.compile(r"[A-Za-z_]+")
_PRECEDENCE = {"OR": 1, "AND": 2, "NOT": 3}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def error(self, what: str) -> RuleError:
        return RuleError(f"Invalid AlarmRule: {what} at character {self.pos + 1}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected '{char}'")
        self.pos += 1

    def word(self) -> str:
        self.skip()
        match = _WORD.match(self.text, self.pos)
        if match is None:
            return ""
        self.pos = match.end()
        return match.group().upper()

    def reference(self) -> str:
        """An alarm name or ARN: quoted (any character, backslash escapes) or a run without spaces, (),"."""
        if self.peek() == '"':
            out, i = [], self.pos + 1
            while i < len(self.text) and self.text[i] != '"':
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    i += 1
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.error("unterminated quoted alarm name")
            self.pos, name = i + 1, "".join(out)
        else:
            match = re.compile(r'[^\s(),"]+').match(self.text, self.pos)
            self.pos, name = (match.end(), match.group()) if match else (self.pos, "")
        if not name:
            raise self.error("expected an alarm name or ARN")
        return name

    def state(self) -> tuple[AlarmState, bool]:
        word = self.word()
        negated = word == "NOT"
        if negated:
            word = self.word()
        if word not in _STATES:
            raise self.error("expected ALARM, OK or INSUFFICIENT_DATA")
        return _STATES[word], negated

    def at_least(self) -> AtLeast:
        self.expect("(")
        self.skip()
        match = re.compile(r"(\d+(?:\.\d+)?)\s*(%?)").match(self.text, self.pos)
        if match is None:
            raise self.error("expected a count or a percentage")
        self.pos = match.end()
        threshold, percent = float(match.group(1)), bool(match.group(2))
        if threshold <= 0 or (percent and threshold > 100) or (not percent and not threshold.is_integer()):
            raise self.error("AT_LEAST needs a whole count of at least 1 or a percentage up to 100%")
        self.expect(",")
        state, negated = self.state()
        self.expect(",")
        self.expect("(")
        alarms = [self.reference()]
        while self.peek() == ",":
            self.pos += 1
            alarms.append(self.reference())
        self.expect(")")
        self.expect(")")
        return AtLeast(threshold, percent, state, negated, tuple(alarms))

    def tokens(self) -> list[str | Rule]:
        """Operators and parentheses as strings; TRUE, FALSE and function calls as finished rules."""
        out: list[str | Rule] = []
        while (char := self.peek()) != "":
            if char in "()":
                self.pos += 1
                out.append(char)
                continue
            start, word = self.pos, self.word()
            if word in ("AND", "OR", "NOT"):
                out.append(word)
            elif word in ("TRUE", "FALSE"):
                out.append(Constant(word == "TRUE"))
            elif word in _STATES:
                self.expect("(")
                out.append(StateIs(_STATES[word], self.reference()))
                self.expect(")")
            elif word == "AT_LEAST":
                out.append(self.at_least())
            else:
                self.pos = start
                found = self.text[start : start + 20].split()[0] if word else char
                raise self.error(f"unexpected '{found}'")
        return out


def _combine(op: str, left: Rule, right: Rule) -> Rule:
    # n-ary And/Or keep the tree shallow, so evaluation never recurses deeper than the parentheses do.
    if op == "AND":
        return And(tuple(p for r in (left, right) for p in (r.operands if isinstance(r, And) else (r,))))
    return Or(tuple(p for r in (left, right) for p in (r.operands if isinstance(r, Or) else (r,))))


def _negate(rule: Rule) -> Rule:
    return rule.operand if isinstance(rule, Not) else Not(rule)  # NOT NOT x is x: chains stay shallow


def parse_rule(text: str) -> Rule:
    """Parse an AlarmRule; RuleError says what is wrong and where."""
    if not 1 <= len(text) <= MAX_LENGTH:
        raise RuleError(f"AlarmRule must be 1 to {MAX_LENGTH} characters long")
    lexer = _Lexer(text)
    tokens = lexer.tokens()
    # Operator precedence without recursion, so deep nesting cannot exhaust Python's stack.
    operands: list[Rule] = []
    operators: list[str] = []
    expect_operand, groups, elements = True, 0, 0

    def reduce() -> None:
        op = operators.pop()
        if op == "NOT":
            operands.append(_negate(operands.pop()))
        else:
            right = operands.pop()
            operands.append(_combine(op, operands.pop(), right))

    for token in tokens:
        if not isinstance(token, str):
            if not expect_operand:
                raise RuleError("Invalid AlarmRule: AND or OR is missing between two conditions")
            operands.append(token)
            elements += len(token.alarms) if isinstance(token, AtLeast) else 1
            expect_operand = False
        elif token in ("NOT", "("):
            if not expect_operand:
                raise RuleError(f"Invalid AlarmRule: AND or OR is missing before {token}")
            operators.append(token)
            groups += token == "("
        elif token == ")":
            if expect_operand:
                raise RuleError("Invalid AlarmRule: a condition is missing before ')'")
            while operators and operators[-1] != "(":
                reduce()
            if not operators:
                raise RuleError("Invalid AlarmRule: unbalanced parentheses")
            operators.pop()
        else:  # AND / OR
            if expect_operand:
                raise RuleError(f"Invalid AlarmRule: a condition is missing before {token}")
            while operators and operators[-1] != "(" and _PRECEDENCE[operators[-1]] >= _PRECEDENCE[token]:
                reduce()
            operators.append(token)
            expect_operand = True
    if expect_operand:
        raise RuleError("Invalid AlarmRule: the rule ends where a condition is expected")
    while operators:
        if operators[-1] == "(":
            raise RuleError("Invalid AlarmRule: unbalanced parentheses")
        reduce()
    if elements + groups > MAX_ELEMENTS:
        raise RuleError(f"AlarmRule has {elements + groups} elements; the limit is {MAX_ELEMENTS}")
    rule = operands[0]
    if len(referenced_alarms(rule)) > MAX_CHILDREN:
        raise RuleError(f"AlarmRule refers to more than {MAX_CHILDREN} alarms")
    return rule


def referenced_alarms(rule: Rule) -> set[str]:
    """Every alarm name or ARN the rule mentions, as written."""
    if isinstance(rule, StateIs):
        return {rule.alarm}
    if isinstance(rule, AtLeast):
        return set(rule.alarms)
    if isinstance(rule, Not):
        return referenced_alarms(rule.operand)
    if isinstance(rule, And | Or):
        return set().union(*(referenced_alarms(r) for r in rule.operands))
    return set()


def alarm_name(reference: str) -> str:
    """The alarm name in a reference: itself, or what follows ``:alarm:`` in an alarm ARN."""
    head, sep, name = reference.partition(":alarm:")
    return name if sep and head.startswith("arn:") else reference


def _state_of(reference: str, states: Mapping[str, AlarmState]) -> AlarmState | None:
    found = states.get(reference)
    return found if found is not None else states.get(alarm_name(reference))


def evaluate_rule(rule: Rule, states: Mapping[str, AlarmState]) -> bool | None:
    """Whether the rule holds for the given alarm states (keyed by name, or by the reference as written).

    AWS refuses a rule naming an alarm that does not exist and an alarm that a rule still names cannot be
    deleted, so an unknown alarm is a gap in the caller's snapshot, not a state. It is treated as unknown
    (three-valued logic): the result is None only when it depends on such an alarm, e.g. ``FALSE AND
    ALARM(gone)`` is still False. On None the caller keeps the composite alarm's state.
    """
    if isinstance(rule, Constant):
        return rule.value
    if isinstance(rule, StateIs):
        state = _state_of(rule.alarm, states)
        return None if state is None else state == rule.state
    if isinstance(rule, Not):
        inner = evaluate_rule(rule.operand, states)
        return None if inner is None else not inner
    if isinstance(rule, AtLeast):
        found = [_state_of(a, states) for a in rule.alarms]
        matching = sum(1 for s in found if s is not None and (s == rule.state) != rule.negated)
        unknown = found.count(None)
        # A percentage is of all listed alarms: "at least 50%" of 3 needs 2 (2 x 100 >= 50 x 3).
        total = len(rule.alarms)

        def enough(count: int) -> bool:
            return count * 100 >= rule.threshold * total if rule.percent else count >= rule.threshold

        if enough(matching):
            return True
        return None if enough(matching + unknown) else False
    values = [evaluate_rule(r, states) for r in rule.operands]
    decisive = isinstance(rule, Or)  # True decides an OR, False decides an AND
    if decisive in values:
        return decisive
    return None if None in values else not decisive
