"""Compiling expressions to SQL, for filters, report conditions and rollups.

The same trees that :mod:`metacrm.metadata.expressions` evaluates in Python become
SQLAlchemy clauses here, with the same blank rules (a blank is never equal to a value, `!=`
keeps blanks). Identifiers come only from the model; values are always bound parameters.
Paths through lookups (`account.industry`) become LEFT OUTER JOINs, one per lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Table,
    and_,
    bindparam,
    case,
    extract,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY

from ..metadata.expressions import (
    Binary,
    Call,
    Clock,
    EvalError,
    Expression,
    ListOf,
    Literal,
    Name,
    Node,
    Unary,
    evaluate,
    walk,
)
from ..metadata.model import AppModel, FieldDef
from .coerce import Invalid, filter_value
from .errors import BadRequest
from .text import like_escape


class Joins:
    """The tables a query reads: the object's table and one alias per lookup path.

    `visible` and `restrict` make the joins those of one user: a field they may not read is
    no field at all, and a lookup's target joins only the records they may read (a
    condition on the alias, in the join's ON clause), so the fields of a record outside
    their scope read as blank, in a filter, a sort, a report group or a measure alike."""

    def __init__(self, model: AppModel, tables: Callable[[str], Table], object_name: str, *,
                 visible: Callable[[str, str], bool] | None = None,
                 restrict: Callable[[str, FromClause], ColumnElement[bool] | None]
                 | None = None):
        self.model = model
        self.visible = visible  # (object, field) -> may the user read it? None: everything
        self.restrict = restrict  # (object, its alias) -> the rows the user may read
        self.tables = tables
        self.object = object_name
        self.base = tables(object_name)
        self.joined: dict[tuple[str, ...], tuple[FromClause, str]] = {}
        self.order: list[tuple[FromClause, ColumnElement[bool]]] = []

    def column(self, path: tuple[str, ...]) -> tuple[ColumnElement[Any], FieldDef]:
        """The column at the end of `path` and its field, joining lookups on the way."""
        table: FromClause = self.base
        obj_name = self.object
        for i, part in enumerate(path):
            obj = self.model.objects[obj_name]
            fdef = obj.fields.get(part)
            if fdef is not None and self.visible is not None and not self.visible(obj_name, part):
                fdef = None  # a field the user may not read is, to them, no field at all
            if fdef is None:
                raise BadRequest(f"unknown field '{'.'.join(path[:i + 1])}' on {obj_name}")
            if i == len(path) - 1:
                return table.c[part], fdef
            if fdef.type != "lookup":
                raise BadRequest(f"'{part}' is not a lookup, so '{'.'.join(path)}' cannot "
                                 "follow it")
            key = path[: i + 1]
            if key not in self.joined:
                target = self.tables(fdef.to or "").alias(f"j{len(self.joined) + 1}")
                self.joined[key] = (target, fdef.to or "")
                on = target.c.id == table.c[part]
                allowed = self.restrict(fdef.to or "", target) if self.restrict else None
                self.order.append((target, on if allowed is None else and_(on, allowed)))
            table, obj_name = self.joined[key]
        raise BadRequest("an empty field path")

    def select_from(self) -> FromClause:
        result: FromClause = self.base
        for target, on in self.order:
            result = result.outerjoin(target, on)
        return result


class SqlCompiler:
    def __init__(self, joins: Joins, *, today: date, now: datetime, tz: ZoneInfo | None = None):
        self.joins = joins
        self.today = today
        self.now = now
        self.tz = tz or ZoneInfo(joins.model.timezone)

    def condition(self, expression: Expression | Node) -> ColumnElement[bool]:
        node = expression.root if isinstance(expression, Expression) else expression
        return self._condition(node)

    def _condition(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Binary) and node.op == "and":
            return and_(self._condition(node.left), self._condition(node.right))
        if isinstance(node, Binary) and node.op == "or":
            return or_(self._condition(node.left), self._condition(node.right))
        if isinstance(node, Unary) and node.op == "not":
            # SQL's NOT keeps NULL as NULL (so the row is dropped); ours is two-valued
            return not_(func.coalesce(self._condition(node.operand), false()))
        if isinstance(node, Literal):
            return true() if node.value else false()
        if isinstance(node, Name):
            column, fdef = self.joins.column(node.path)
            if fdef.kind.value == "checkbox":
                return column.is_(True)
            return not_(self._blank(column, fdef))
        if isinstance(node, Binary) and node.op in ("==", "!=", "<", "<=", ">", ">=", "in",
                                                    "not in"):
            return self._comparison(node)
        if isinstance(node, Call) and node.func in ("is_blank", "contains", "starts_with"):
            return self._predicate(node)
        value = self._value(node)
        return value.is_(True) if isinstance(value.type, Boolean) else value.is_not(None)

    def _blank(self, column: ColumnElement[Any], fdef: FieldDef | None) -> ColumnElement[bool]:
        if fdef is not None and fdef.kind.is_text:
            return or_(column.is_(None), column == "")
        return column.is_(None)

    def _predicate(self, node: Call) -> ColumnElement[bool]:
        if node.func == "is_blank":
            arg = node.args[0]
            if isinstance(arg, Name):
                column, fdef = self.joins.column(arg.path)
                return self._blank(column, fdef)
            return self._value(arg).is_(None)
        subject = self._value(node.args[0])
        needle = node.args[1]
        if not isinstance(needle, Literal):
            raise BadRequest(f"{node.func}() in a filter needs a fixed text to look for")
        text = like_escape(str(needle.value).lower())
        pattern = f"%{text}%" if node.func == "contains" else f"{text}%"
        return func.lower(subject).like(pattern, escape="\\")

    def _comparison(self, node: Binary) -> ColumnElement[bool]:
        op = node.op
        if op in ("in", "not in"):
            if not isinstance(node.right, ListOf):
                raise BadRequest("'in' in a filter needs a list of values, e.g. "
                                 "stage in ['won', 'lost']")
            left = self._value(node.left)
            fdef = self._field_of(node.left)
            values = [self._typed(fdef, self._literal(item)) for item in node.right.items]
            found = left.in_(values) if values else false()
            if op == "in":
                return found
            return or_(not_(found), left.is_(None)) if values else true()
        left, right = node.left, node.right
        if isinstance(left, Literal) and not isinstance(right, Literal):
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return self._comparison(Binary(flipped, right, left, node.pos))
        lhs = self._value(left)
        if isinstance(right, Literal) and right.value is None or (
                isinstance(right, Literal) and right.value == "" and op in ("==", "!=")):
            fdef = self.joins.column(left.path)[1] if isinstance(left, Name) else None
            blank = self._blank(lhs, fdef)
            return blank if op == "==" else not_(blank)
        fdef = self._field_of(left)
        rhs = (literal(self._typed(fdef, right.value), type_=lhs.type)
               if isinstance(right, Literal) and fdef is not None else self._value(right))
        if op == "==":
            return lhs == rhs
        if op == "!=":
            return or_(lhs != rhs, lhs.is_(None))
        return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs}[op]

    def _field_of(self, node: Node) -> FieldDef | None:
        return self.joins.column(node.path)[1] if isinstance(node, Name) else None

    def _typed(self, fdef: FieldDef | None, value: Any) -> Any:
        """A literal compared with a field, brought to the field's type ('2000-01-01' is a
        date next to a date field); a value that cannot be is a clear BadRequest."""
        if fdef is None or value is None:
            return value
        try:
            return filter_value(fdef, value, self.tz)
        except Invalid as exc:
            raise BadRequest(f"{fdef.name}: {exc.message}") from None

    def _literal(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Call) and node.func == "today":
            return self.today
        if isinstance(node, Call) and node.func == "now":
            return self.now
        raise BadRequest("a list in a filter holds fixed values only")

    def _value(self, node: Node) -> ColumnElement[Any]:
        if isinstance(node, Literal):
            return literal(node.value) if node.value is not None else null()
        if isinstance(node, Name):
            return self.joins.column(node.path)[0]
        if isinstance(node, Unary) and node.op == "-":
            return -self._value(node.operand)
        if isinstance(node, Binary) and node.op in ("+", "-", "*", "/", "%"):
            left, right = self._value(node.left), self._value(node.right)
            return {"+": left + right, "-": left - right, "*": left * right,
                    "/": left / right, "%": left % right}[node.op]
        if isinstance(node, Call):
            return self._call(node)
        return case((self._condition(node), True), else_=False)

    def _call(self, node: Call) -> ColumnElement[Any]:
        name = node.func
        if name == "today":
            return literal(self.today)
        if name == "now":
            return literal(self.now)
        if name in ("lower", "upper", "len"):
            fn = {"lower": func.lower, "upper": func.upper, "len": func.length}[name]
            return fn(self._value(node.args[0]))
        if name == "round":
            args = [self._value(a) for a in node.args]
            return func.round(*args)
        if name == "concat":
            parts = [func.coalesce(self._value(a), "") for a in node.args]
            result = parts[0]
            for part in parts[1:]:
                result = result.concat(part)
            return result
        if name == "if":
            cond, then, other = node.args
            return case((self._condition(cond), self._value(then)), else_=self._value(other))
        if name in ("is_blank", "contains", "starts_with"):
            return case((self._predicate(node), True), else_=False)
        if name in ("year", "month", "day"):
            return extract(name, self._value(node.args[0]))
        if not any(isinstance(n, Name) for n in walk(node)):  # add_days(today(), 30): a value
            try:
                return literal(evaluate(node, Clock(self.today, self.now,
                                                    self.joins.model.locale)))
            except EvalError as exc:
                raise BadRequest(f"{name}(): {exc}") from None
        raise BadRequest(f"{name}() cannot be used in a filter or report condition; use it in "
                         "a formula field and filter on that field")


def keyed_select(table: Any, columns: list[Any], key: list[str], keys: list[tuple[Any, ...]],
                 dialect: str) -> Any:
    """SELECT `columns` FROM `table` WHERE (key fields) is one of `keys` (tuples of values).

    PostgreSQL gets the keys as one array per field, joined through unnest(): a statement
    of the same text whatever the number of keys, answered by an index probe per key. A
    list of hundreds of parameters (`IN (...)`) is parsed anew each time and, with ORs of
    row values, may be tested row by row over the whole table."""
    if dialect == "postgresql":
        names = [f"k{i}" for i in range(len(key))]
        wanted = func.unnest(*(
            bindparam(f"key_{name}", [k[i] for k in keys], type_=ARRAY(table.c[field].type))
            for i, (name, field) in enumerate(zip(names, key, strict=True)))
        ).table_valued(*names).render_derived()
        on = and_(*(table.c[field] == wanted.c[name]
                    for name, field in zip(names, key, strict=True)))
        return select(*columns).select_from(table.join(wanted, on))
    if len(key) == 1:
        return select(*columns).where(table.c[key[0]].in_([k[0] for k in keys]))
    return select(*columns).where(tuple_(*(table.c[f] for f in key)).in_(keys))
