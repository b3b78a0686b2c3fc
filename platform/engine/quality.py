"""The data quality report of one object: where its records are blank, malformed, in the
wrong field, spelled several ways or left untouched for a year.

Every figure is an aggregate computed in SQL over the records the user may read (their
record scope is the WHERE clause, as in a list), on the fields they may read. A figure that
a list can show carries its `filters`, the list parameters (`query.parse_params`) that
select exactly the records it counts; the count is compiled from those same parameters.

    report = quality.report(ctx, "contact")
    report.blanks[0]  # Blank('city', blank=3, total=10, filters={'city__is_blank': 'true'})
    report.stale      # records whose updated_at is older than a year
    report.duplicates # records a duplicate rule matches with another (duplicates.py)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, not_, or_, select, true

from ..metadata.model import FieldDef, ObjectDef
from . import duplicates, query
from .access import require, scope_condition
from .records import object_def
from .runtime import Context
from .sqlexpr import SqlCompiler
from .text import match_key

STALE_DAYS = 365
EXAMPLES = 5  # offending values shown per finding
MAX_SPELLINGS = 100  # a text field with more distinct values is not picklist-like
DIGITS = "0123456789"
# words (folded) in a field's name or label that say what a text field holds
EMAIL_WORDS = ("email", "thudientu")
PHONE_WORDS = ("phone", "dienthoai", "sodt", "sdt", "didong", "mobile")
# what a finding is, for the screens to say
KINDS = ("invalid_email", "invalid_phone", "email_in_phone", "email_in_name", "phone_in_text")


@dataclass(frozen=True)
class Blank:
    """How many records leave one field blank."""

    field: str
    blank: int
    total: int
    filters: Mapping[str, str]

    @property
    def share(self) -> float:
        return self.blank / self.total if self.total else 0.0


@dataclass(frozen=True)
class Example:
    id: int
    title: str
    value: str


@dataclass(frozen=True)
class Finding:
    """Values of one field that look wrong in one way (`kind`, one of KINDS)."""

    field: str
    kind: str
    count: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Spellings:
    """One value of a text field written several ways: ((spelling, records), ...), the most
    common spelling first."""

    field: str
    variants: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.variants)


@dataclass(frozen=True)
class Report:
    object: str
    total: int
    blanks: tuple[Blank, ...]  # the largest share first
    invalid: tuple[Finding, ...]  # invalid_email, invalid_phone
    misplaced: tuple[Finding, ...]  # email_in_phone, email_in_name, phone_in_text
    inconsistent: tuple[Spellings, ...]
    stale: int
    stale_filters: Mapping[str, str] = field(default_factory=dict)
    duplicates: int | None = None  # records with a duplicate; None: the object has no rules

    @property
    def stale_before(self) -> date | None:
        value = self.stale_filters.get("updated_at__lt")
        return date.fromisoformat(value) if value else None


def report(ctx: Context, object_name: str) -> Report:
    """The data quality report of `object_name` over the records the user may read."""
    obj = object_def(ctx, object_name)
    scope = require(ctx, obj, "read")
    joins = query.user_joins(ctx, obj.name)
    table = joins.base
    compiler = SqlCompiler(joins, today=ctx.today(), now=ctx.now())
    restrict = scope_condition(ctx, table, scope)

    def where(*conditions: Any) -> Any:
        parts = [c for c in (restrict, *conditions) if c is not None]
        return and_(*parts) if parts else true()

    def compiled(filters: Mapping[str, str]) -> ColumnElement[bool]:
        node = query.parse_params(ctx, obj, filters)
        assert node is not None
        return compiler.condition(node)

    visible = [f for f in obj.fields.values() if ctx.can_see(obj.name, f.name)]
    blank_filters = {f.name: {f"{f.name}__is_blank": "true"} for f in visible if _may_be_blank(f)}
    stale_filters: dict[str, str] = {}
    if "updated_at" in obj.fields and ctx.can_see(obj.name, "updated_at"):
        cutoff = ctx.today() - timedelta(days=STALE_DAYS)
        stale_filters = {"updated_at__lt": cutoff.isoformat()}
    checks = _checks(obj, visible, table)

    counted: dict[str, ColumnElement[bool]] = {
        **{f"blank:{name}": compiled(f) for name, f in blank_filters.items()},
        **{f"check:{name}:{kind}": cond for (name, kind), cond in checks.items()},
    }
    if stale_filters:
        counted["stale"] = compiled(stale_filters)
    columns = [func.count().label("total"),
               *(func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(f"c{i}")
                 for i, cond in enumerate(counted.values()))]
    with ctx.db.read() as conn:
        row = conn.execute(select(*columns).select_from(joins.select_from())
                           .where(where())).one()
        total = int(row.total)
        counts = {key: int(row[i + 1]) for i, key in enumerate(counted)}
        blanks = sorted((Blank(name, counts[f"blank:{name}"], total, filters)
                         for name, filters in blank_filters.items()),
                        key=lambda b: (-b.blank, list(obj.fields).index(b.field)))
        findings = [Finding(name, kind, counts[f"check:{name}:{kind}"],
                            _examples(ctx, conn, table, name, where(cond)))
                    for (name, kind), cond in checks.items()
                    if counts[f"check:{name}:{kind}"]]
        inconsistent = [s for f in visible if _picklist_like(f)
                        for s in _spellings(conn, table, f,
                                            where(_filled(table.c[f.name])))]
        titles = query.titles(ctx, obj.name, {e.id for f in findings for e in f.examples},
                              conn=conn)
    findings = [Finding(f.field, f.kind, f.count, tuple(
        Example(e.id, titles.get(e.id, f"#{e.id}"), e.value) for e in f.examples))
        for f in findings]
    return Report(
        object=obj.name, total=total, blanks=tuple(blanks),
        invalid=tuple(f for f in findings if f.kind.startswith("invalid_")),
        misplaced=tuple(f for f in findings if not f.kind.startswith("invalid_")),
        inconsistent=tuple(inconsistent), stale=counts.get("stale", 0),
        stale_filters=stale_filters,
        duplicates=duplicates.count_duplicates(ctx, obj.name) if obj.duplicates else None)


# --- which fields -------------------------------------------------------------------------


def _may_be_blank(fdef: FieldDef) -> bool:
    return not (fdef.system or fdef.required or fdef.computed or fdef.kind.unset is not None)


def _says(fdef: FieldDef, words: tuple[str, ...], *, with_help: bool = False) -> bool:
    texts = [fdef.name, *fdef.label.texts.values()]
    if with_help and fdef.help is not None:
        texts += fdef.help.texts.values()
    return any(word in match_key(text) for text in texts for word in words)


def _typed_text(fdef: FieldDef) -> bool:
    """One line of text people type (not a formula's text)."""
    return fdef.kind.free_text and not fdef.computed


def _is_name(fdef: FieldDef, obj: ObjectDef) -> bool:
    return _typed_text(fdef) and ("name" in fdef.name or fdef.name in obj.title_fields)


def _picklist_like(fdef: FieldDef) -> bool:
    """Text fields whose values may repeat (a city), not emails, phones or names in text."""
    return (_typed_text(fdef) and not fdef.system and not _says(fdef, EMAIL_WORDS)
            and not _says(fdef, PHONE_WORDS))


# --- what looks wrong, as SQL -------------------------------------------------------------


def _strip(column: Any, characters: str) -> Any:
    for character in characters:
        column = func.replace(column, character, "")
    return column


def _filled(column: Any) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != "")


