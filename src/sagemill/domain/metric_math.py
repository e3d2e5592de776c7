"""CloudWatch metric math: parse an expression once, then evaluate it over the other queries' results.

Grammar (lowest precedence first): ``OR``/``||``, ``AND``/``&&``, prefix ``NOT``/``!``, comparisons
(``== != < <= > >=``), ``+ -``, ``* /``, unary ``-``, ``^`` (right-associative, so ``-2^2`` is -4 and
``2^-1`` is 0.5), then numbers, ids, ``"strings"``, ``(...)``, ``[a, b]`` arrays and ``NAME(args)`` calls.
As in CloudWatch, ids start with a lowercase letter and functions are written in uppercase.

Alignment and missing data are described in ``metric_math_series``; the functions and our choices where the
user guide is silent in ``metric_math_functions``. A scalar result is returned as is: whether a query may end
in a scalar is the caller's rule.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from sagemill.domain.metric_math_functions import FUNCTIONS
from sagemill.domain.metric_math_series import (
    BINARY,
    Context,
    MathError,
    Operand,
    TimeSeries,
    Value,
    Word,
    combine,
    map_points,
    truth,
)

__all__ = [
    "Expression",
    "MathError",
    "TimeSeries",
    "Value",
    "evaluate",
    "is_scalar",
    "parse",
    "referenced_ids",
    "uses_metrics_function",
]

# Uppercase words that may stand alone as arguments: FILL's and SORT's options.
KEYWORDS = frozenset({"REPEAT", "LINEAR", "ASC", "DESC", "AVG", "MIN", "MAX", "SUM"})
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    pos: int = 0


@dataclass(frozen=True, slots=True)
class String:
    text: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Ref:
    id: str
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "NOT"
    operand: Expression
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # a key of BINARY; && and || are stored as AND and OR
    left: Expression
    right: Expression
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Array:
    items: tuple[Expression, ...]
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expression, ...]
    pos: int = 0


Expression = Number | String | Keyword | Ref | Unary | Binary | Array | Call


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "id", "name", "op", "end"
    text: str
    pos: int  # 1-based column


_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<string>"[^"]*"|'[^']*'|“[^”]*”)
    |(?P<word>[A-Za-z][A-Za-z0-9_]*)
    |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^()\[\],<>!])""",
    re.VERBOSE,
)


def _tokens(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise MathError(f"Syntax error at column {pos + 1}: unexpected character {text[pos]!r}.", pos + 1)
        kind, lexeme = match.lastgroup or "", match.group()
        if kind == "word":
            kind = "id" if lexeme[0].islower() else "name"
        elif kind == "string":
            lexeme = lexeme[1:-1]
        if kind != "space":
            yield _Token(kind, lexeme, pos + 1)
        pos = match.end()
    yield _Token("end", "", len(text) + 1)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, *texts: str) -> _Token | None:
        token = self.peek()
        if token.kind in ("op", "name") and token.text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> _Token:
        token = self.accept(text)
        if token is None:
            raise self.error(self.peek(), f"expected '{text}'")
        return token

    def error(self, token: _Token, detail: str) -> MathError:
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return MathError(f"Syntax error at column {token.pos}: {detail}, found {found}.", token.pos)

    def parse(self) -> Expression:
        if self.peek().kind == "end":
            raise self.error(self.peek(), "expected an expression")
        node = self.or_()
        if self.peek().kind != "end":
            raise self.error(self.peek(), "expected an operator")
        return node

    def or_(self) -> Expression:
        node = self.and_()
        while op := self.accept("OR", "||"):
            node = Binary("OR", node, self.and_(), op.pos)
        return node

    def and_(self) -> Expression:
        node = self.not_()
        while op := self.accept("AND", "&&"):
            node = Binary("AND", node, self.not_(), op.pos)
        return node

    def not_(self) -> Expression:
        if op := self.accept("NOT", "!"):
            return Unary("NOT", self.not_(), op.pos)
        return self.comparison()

    def comparison(self) -> Expression:
        node = self.additive()
        while op := self.accept(*_COMPARISONS):
            node = Binary(op.text, node, self.additive(), op.pos)
        return node

    def additive(self) -> Expression:
        node = self.multiplicative()
        while op := self.accept("+", "-"):
            node = Binary(op.text, node, self.multiplicative(), op.pos)
        return node

    def multiplicative(self) -> Expression:
        node = self.unary()
        while op := self.accept("*", "/"):
            node = Binary(op.text, node, self.unary(), op.pos)
        return node

    def unary(self) -> Expression:
        if op := self.accept("-"):
            return Unary("-", self.unary(), op.pos)
        return self.power()

    def power(self) -> Expression:
        base = self.primary()
        if op := self.accept("^"):
            return Binary("^", base, self.unary(), op.pos)
        return base

    def primary(self) -> Expression:
        token = self.take()
        if token.kind == "number":
            return Number(float(token.text), token.pos)
        if token.kind == "string":
            return String(token.text, token.pos)
        if token.kind == "op" and token.text == "(":
            node = self.or_()
            self.expect(")")
            return node
        if token.kind == "op" and token.text == "[":
            return Array(self.items("]"), token.pos)
        if token.kind == "id":
            if self.peek().kind == "op" and self.peek().text == "(":
                raise MathError(
                    f"Unknown function '{token.text}' at column {token.pos}: functions are written in "
                    "uppercase, such as SUM or FILL.",
                    token.pos,
                )
            return Ref(token.text, token.pos)
        if token.kind == "name":
            return self.named(token)
        self.i -= 1
        raise self.error(token, "expected a number, an id, a function or '('")

    def named(self, token: _Token) -> Expression:
        if not self.accept("("):
            if token.text in KEYWORDS:
                return Keyword(token.text, token.pos)
            raise MathError(
                f"Unknown name '{token.text}' at column {token.pos}: ids start with a lowercase letter.",
                token.pos,
            )
        function = FUNCTIONS.get(token.text)
        if function is None:
            raise MathError(f"Unknown function '{token.text}' at column {token.pos}.", token.pos)
        args = self.items(")", allow_empty=True)
        if not function.min_args <= len(args) <= function.max_args:
            wanted = (
                str(function.min_args)
                if function.min_args == function.max_args
                else f"{function.min_args} to {function.max_args}"
            )
            raise MathError(
                f"{token.text} at column {token.pos} takes {wanted} argument(s), not {len(args)}.", token.pos
            )
        return Call(token.text, args, token.pos)

    def items(self, close: str, allow_empty: bool = False) -> tuple[Expression, ...]:
        if allow_empty and self.accept(close):
            return ()
        found = [self.or_()]
        while self.accept(","):
            found.append(self.or_())
        self.expect(close)
        return tuple(found)


