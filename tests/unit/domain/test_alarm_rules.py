"""Composite alarm rules: AWS's documented examples, syntax errors, limits, three-valued evaluation."""

from __future__ import annotations

import re

import pytest

from sagemill.domain.alarm_rules import (
    MAX_LENGTH,
    And,
    AtLeast,
    Constant,
    Not,
    Or,
    RuleError,
    StateIs,
    alarm_name,
    evaluate_rule,
    parse_rule,
    referenced_alarms,
)
from sagemill.domain.alarms import AlarmState

A, OK, INS = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:CPU High"


def test_aws_examples_parse_to_the_documented_meaning() -> None:
    assert parse_rule("ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)") == And(
        (StateIs(A, "CPUUtilizationTooHigh"), StateIs(A, "DiskReadOpsTooHigh"))
    )
    assert parse_rule("ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)") == And(
        (StateIs(A, "CPUUtilizationTooHigh"), Not(StateIs(A, "DeploymentInProgress")))
    )
    rule = parse_rule(
        '(ALARM("CPUUtilizationTooHigh") OR \nALARM("DiskReadOpsTooHigh")) AND \nOK("NetworkOutTooHigh")'
    )
    assert rule == And(
        (
            Or((StateIs(A, "CPUUtilizationTooHigh"), StateIs(A, "DiskReadOpsTooHigh"))),
            StateIs(OK, "NetworkOutTooHigh"),
        )
    )
    assert parse_rule("TRUE") == Constant(True)
    assert parse_rule("False") == Constant(False)  # AWS's advice for breaking a cycle spells it this way
    assert parse_rule("INSUFFICIENT_DATA(x)") == StateIs(INS, "x")


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"CPUUtilizationTooHigh": A, "DiskReadOpsTooHigh": OK, "NetworkOutTooHigh": OK}, True),
        ({"CPUUtilizationTooHigh": OK, "DiskReadOpsTooHigh": A, "NetworkOutTooHigh": OK}, True),
        ({"CPUUtilizationTooHigh": A, "DiskReadOpsTooHigh": A, "NetworkOutTooHigh": A}, False),
        ({"CPUUtilizationTooHigh": OK, "DiskReadOpsTooHigh": INS, "NetworkOutTooHigh": OK}, False),
    ],
)
def test_evaluate_documented_example(states: dict[str, AlarmState], expected: bool) -> None:
    rule = parse_rule("(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)")
    assert evaluate_rule(rule, states) is expected


def test_precedence_not_then_and_then_or() -> None:
    assert parse_rule("ALARM(a) OR ALARM(b) AND ALARM(c)") == Or(
        (StateIs(A, "a"), And((StateIs(A, "b"), StateIs(A, "c"))))
    )
    assert parse_rule("NOT ALARM(a) AND ALARM(b)") == And((Not(StateIs(A, "a")), StateIs(A, "b")))
    assert parse_rule("NOT (ALARM(a) AND ALARM(b))") == Not(And((StateIs(A, "a"), StateIs(A, "b"))))
    assert parse_rule("NOT NOT ALARM(a)") == StateIs(A, "a")
    assert parse_rule("ALARM(a) AND ALARM(b) AND (ALARM(c) AND ALARM(d))") == And(
        tuple(StateIs(A, n) for n in "abcd")
    )
    assert parse_rule("alarm(a) and not ok(b)") == And((StateIs(A, "a"), Not(StateIs(OK, "b"))))


def test_references_names_arns_and_quotes() -> None:
    rule = parse_rule(
        f'ALARM("{ARN}") OR OK( "with \\"quote\\" and \\\\ (parens), commas" ) OR ALARM(  plain-name_1 )'
    )
    assert referenced_alarms(rule) == {ARN, 'with "quote" and \\ (parens), commas', "plain-name_1"}
    unquoted_arn = parse_rule("ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:disk)")
    assert referenced_alarms(unquoted_arn) == {"arn:aws:cloudwatch:us-east-1:123456789012:alarm:disk"}
    assert alarm_name(ARN) == "CPU High"
    assert alarm_name("plain") == "plain"
    assert alarm_name("not-an-arn:alarm:x") == "not-an-arn:alarm:x"
    assert referenced_alarms(parse_rule("TRUE OR NOT FALSE")) == set()


def test_arn_references_resolve_to_names() -> None:
    rule = parse_rule(f'ALARM("{ARN}")')
    assert evaluate_rule(rule, {"CPU High": A}) is True
    assert evaluate_rule(rule, {ARN: OK}) is False


