"""Reading lists of records: filters, sort, quick search, paging and a total count, all
compiled to SQL from the model.

    page = query.list_records(ctx, "contact", ListQuery(
        where=filters.parse_params(obj, {"city": "Huế", "age__ge": "30"}),
        search="nguyen van duc", sort=("last_name", "-created_at"), page=2, page_size=50))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from ..fieldtypes import parse_bool, sortable
from ..metadata import expressions as ex
from ..metadata.model import ObjectDef
from ..metadata.objects import ObjectScope
from .access import readable, require, scope_condition
from .coerce import Invalid, filter_value
from .errors import BadRequest
from .records import object_def
from .runtime import Context
from .search import search_condition
from .sqlexpr import Joins, SqlCompiler
from .text import like_escape, search_terms

MAX_PAGE_SIZE = 500
MAX_PAGE = 10_000_000  # 5 billion rows deep: far past any list, and inside 64 bits (the
# message below says the number)
DEFERRED_JOIN_FROM = 500  # an offset from which a page reads its ids first
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "starts_with", "is_blank")
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class ListQuery:
    where: ex.Node | ex.Expression | None = None
    search: str | None = None
    sort: tuple[str, ...] = ()
    page: int = 1
    page_size: int = 50
    with_total: bool = True
    fields: tuple[str, ...] | None = None  # only these (with id, owner, version); None: all


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int | None
    page: int
    page_size: int

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, -(-self.total // self.page_size))


# --- filters -------------------------------------------------------------------------------


def condition(ctx: Context, obj: ObjectDef, field_path: str, op: str, raw: Any) -> ex.Node:
    """One filter as an expression node: ("city", "eq", "Huế") -> city == 'Huế'."""
    if op not in OPERATORS:
        raise BadRequest(f"unknown filter operator '{op}' (operators: {', '.join(OPERATORS)})")
    path = tuple(field_path.split("."))
    scope = visible_scope(ctx, obj)
    problem = scope.resolve(path)
    if problem:
        raise BadRequest(f"cannot filter on '{field_path}': {problem}", parameter=field_path)
    fdef = ctx.model.resolve_path(obj.name, path)
    assert fdef is not None
    name = ex.Name(path)
    if op == "is_blank":
        try:
            wanted = parse_bool(raw)
        except Invalid as exc:
            raise BadRequest(f"filter {field_path}__is_blank: {exc.message}") from None
        blank = ex.Call("is_blank", (name,))
        return blank if wanted else ex.Unary("not", blank)
    if op in ("contains", "starts_with"):
        return ex.Call(op, (name, ex.Literal(str(raw))))
    if op == "in":
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        return ex.Binary("in", name, ex.ListOf(tuple(
            ex.Literal(_filter_value(ctx, fdef, field_path, op, i)) for i in items)))
    return ex.Binary(_COMPARE[op], name, ex.Literal(_filter_value(ctx, fdef, field_path, op,
                                                                   raw)))


def _filter_value(ctx: Context, fdef: Any, field_path: str, op: str, raw: Any) -> Any:
    try:
        return filter_value(fdef, raw, ctx.tz)
    except Invalid as exc:
        parameter = field_path if op == "eq" else f"{field_path}__{op}"  # as usually sent
        raise BadRequest(f"filter {parameter}: {exc.message}", parameter=parameter) from None


def parse_params(ctx: Context, obj: ObjectDef, params: Mapping[str, Any]) -> ex.Node | None:
    """Filters from query parameters: `city=Huế`, `amount__gt=100`, `stage__in=won,lost`,
    and `filter=<expression>` for anything with `or`. All are combined with and."""
    nodes: list[ex.Node] = []
    for key, raw in params.items():
        check_text(key, raw)
        if key == "filter":
            nodes.append(parse_filter_expression(ctx, obj, str(raw)).root)
            continue
        path, _, op = key.partition("__")
        nodes.append(condition(ctx, obj, path, op or "eq", raw))
    return combine(nodes)


def check_text(parameter: str, value: Any) -> None:
    """A parameter's text holds no NUL character (no database takes one in a value)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, str) and "\x00" in v for v in [parameter, *values]):
        raise BadRequest("A parameter holds a NUL character (\\x00), which is not allowed.",
                         parameter=parameter.replace("\x00", ""))


def combine(nodes: Sequence[ex.Node], op: str = "and") -> ex.Node | None:
    result: ex.Node | None = None
    for node in nodes:
        result = node if result is None else ex.Binary(op, result, node)
    return result


def visible_scope(ctx: Context, obj: ObjectDef) -> ObjectScope:
    """The names a user's filters may use: the fields their role lets them read."""
    return ObjectScope(ctx.visible_fields(), obj.name)


def parse_filter_expression(ctx: Context, obj: ObjectDef, text: str) -> ex.Expression:
    check_text("filter", text)
    try:
        parsed = ex.parse(text)
    except ex.ExpressionError as exc:
        raise BadRequest(f"filter: {exc.message} (at character {exc.pos + 1})",
                         parameter="filter") from None
    errors = ex.check(parsed, visible_scope(ctx, obj))
    if errors:
        raise BadRequest("filter: " + "; ".join(e.message for e in errors), parameter="filter")
    return parsed