def parse(expression: str) -> Expression:
    """Parse a metric math expression; MathError with the column of the first problem."""
    return _Parser(expression).parse()


def _walk(node: Expression) -> Iterator[Expression]:
    yield node
    children: tuple[Expression, ...] = ()
    if isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Binary):
        children = (node.left, node.right)
    elif isinstance(node, Array | Call):
        children = node.items if isinstance(node, Array) else node.args
    for child in children:
        yield from _walk(child)


def referenced_ids(expression: Expression) -> set[str]:
    """The query ids the expression names (METRICS() reads others too: see uses_metrics_function)."""
    return {node.id for node in _walk(expression) if isinstance(node, Ref)}


def uses_metrics_function(expression: Expression) -> bool:
    """Whether the expression calls METRICS(), which reads every metric query of the request."""
    return any(isinstance(node, Call) and node.name == "METRICS" for node in _walk(expression))


def evaluate(
    expression: Expression,
    env: Mapping[str, TimeSeries],
    period: int,
    start: int,
    end: int,
    *,
    metric_ids: Collection[str] | None = None,
) -> Value:
    """Evaluate over ``env`` (results of the other queries by Id) for the query's period and [start, end).

    ``metric_ids`` are the ids METRICS() may return ("Math expressions aren't included"); every id of
    ``env`` when None.
    """
    ctx = Context(env, env.keys() if metric_ids is None else metric_ids, period, start, end)
    result = _eval(expression, ctx)
    if isinstance(result, Word):
        raise MathError(f"The expression must produce a time series, not the word {result.text}.")
    return result


def _eval(node: Expression, ctx: Context) -> Operand:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, String):
        return Word(node.text, quoted=True)
    if isinstance(node, Keyword):
        return Word(node.name, quoted=False)
    if isinstance(node, Ref):
        if node.id not in ctx.env:
            raise MathError(
                f"The expression uses '{node.id}', which is not the Id of another query.", node.pos
            )
        return ctx.env[node.id]
    if isinstance(node, Unary):
        operand = _operand(node.operand, ctx, node.op)
        if node.op == "-":
            return map_points(operand, lambda v: -v)
        return map_points(operand, lambda v: float(not truth(v)))
    if isinstance(node, Binary):
        left, right = _operand(node.left, ctx, node.op), _operand(node.right, ctx, node.op)
        try:
            return combine(left, right, BINARY[node.op], node.op)
        except MathError as exc:
            raise MathError(str(exc), node.pos) from None
    if isinstance(node, Array):
        return _array(node, ctx)
    try:
        return FUNCTIONS[node.name].impl(node.name, [_eval(arg, ctx) for arg in node.args], ctx)
    except MathError as exc:
        raise MathError(str(exc), exc.position or node.pos) from None


def _operand(node: Expression, ctx: Context, op: str) -> Value:
    value = _eval(node, ctx)
    if isinstance(value, Word):
        raise MathError(f"The operator {op} cannot apply to {value.text!r}.", node.pos)
    return value


def _array(node: Array, ctx: Context) -> tuple[TimeSeries, ...]:
    series: list[TimeSeries] = []
    for item in node.items:
        value = _eval(item, ctx)
        if isinstance(value, TimeSeries):
            series.append(value)
        elif isinstance(value, tuple):
            # [METRICS("4xx"), METRICS("5xx")] is one flat array.
            series.extend(value)
        else:
            raise MathError("An array holds time series only, not numbers or strings.", item.pos)
    return tuple(series)


def is_scalar(value: Value) -> bool:
    """Whether a result is a single number (CloudWatch rejects that as a query's final result)."""
    return not isinstance(value, TimeSeries | tuple)