def test_unknown_alarms_are_unknown_not_false() -> None:
    assert evaluate_rule(parse_rule("ALARM(gone)"), {}) is None
    assert evaluate_rule(parse_rule("NOT ALARM(gone)"), {}) is None
    assert evaluate_rule(parse_rule("FALSE AND ALARM(gone)"), {}) is False
    assert evaluate_rule(parse_rule("TRUE OR ALARM(gone)"), {}) is True
    assert evaluate_rule(parse_rule("TRUE AND ALARM(gone)"), {}) is None
    assert evaluate_rule(parse_rule("ALARM(a) OR ALARM(gone)"), {"a": OK}) is None


def test_at_least() -> None:
    rule = parse_rule("AT_LEAST(2, ALARM, (a1, a2, a3))")
    assert rule == AtLeast(2, False, A, False, ("a1", "a2", "a3"))
    assert evaluate_rule(rule, {"a1": A, "a2": A, "a3": OK}) is True
    assert evaluate_rule(rule, {"a1": A, "a2": OK, "a3": OK}) is False
    assert evaluate_rule(rule, {"a1": A, "a2": OK}) is None  # a3 could still make it two
    assert evaluate_rule(rule, {"a1": OK, "a2": OK}) is False  # even a3 in ALARM is not enough
    pct = parse_rule('AT_LEAST(60%, NOT OK, ("a1", "a2", "a3")) AND TRUE')
    assert isinstance(pct, And) and pct.operands[0] == AtLeast(60, True, OK, True, ("a1", "a2", "a3"))
    assert evaluate_rule(pct, {"a1": A, "a2": INS, "a3": OK}) is True  # 2 of 3 = 67 % not OK
    assert evaluate_rule(pct, {"a1": A, "a2": OK, "a3": OK}) is False
    assert referenced_alarms(pct) == {"a1", "a2", "a3"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1 to 10240"),
        ("   ", "ends where a condition"),
        ("ALARM(a) AND", "ends where a condition"),
        ("ALARM(a) ALARM(b)", "missing between"),
        ("ALARM(a) (ALARM(b))", "missing before ("),
        ("ALARM(a) NOT ALARM(b)", "missing before NOT"),
        ("AND ALARM(a)", "missing before AND"),
        ("(ALARM(a)", "unbalanced"),
        ("ALARM(a))", "unbalanced"),
        ("()", "missing before ')'"),
        ("ALARM()", "alarm name or ARN at character 7"),
        ('ALARM("")', "alarm name or ARN"),
        ('ALARM("open', "unterminated"),
        ("ALARM(a b)", "expected ')'"),
        ("ALARM a", "expected '('"),
        ("BROKEN(a)", "unexpected 'BROKEN(a)' at character 1"),
        ("ALARM(a) & ALARM(b)", "unexpected '&'"),
        ("AT_LEAST(0, ALARM, (a))", "whole count"),
        ("AT_LEAST(1.5, ALARM, (a))", "whole count"),
        ("AT_LEAST(101%, ALARM, (a))", "percentage up to 100%"),
        ("AT_LEAST(x, ALARM, (a))", "count or a percentage"),
        ("AT_LEAST(1, BAD, (a))", "expected ALARM, OK or INSUFFICIENT_DATA"),
        ("AT_LEAST(1, ALARM, a)", "expected '('"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_rule(text)


def test_limits() -> None:
    with pytest.raises(RuleError, match="1 to 10240"):
        parse_rule("TRUE OR " * (MAX_LENGTH // 8) + "TRUE")
    hundred = " OR ".join(f"ALARM(a{i})" for i in range(100))
    assert len(referenced_alarms(parse_rule(hundred))) == 100
    assert len(referenced_alarms(parse_rule(hundred + " OR ALARM(a0)"))) == 100  # same child twice
    with pytest.raises(RuleError, match="more than 100 alarms"):
        parse_rule(hundred + " OR ALARM(a100)")
    five_hundred = " OR ".join(["TRUE"] * 250 + ["(FALSE)"] * 125)
    assert isinstance(parse_rule(five_hundred), Or)
    with pytest.raises(RuleError, match="501 elements; the limit is 500"):
        parse_rule(five_hundred + " OR TRUE")


def test_deep_nesting_does_not_exhaust_the_stack() -> None:
    depth = 240
    text = (
        "".join(f"ALARM(a{i % 90}) {'AND' if i % 2 else 'OR'} (" for i in range(depth)) + "TRUE" + ")" * depth
    )
    assert len(text) <= MAX_LENGTH
    rule = parse_rule(text)
    assert evaluate_rule(rule, {f"a{i}": A for i in range(90)}) is True
    nots = "NOT " * 2000 + "ALARM(a)"
    assert parse_rule(nots) == StateIs(A, "a")
