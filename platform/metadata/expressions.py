"""The one small expression language of MetaCRM.

Formulas, validation rules, workflow conditions, computed action values and report filters
are all written in it::

    years_between(birthdate, today())
    is_blank(email) and is_blank(phone)
    status == 'connected' and changed('status')
    amount * probability / 100

An expression is parsed once, at load time, into a tree of frozen nodes; :func:`check` then
names every unknown field or function. Evaluation walks the tree (:func:`evaluate`); Python's
``eval`` is never used, so an expression reaches nothing but the functions listed in
:data:`FUNCTIONS`. The engine also compiles the same trees to SQL for filters.

Blank values propagate: arithmetic with a blank gives blank, a comparison with a blank is
false (except ``==``/``!=`` against another blank). A date plus a number adds days; a date
minus a date is a number of days.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Protocol

from .problems import did_you_mean, known

# --- tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any
    pos: int = 0


@dataclass(frozen=True)
class Name:
    """A field, or a path through lookups: `account.industry` is ("account", "industry")."""

    path: tuple[str, ...]
    pos: int = 0


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    pos: int = 0


@dataclass(frozen=True)
class Unary:
    op: str  # "not" | "-"
    operand: Node
    pos: int = 0


@dataclass(frozen=True)
class Binary:
    op: str  # "or" "and" "==" "!=" "<" "<=" ">" ">=" "in" "not in" "+" "-" "*" "/" "%"
    left: Node
    right: Node
    pos: int = 0


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]
    pos: int = 0


Node = Literal | Name | Call | Unary | Binary | ListOf


@dataclass(frozen=True)
class Expression:
    """A parsed expression and the text it came from."""

    source: str
    root: Node

    def __str__(self) -> str:
        return self.source

    def names(self) -> list[Name]:
        return [n for n in walk(self.root) if isinstance(n, Name)]

    def calls(self) -> list[Call]:
        return [n for n in walk(self.root) if isinstance(n, Call)]


def walk(node: Node):
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg)
    elif isinstance(node, Unary):
        yield from walk(node.operand)
    elif isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, ListOf):
        for item in node.items:
            yield from walk(item)


class ExpressionError(Exception):
    """A syntax or reference error in an expression, at character `pos`."""

    def __init__(self, message: str, pos: int = 0):
        self.message = message
        self.pos = pos
        super().__init__(message)


class EvalError(Exception):
    """An expression that cannot be computed for this record ('abc' * 2, ...)."""


# --- parsing -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|,|\.|\[|\]|=)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            if text[pos] in "'\"":
                raise ExpressionError("a text in quotes is not closed", pos)
            raise ExpressionError(f"unexpected character '{text[pos]}'", pos)
        kind = match.lastgroup or ""
        if kind != "space":
            value = match.group()
            if kind == "name" and value in _KEYWORDS:
                kind = "keyword"
            out.append((kind, value, pos))
        pos = match.end()
    out.append(("end", "", len(text)))
    return out


MAX_DEPTH = 40  # nested parentheses, calls, lists and not/minus signs
MAX_OPERATORS = 400  # and, or, comparisons and arithmetic in one expression
MAX_TREE = 120  # levels of the parsed tree (a + b + c ... nests one level per operator)


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0
        self.operators = 0

    def deeper(self, pos: int) -> None:
        """One level further in; expressions stay small enough to compile and evaluate
        without running out of stack (a filter of 5,000 nested parentheses)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests too deeply (at most {MAX_DEPTH} "
                                  "levels)", pos)

    def operator(self, pos: int) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise ExpressionError(f"the expression is too long (at most {MAX_OPERATORS} "
                                  "operators); for many values use `field in [a, b, ...]`",
                                  pos)

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, value: str) -> bool:
        kind, text, _ = self.peek()
        if kind in ("op", "keyword") and text == value:
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            kind, text, pos = self.peek()
            found = "the end" if kind == "end" else f"'{text}'"
            raise ExpressionError(f"expected '{value}' but found {found}", pos)

    def parse(self) -> Node:
        node = self.or_expr()
        kind, text, pos = self.peek()
        if kind != "end":
            if text == "=":
                raise ExpressionError("use '==' to compare, not '='", pos)
            raise ExpressionError(f"unexpected '{text}'", pos)
        return node

    def or_expr(self) -> Node:
        self.deeper(self.peek()[2])
        node = self.and_expr()
        while True:
            pos = self.peek()[2]
            if not self.accept("or"):
                self.depth -= 1
                return node
            self.operator(pos)
            node = Binary("or", node, self.and_expr(), pos)

    def and_expr(self) -> Node:
        node = self.not_expr()
        while True:
            pos = self.peek()[2]
            if not self.accept("and"):
                return node
            self.operator(pos)
            node = Binary("and", node, self.not_expr(), pos)

    def not_expr(self) -> Node:
        pos = self.peek()[2]
        if self.accept("not"):
            self.deeper(pos)
            node = Unary("not", self.not_expr(), pos)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        kind, text, pos = self.peek()
        if kind == "op" and text in _COMPARISONS:
            self.take()
            self.operator(pos)
            return Binary(text, left, self.additive(), pos)
        if kind == "op" and text == "=":
            raise ExpressionError("use '==' to compare, not '='", pos)
        if self.accept("in"):
            return Binary("in", left, self.additive(), pos)
        if kind == "keyword" and text == "not" and self.tokens[self.i + 1][1] == "in":
            self.i += 2
            return Binary("not in", left, self.additive(), pos)
        return left

    def additive(self) -> Node:
        node = self.term()
        while True:
            kind, text, pos = self.peek()
            if kind == "op" and text in ("+", "-"):
                self.take()
                self.operator(pos)
                node = Binary(text, node, self.term(), pos)
            else:
                return node

    def term(self) -> Node:
        node = self.unary()
        while True:
            kind, text, pos = self.peek()
            if kind == "op" and text in ("*", "/", "%"):
                self.take()
                self.operator(pos)
                node = Binary(text, node, self.unary(), pos)
            else:
                return node

    def unary(self) -> Node:
        pos = self.peek()[2]
        if self.accept("-"):
            self.deeper(pos)
            node = Unary("-", self.unary(), pos)
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        kind, text, pos = self.take()
        if kind == "number":
            return Literal(Decimal(text) if "." in text else int(text), pos)
        if kind == "string":
            return Literal(_unquote(text), pos)
        if kind == "keyword" and text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[text], pos)
        if kind == "name":
            if self.accept("("):
                args: list[Node] = []
                if not self.accept(")"):
                    args.append(self.or_expr())
                    while self.accept(","):
                        args.append(self.or_expr())
                    self.expect(")")
                return Call(text, tuple(args), pos)
            path = [text]
            while self.accept("."):
                kind2, text2, pos2 = self.take()
                if kind2 != "name":
                    raise ExpressionError("expected a field name after '.'", pos2)
                path.append(text2)
            return Name(tuple(path), pos)
        if kind == "op" and text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if kind == "op" and text == "[":
            items: list[Node] = []
            if not self.accept("]"):
                items.append(self.or_expr())
                while self.accept(","):
                    items.append(self.or_expr())
                self.expect("]")
            return ListOf(tuple(items), pos)
        if kind == "end":
            raise ExpressionError("the expression ends too early", pos)
        raise ExpressionError(f"unexpected '{text}'", pos)


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse(text: str) -> Expression:
    """Parse `text`; raises :class:`ExpressionError` with the character position."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty", 0)
    root = _Parser(text).parse()
    if _tree_depth(root) > MAX_TREE:
        raise ExpressionError(f"the expression is too long (more than {MAX_TREE} levels); "
                              "for many values use `field in [a, b, ...]`", 0)
    return Expression(text, root)


@lru_cache(maxsize=512)
def parse_once(text: str) -> Expression:
    """`parse`, remembered: for the templates and defaults evaluated on every save."""
    return parse(text)


def _tree_depth(root: Node) -> int:
    """How deep the tree goes, counted without recursion (it may be deep)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Call):
            stack.extend((arg, depth + 1) for arg in node.args)
        elif isinstance(node, Unary):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, Binary):
            stack.extend(((node.left, depth + 1), (node.right, depth + 1)))
        elif isinstance(node, ListOf):
            stack.extend((item, depth + 1) for item in node.items)
    return deepest