def _email_like(column: Any) -> ColumnElement[bool]:
    """Something@something.something, one @, no spaces (the shape, not the full rules)."""
    return and_(column.like("_%@_%._%"), not_(column.like("%@%@%")),
                not_(column.like("% %")))


def _has_email(column: Any) -> ColumnElement[bool]:
    """An '@' with a dot after it."""
    return column.like("%@%.%")


def _phone_like(column: Any) -> ColumnElement[bool]:
    """Only digits, spaces, +, - and ., and 9 to 12 digits: '0912 345 678'."""
    digits = _strip(column, " +-.")
    return and_(_strip(digits, DIGITS) == "", func.length(digits).between(9, 12))


def _e164(column: Any) -> ColumnElement[bool]:
    """'+' and 8 to 15 digits: how the record service stores a phone number."""
    return and_(column.like("+%"), _strip(column, "+" + DIGITS) == "",
                not_(column.like("_%+%")), func.length(column).between(9, 16))


def _checks(obj: ObjectDef, visible: list[FieldDef], table: Any
            ) -> dict[tuple[str, str], ColumnElement[bool]]:
    """(field, kind) -> the condition of a value that looks wrong that way."""
    out: dict[tuple[str, str], ColumnElement[bool]] = {}
    for fdef in visible:
        if fdef.system or fdef.computed:
            continue
        column = table.c[fdef.name]
        filled = _filled(column)
        text = fdef.kind.free_text
        says_email = fdef.kind.looks == "email" or (text and _says(fdef, EMAIL_WORDS))
        says_phone = fdef.kind.looks == "phone" or (text and _says(fdef, PHONE_WORDS))
        if says_email:
            out[(fdef.name, "invalid_email")] = and_(filled, not_(_email_like(column)))
        if fdef.kind.looks == "phone":
            out[(fdef.name, "invalid_phone")] = and_(filled, not_(_e164(column)))
        elif says_phone and not says_email:
            out[(fdef.name, "invalid_phone")] = and_(
                filled, not_(or_(_phone_like(column), _e164(column))))
        if says_phone and not says_email:
            out[(fdef.name, "email_in_phone")] = _has_email(column)
        elif _is_name(fdef, obj):
            out[(fdef.name, "email_in_name")] = _has_email(column)
        if (says_email or text) and not says_phone \
                and not (text and _says(fdef, PHONE_WORDS, with_help=True)):
            out[(fdef.name, "phone_in_text")] = _phone_like(column)
    return out


# --- reading examples and spellings -------------------------------------------------------


def _examples(ctx: Context, conn: Connection, table: Any, name: str, condition: Any
              ) -> tuple[Example, ...]:
    rows = conn.execute(select(table.c.id, table.c[name]).where(condition)
                        .order_by(table.c.id).limit(EXAMPLES))
    return tuple(Example(int(r[0]), "", str(r[1])) for r in rows)


def _spellings(conn: Connection, table: Any, fdef: FieldDef, condition: Any
               ) -> list[Spellings]:
    """Values of a text field that fold the same ('Hà Nội', 'ha noi', 'HÀ NỘI'), when the
    field has few distinct values (at most MAX_SPELLINGS): its distinct values and their
    counts come from SQL, the grouping is done here."""
    column = table.c[fdef.name]
    rows = conn.execute(select(column, func.count()).where(condition).group_by(column)
                        .limit(MAX_SPELLINGS + 1)).all()
    if len(rows) > MAX_SPELLINGS:
        return []
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for value, count in rows:
        groups[match_key(value)].append((str(value), int(count)))
    found = [Spellings(fdef.name, tuple(sorted(items, key=lambda i: (-i[1], i[0]))))
             for key, items in groups.items() if key and len(items) > 1]
    return sorted(found, key=lambda s: (-s.total, s.variants[0][0]))