# --- the list query ------------------------------------------------------------------------


def parse_sort(ctx: Context, obj: ObjectDef, sort: Sequence[str] | str | None
               ) -> tuple[str, ...]:
    """`"last_name,-created_at"` checked against the fields the user may read."""
    if not sort:
        return ()
    items = sort.split(",") if isinstance(sort, str) else list(sort)
    scope = visible_scope(ctx, obj)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        name = item.lstrip("-")
        path = tuple(name.split("."))
        problem = scope.resolve(path) if all(path) else "an empty field name"
        if problem:
            raise BadRequest(f"cannot sort by '{name}': {problem}", parameter="sort")
        fdef = ctx.model.resolve_path(obj.name, path)
        assert fdef is not None
        if not sortable(fdef.type):
            raise BadRequest(f"cannot sort by '{name}', a {fdef.type} field", parameter="sort")
        out.append(item)
    return tuple(out)


def user_joins(ctx: Context, object_name: str) -> Joins:
    """The joins of the user's queries on `object_name`: through a lookup, only the fields
    they may see of the records they may read (the others read as blank)."""
    return Joins(ctx.model, ctx.schema.table, object_name, visible=ctx.can_see,
                 restrict=lambda target, alias: readable(ctx, target, alias))


def build_select(ctx: Context, obj: ObjectDef, query: ListQuery, *, scope: str = "all"
                 ) -> tuple[Select[Any], Select[Any] | None]:
    """The page query and the count query for `query` (no SQL runs here)."""
    joins = user_joins(ctx, obj.name)
    table = joins.base
    compiler = SqlCompiler(joins, today=ctx.today(), now=ctx.now())
    where = []
    restrict = scope_condition(ctx, table, scope)
    if restrict is not None:
        where.append(restrict)
    if query.where is not None:
        where.append(compiler.condition(query.where))
    terms = search_terms(query.search)
    hidden = ctx.hidden(obj.name)
    searched: list[Any] = []  # search clauses the search index answers
    if terms:
        if not obj.search:
            raise BadRequest(f"{obj.name} has no quick-search fields", parameter="search")
        if hidden & set(obj.search):
            # the folded search text holds a field this role may not read: search only the
            # visible fields, case-insensitively
            fields = [table.c[f] for f in obj.search if f not in hidden]
            where.extend(or_(*(func.lower(c).like(f"%{like_escape(t)}%", escape="\\")
                               for c in fields)) for t in search_terms(query.search))
        else:
            searched = search_condition(ctx.db.dialect, obj, table, terms)
    order = []
    for item in parse_sort(ctx, obj, query.sort):
        column, _ = joins.column(tuple(item.lstrip("-").split(".")))
        # blanks first going up, last going down, on every database: SQLite's own order,
        # and on PostgreSQL the order of the sort indexes sync creates (ASC NULLS FIRST)
        if ctx.db.is_sqlite:  # SQLite's native order; a NULLS clause would defeat its indexes
            order.append(column.desc() if item.startswith("-") else column.asc())
        else:
            order.append(column.desc().nulls_last() if item.startswith("-")
                         else column.asc().nulls_first())
    last = table.c.id.desc() if query.sort and query.sort[-1].startswith("-") else \
        table.c.id.asc()
    if not ctx.db.is_sqlite:  # ids are never blank; the clause matches the sort indexes'
        last = last.nulls_last() if query.sort and query.sort[-1].startswith("-") else \
            last.nulls_first()
    order.append(last)
    wanted = obj.fields if query.fields is None else {
        "id", "owner", "version", *obj.title_fields,
        *(f for f in query.fields if f in obj.fields)}
    columns = [table.c[name] for name in obj.fields if name not in hidden and name in wanted]
    condition_ = and_(*where) if where else None
    source = joins.select_from()
    if searched and not ctx.db.is_sqlite:
        # PostgreSQL: let the trigram index find the hits first, then sort those. Walking a
        # sort index and filtering can read half the table when the hits cluster late in
        # that order (searching "nguyen" in a list sorted by last name).
        hits = select(table.c.id.label("hit")).where(*searched).cte("hits").prefix_with(
            "MATERIALIZED")
        source = source.join(hits, table.c.id == hits.c.hit)
    elif searched:
        where.extend(searched)
        condition_ = and_(*where)
    page = select(*columns).select_from(source)
    count = select(func.count()).select_from(joins.select_from()) if query.with_total else None
    if condition_ is not None:
        page = page.where(condition_)
    counted = [*where, *(searched if not ctx.db.is_sqlite else [])]
    if count is not None and counted:
        count = count.where(and_(*counted))
    page_size = max(1, min(query.page_size, MAX_PAGE_SIZE))
    offset = (max(1, query.page) - 1) * page_size
    if offset >= DEFERRED_JOIN_FROM and not joins.order and not ctx.db.is_sqlite \
            and not searched:
        # a deep page on PostgreSQL: find its ids first (an index-only walk, not the rows it
        # skips), then read the page's rows alone. SQLite already defers reading skipped rows.
        ids = select(table.c.id).select_from(joins.select_from())
        if condition_ is not None:
            ids = ids.where(condition_)
        wanted = ids.order_by(*order).limit(page_size).offset(offset).subquery("page_ids")
        page = (select(*columns).select_from(table.join(wanted, table.c.id == wanted.c.id))
                .order_by(*order))
        return page, count
    page = page.order_by(*order).limit(page_size).offset(offset)
    return page, count