# --- functions -----------------------------------------------------------------------------


class Env(Protocol):
    """What an evaluation can see: the record's values and the clock."""

    def value(self, path: tuple[str, ...]) -> Any: ...
    def today(self) -> date: ...
    def now(self) -> datetime: ...
    def changed(self, field: str) -> bool: ...
    def previous(self, field: str) -> Any: ...
    def language(self) -> str: ...  # the app's language: how format_number writes


class Clock:
    """What a value with no record sees (a data file's `=today()`, a filter's fixed
    `add_days(today(), 7)`): the clock and the language; a field is an error."""

    def __init__(self, today: date, now: datetime, language: str = "en"):
        self._today, self._now, self._language = today, now, language

    def value(self, path: tuple[str, ...]) -> Any:
        raise EvalError(f"'{'.'.join(path)}' cannot be read here: no record")

    def today(self) -> date:
        return self._today

    def now(self) -> datetime:
        return self._now

    def changed(self, field: str) -> bool:
        return False

    def previous(self, field: str) -> Any:
        return None

    def language(self) -> str:
        return self._language


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise EvalError(f"'{value}' is not a date")


def _days_between(a: Any, b: Any) -> int | None:
    a, b = _as_date(a), _as_date(b)
    return None if a is None or b is None else (b - a).days


def _years_between(a: Any, b: Any) -> int | None:
    a, b = _as_date(a), _as_date(b)
    if a is None or b is None:
        return None
    years = b.year - a.year
    if (b.month, b.day) < (a.month, a.day):
        years -= 1
    return years


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(_text(v) for v in value)
    return str(value)


def _round(value: Any, digits: Any = 0) -> Any:
    if value is None:
        return None
    number = _number(value)
    quantum = Decimal(1).scaleb(-int(digits))
    result = Decimal(number).quantize(quantum, rounding="ROUND_HALF_UP")
    return int(result) if int(digits) <= 0 else result


def _number(value: Any) -> int | Decimal:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    raise EvalError(f"'{value}' is not a number")


def _lower(s: Any) -> str | None:
    return None if s is None else _text(s).lower()


def _upper(s: Any) -> str | None:
    return None if s is None else _text(s).upper()


def _contains(s: Any, part: Any) -> bool:
    if s is None or part is None:
        return False
    if isinstance(s, (list, tuple)):
        return part in s
    return _text(part).lower() in _text(s).lower()


def _starts_with(s: Any, prefix: Any) -> bool:
    if s is None or prefix is None:
        return False
    return _text(s).lower().startswith(_text(prefix).lower())


def _whole(value: Any, what: str) -> int:
    number = _number(value)
    if number != int(number):
        raise EvalError(f"{what} must be a whole number, not '{value}'")
    return int(number)


def _add_months(value: Any, months: Any) -> date | None:
    """The same day `months` later; the 31st becomes the month's last day (31/01 + 1 month
    is 28/02 or 29/02), as people count instalments."""
    day = _as_date(value)
    if day is None or months is None:
        return None
    index = day.year * 12 + day.month - 1 + _whole(months, "a number of months")
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise EvalError(f"{value} plus {months} months is past the calendar")
    last = calendar.monthrange(year, month + 1)[1]
    moved = day.replace(year=year, month=month + 1, day=min(day.day, last))
    return moved if not isinstance(value, datetime) else value.replace(
        year=moved.year, month=moved.month, day=moved.day)


def _add_days(value: Any, days: Any) -> date | None:
    if value is None or days is None:
        return None
    start = value if isinstance(value, date) else _as_date(value)
    try:
        return start + timedelta(days=_whole(days, "a number of days"))
    except OverflowError:
        raise EvalError(f"{value} plus {days} days is past the calendar") from None


def _date_part(part: str) -> Callable[[Any], int | None]:
    def take(value: Any) -> int | None:
        day = _as_date(value)
        if day is None:
            return None
        return day.isoweekday() if part == "weekday" else getattr(day, part)
    return take


def _month_edge(end: bool) -> Callable[[Any], date | None]:
    def edge(value: Any) -> date | None:
        day = _as_date(value)
        if day is None:
            return None
        return day.replace(day=calendar.monthrange(day.year, day.month)[1] if end else 1)
    return edge


def _left(s: Any, count: Any) -> str | None:
    return None if s is None else _text(s)[:max(0, _whole(count, "a length"))]


def _right(s: Any, count: Any) -> str | None:
    n = max(0, _whole(0 if count is None else count, "a length"))
    return None if s is None else (_text(s)[-n:] if n else "")