def statements(ctx: Context, obj: ObjectDef, query: ListQuery, scope: str
               ) -> tuple[Select[Any], Select[Any] | None]:
    """build_select, remembered for the model's lifetime: the same list asked again (the
    next look at a list view, by this user or another of the same role) reuses the
    statement, and SQLAlchemy the SQL it compiled from it. The key holds everything the
    statement depends on: the query, the role (hidden fields), the scope with the user
    and teams it names, and today's date; a filter on now() is built afresh."""
    root = query.where.root if isinstance(query.where, ex.Expression) else query.where
    if root is not None and any(isinstance(n, ex.Call) and n.func == "now"
                                for n in ex.walk(root)):
        return build_select(ctx, obj, query, scope=scope)
    memo = ctx.snap.statements
    user = ctx.user
    # repr, not the query itself: filter values that Python holds equal (1, 1.0, True)
    # make different SQL for a text field
    # the user's scope on the object, or on any object a lookup path may join, names them
    personal = ctx.snap.access.personal(user.role)
    key = (obj.name, repr(query), scope, user.role, ctx.today(),
           user.id if personal else None, user.seen_team_ids if personal else None)
    return memo.get(key, lambda: build_select(ctx, obj, query, scope=scope))


def list_records(ctx: Context, object_name: str, query: ListQuery = ListQuery(), *,
                 conn: Connection | None = None) -> Page:
    obj = object_def(ctx, object_name)
    scope = require(ctx, obj, "read")
    if not 1 <= query.page <= MAX_PAGE:
        raise BadRequest("The page number must be between 1 and 10,000,000.",
                         parameter="page")
    check_text("search", query.search)
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}",
                         parameter="page_size")
    page_query, count_query = statements(ctx, obj, query, scope)

    def run(c: Connection) -> Page:
        result = c.execute(page_query)
        keys = list(result.keys())
        items = [dict(zip(keys, row, strict=True)) for row in result.all()]
        for name in obj.multipicklists:
            for item in items:
                if name in item:
                    item[name] = item[name].split(";") if item[name] else []
        total = None
        if count_query is not None:
            first = (query.page - 1) * query.page_size
            if 0 < len(items) < query.page_size or (query.page == 1 and not items):
                total = first + len(items)  # the last page: its rows tell the total
            else:
                total = _count(ctx, c, count_query)
        return Page(items, total, query.page, query.page_size)

    if conn is not None:
        return run(conn)
    with ctx.db.read() as own:
        return run(own)


def count_records(ctx: Context, object_name: str, where: ex.Node | None) -> int:
    """How many records match `where`, of those the user may read (no page is read)."""
    obj = object_def(ctx, object_name)
    _, count_query = statements(ctx, obj, ListQuery(where=where), require(ctx, obj, "read"))
    assert count_query is not None
    with ctx.db.read() as conn:
        return _count(ctx, conn, count_query)


def _count(ctx: Context, conn: Connection, count_query: Select[Any]) -> int:
    """The total of a list, from the count cache while nothing was written since."""
    cache = ctx.runtime.counts
    writes = cache.writes
    # the statement's shape and its values: what SQLAlchemy's own statement cache keys on
    shape = count_query._generate_cache_key()
    key = (ctx.snap.generation, shape.key,
           tuple(repr(p.effective_value) for p in shape.bindparams))
    total = cache.get(key)
    if total is None:
        total = conn.execute(count_query).scalar_one()
        cache.put(key, writes, total)
    return total


def titles(ctx: Context, object_name: str, ids: set[int] | list[int], *,
           conn: Connection | None = None) -> dict[int, str]:
    """How records are named in links, for the ids the user may read (one query)."""
    obj = ctx.model.objects[object_name]
    wanted = sorted({i for i in ids if isinstance(i, int)})
    scope = ctx.scope(object_name, "read")
    if not wanted or scope == "none":
        return {}
    table = ctx.schema.table(object_name)
    hidden = ctx.hidden(object_name)
    columns = [table.c.id, *(table.c[f] for f in obj.title_fields if f not in hidden)]
    query_ = select(*columns).where(table.c.id.in_(wanted))
    restrict = scope_condition(ctx, table, scope)
    if restrict is not None:
        query_ = query_.where(restrict)

    def run(c: Connection) -> dict[int, str]:
        return {row.id: obj.title_of(row._mapping) for row in c.execute(query_)}

    if conn is not None:
        return run(conn)
    with ctx.db.read() as own:
        return run(own)