def format_number(value: Any, digits: Any, language: str) -> str | None:
    """`value` grouped as `language` writes it: 1.234.567,5 in Vietnamese, 1,234,567.5 in
    English."""
    if value is None:
        return None
    scale = _whole(digits, "a number of decimals")
    number = Decimal(_number(value)).quantize(Decimal(1).scaleb(-scale),
                                              rounding="ROUND_HALF_UP")
    text = f"{number:,.{scale}f}"
    if language == "vi":
        text = text.translate(str.maketrans(",.", ".,"))
    return text


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int | None
    impl: Callable[..., Any] | None  # None: needs the environment (evaluated specially)
    help: str = ""


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("today", 0, 0, None, "today's date in the app's time zone"),
        Function("now", 0, 0, None, "the current date and time"),
        Function("days_between", 2, 2, _days_between, "days from a to b"),
        Function("years_between", 2, 2, _years_between, "whole years from a to b"),
        Function("is_blank", 1, 1, is_blank, "true when x has no value"),
        Function("if", 3, 3, None, "b when c is true, else the third value"),
        Function("lower", 1, 1, _lower),
        Function("upper", 1, 1, _upper),
        Function("concat", 1, None, lambda *a: "".join(_text(v) for v in a)),
        Function("len", 1, 1, lambda s: 0 if s is None else len(s if isinstance(s, list)
                                                                 else _text(s))),
        Function("round", 1, 2, _round),
        Function("changed", 1, 1, None, "true when the field changes in this save"),
        Function("previous", 1, 1, None, "the field's value before this save"),
        Function("contains", 2, 2, _contains, "true when text a contains b (any case)"),
        Function("starts_with", 2, 2, _starts_with, "true when text a starts with b"),
        Function("add_days", 2, 2, _add_days, "the date n days later (n < 0: earlier)"),
        Function("add_months", 2, 2, _add_months,
                 "the same day n months later (31/01 + 1 month: the end of February)"),
        Function("add_years", 2, 2, lambda d, n: _add_months(
            d, None if n is None else _whole(n, "a number of years") * 12),
            "the same day n years later (29/02 + 1 year: 28/02)"),
        Function("start_of_month", 1, 1, _month_edge(False), "the first day of d's month"),
        Function("end_of_month", 1, 1, _month_edge(True), "the last day of d's month"),
        Function("year", 1, 1, _date_part("year"), "the year of a date"),
        Function("month", 1, 1, _date_part("month"), "the month of a date, 1 to 12"),
        Function("day", 1, 1, _date_part("day"), "the day of the month, 1 to 31"),
        Function("weekday", 1, 1, _date_part("weekday"),
                 "the day of the week: 1 Monday (Thứ Hai) ... 7 Sunday (Chủ Nhật)"),
        Function("left", 2, 2, _left, "the first n characters of a text"),
        Function("right", 2, 2, _right, "the last n characters of a text"),
        Function("format_number", 1, 2, None,
                 "a number grouped as the app's language writes it, with d decimals"),
    ]
}
FIELD_NAME_ARG = {"changed", "previous"}


# --- evaluation ----------------------------------------------------------------------------


def evaluate(expression: Expression | Node, env: Env) -> Any:
    """The value of `expression` for the record `env` shows."""
    node = expression.root if isinstance(expression, Expression) else expression
    return _eval(node, env)


def truthy(value: Any) -> bool:
    return not is_blank(value) and value is not False and value != 0


def _eval(node: Node, env: Env) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return env.value(node.path)
    if isinstance(node, ListOf):
        return [_eval(item, env) for item in node.items]
    if isinstance(node, Unary):
        value = _eval(node.operand, env)
        if node.op == "not":
            return not truthy(value)
        return None if value is None else -_number(value)
    if isinstance(node, Call):
        return _call(node, env)
    if node.op == "and":
        return truthy(_eval(node.left, env)) and truthy(_eval(node.right, env))
    if node.op == "or":
        return truthy(_eval(node.left, env)) or truthy(_eval(node.right, env))
    return binary(node.op, _eval(node.left, env), _eval(node.right, env))


def _call(node: Call, env: Env) -> Any:
    name = node.func
    if name == "today":
        return env.today()
    if name == "now":
        return env.now()
    if name == "if":
        cond, then, other = node.args
        return _eval(then, env) if truthy(_eval(cond, env)) else _eval(other, env)
    if name == "format_number":
        digits = _eval(node.args[1], env) if len(node.args) > 1 else 0
        return format_number(_eval(node.args[0], env), digits, env.language())
    if name in FIELD_NAME_ARG:
        field = _eval(node.args[0], env)
        return env.changed(field) if name == "changed" else env.previous(field)
    impl = FUNCTIONS[name].impl
    assert impl is not None
    return impl(*(_eval(arg, env) for arg in node.args))


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two values to one type for comparing: dates with ISO strings, numbers."""
    if isinstance(a, datetime) and not isinstance(b, datetime):
        if isinstance(b, date):
            return a.date(), b
        if isinstance(b, str):
            try:
                return a, datetime.fromisoformat(b).replace(tzinfo=a.tzinfo)
            except ValueError:
                pass
    if isinstance(b, datetime) and not isinstance(a, datetime):
        y, x = _comparable(b, a)
        return x, y
    if isinstance(a, date) and isinstance(b, str):
        return a, _as_date(b)
    if isinstance(b, date) and isinstance(a, str):
        return _as_date(a), b
    if isinstance(a, (int, Decimal, float)) and not isinstance(a, bool) and isinstance(b, str):
        return _number(a), _number(b)
    if isinstance(b, (int, Decimal, float)) and not isinstance(b, bool) and isinstance(a, str):
        return _number(a), _number(b)
    if isinstance(a, float) or isinstance(b, float):
        return _number(a), _number(b)
    return a, b


def binary(op: str, a: Any, b: Any) -> Any:
    """Apply a binary operator with MetaCRM's blank and date rules."""
    if op in ("==", "!="):
        if a is None or b is None:
            equal = is_blank(a) and is_blank(b)
        else:
            x, y = _comparable(a, b)
            equal = x == y
        return equal if op == "==" else not equal
    if op in ("<", "<=", ">", ">="):
        if a is None or b is None:
            return False
        x, y = _comparable(a, b)
        try:
            if op == "<":
                return x < y
            if op == "<=":
                return x <= y
            if op == ">":
                return x > y
            return x >= y
        except TypeError as exc:
            raise EvalError(f"cannot compare '{a}' with '{b}'") from exc
    if op in ("in", "not in"):
        if b is None:
            found = False
        elif isinstance(b, (list, tuple)):
            found = any(binary("==", a, item) for item in b)
        else:
            found = a is not None and _text(a).lower() in _text(b).lower()
        return found if op == "in" else not found
    if a is None or b is None:
        return None
    return _arithmetic(op, a, b)


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        if isinstance(a, str) or isinstance(b, str):
            return _text(a) + _text(b)
        if isinstance(a, date) and not isinstance(b, date):
            return a + timedelta(days=float(_number(b)))
        if isinstance(b, date) and not isinstance(a, date):
            return b + timedelta(days=float(_number(a)))
    if op == "-":
        if isinstance(a, date) and isinstance(b, date):
            if isinstance(a, datetime) != isinstance(b, datetime):
                a, b = _as_date(a), _as_date(b)
            delta = a - b
            return delta.days if not isinstance(a, datetime) else Decimal(
                delta.total_seconds()) / 86400
        if isinstance(a, date):
            return a - timedelta(days=float(_number(b)))
    x, y = _number(a), _number(b)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        return None
    if op == "/":
        result = Decimal(x) / Decimal(y)
        return int(result) if result == result.to_integral_value() else result
    return x % y


# --- checking ------------------------------------------------------------------------------


class Scope(Protocol):
    """What names an expression may use: resolve a field path or say why not."""

    def resolve(self, path: Sequence[str]) -> str | None: ...  # an error message, or None

    def has_field(self, name: str) -> bool: ...


def check(expression: Expression, scope: Scope) -> list[ExpressionError]:
    """Every unknown field or function and every wrong argument count in `expression`."""
    errors: list[ExpressionError] = []
    for node in walk(expression.root):
        if isinstance(node, Name):
            message = scope.resolve(node.path)
            if message:
                errors.append(ExpressionError(message, node.pos))
        elif isinstance(node, Call):
            func = FUNCTIONS.get(node.func)
            if func is None:
                hint = did_you_mean(node.func, FUNCTIONS) or f" (known: {known(FUNCTIONS, 20)})"
                errors.append(ExpressionError(f"unknown function '{node.func}'{hint}", node.pos))
                continue
            count = len(node.args)
            if count < func.min_args or (func.max_args is not None and count > func.max_args):
                errors.append(ExpressionError(_arity_message(func, count), node.pos))
                continue
            if node.func in FIELD_NAME_ARG:
                arg = node.args[0]
                if not isinstance(arg, Literal) or not isinstance(arg.value, str):
                    errors.append(ExpressionError(
                        f"{node.func}() takes a field name in quotes, e.g. {node.func}('status')",
                        node.pos))
                elif not scope.has_field(arg.value):
                    errors.append(ExpressionError(
                        f"{node.func}('{arg.value}'): unknown field '{arg.value}'", node.pos))
    return errors


def _arity_message(func: Function, count: int) -> str:
    if func.max_args is None:
        wanted = f"at least {func.min_args}"
    elif func.min_args == func.max_args:
        wanted = str(func.min_args)
    else:
        wanted = f"{func.min_args} to {func.max_args}"
    plural = "" if wanted == "1" else "s"
    return f"{func.name}() takes {wanted} argument{plural}, not {count}"
