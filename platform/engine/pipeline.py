"""The save pipeline: the steps a record goes through before it is written.

    take input (known, writable fields; values coerced to their types)
    -> defaults (on create) -> resolve references (lookups, users)
    -> before_save hooks (workflow `set` actions) -> formulas
    -> checks (required, length, range, options, validation rules, unique)

`prepare` runs them all and leaves every problem in `save.errors`; the record service
(:mod:`metacrm.engine.records`) then writes, audits and runs the after-hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from ..fieldtypes import Shown, parse_date, words
from ..metadata.expressions import (
    EvalError,
    Name,
    evaluate,
    is_blank,
    parse_once,
    truthy,
    walk,
)
from ..metadata.model import FieldDef, ObjectDef
from ..metadata.objects import CHANGED_AT
from ..metadata.objects import RECORD as RECORD_NAME
from ..metadata.problems import did_you_mean
from .access import owner_choices, readable, readable_ids
from .coerce import Invalid, coerce, coerce_result
from .errors import FieldError, NotFound
from .formats import formats
from .rows import assign_autonumbers, fetch, month_day, search_text, title_sql, to_row
from .runtime import Context
from .schema import SEARCH_COLUMN
from .sqlexpr import keyed_select
from .types import jsonable
from .users import SYSTEM_ROLE, get_user

log = logging.getLogger("metacrm")

RECORD = "_record"  # the key of record-level errors


class RecordEnv:
    """What a formula, rule or condition sees: the record being saved and its lookups."""

    def __init__(self, ctx: Context, conn: Connection, obj: ObjectDef,
                 record: Mapping[str, Any], old: Mapping[str, Any] | None):
        self.ctx = ctx
        self.conn = conn
        self.obj = obj
        self.record = record
        self.old = old
        self._related: dict[tuple[str, int], dict[str, Any] | None] = {}

    def value(self, path: tuple[str, ...]) -> Any:
        obj, record = self.obj, self.record
        for i, part in enumerate(path[:-1]):
            fdef = obj.fields[part]
            target_id = record.get(part)
            if target_id is None:
                return None
            if fdef.kind.refers == "user":  # {owner.name}: a user's name or email ends a path
                return self._user(target_id).get(path[i + 1])
            obj = self.ctx.model.objects[fdef.to or ""]
            key = (obj.name, target_id)
            if key not in self._related:
                self._related[key] = fetch(self.conn, self.ctx.schema.table(obj.name), obj,
                                           target_id)
            record = self._related[key] or {}
        value = record.get(path[-1])
        if isinstance(value, datetime):  # a moment as the app's clock reads it: its date is
            return value.astimezone(self.ctx.tz)  # the local one (days_between, year, ...)
        return value

    def _user(self, user_id: int) -> dict[str, Any]:
        key = ("", user_id)
        if key not in self._related:
            try:
                user = get_user(self.conn, self.ctx.schema, user_id)
            except NotFound:
                user = None
            self._related[key] = {} if user is None else {
                "name": user.name, "email": user.email, "username": user.username}
        return self._related[key] or {}

    def forget(self) -> None:
        """Read the related records again: a step has changed them."""
        self._related.clear()

    def field_at(self, path: tuple[str, ...]) -> FieldDef | None:
        return self.ctx.model.resolve_path(self.obj.name, path)

    def words(self, path: tuple[str, ...]) -> str:
        """The value at `path` as a sentence writes it, in the app's language: an option's
        label, a record's title, a user's name, '1.500.000 ₫', '30/11/2026'."""
        value = self.value(path)
        fdef = self.field_at(path)
        language = self.ctx.model.locale
        if fdef is None or value is None:  # a user's name or email
            return "" if value is None else str(value)
        titles: dict[str, dict[int, str]] = {}
        users: dict[int, str] = {}
        if fdef.kind.refers == "record" and fdef.to in self.ctx.model.objects:
            target = self.ctx.model.objects[fdef.to]
            row = fetch(self.conn, self.ctx.schema.table(target.name), target, int(value))
            titles[target.name] = {value: target.title_of(row) if row else f"#{value}"}
        elif fdef.kind.refers == "user":
            users[value] = self._user(value).get("name") or f"#{value}"
        shown = Shown(fmt=formats(language, self.ctx.model.currency, self.ctx.tz),
                      language=language, titles=titles, users=users)
        return words(fdef, value, shown)

    def today(self) -> date:
        return self.ctx.today()

    def now(self) -> datetime:
        return self.ctx.now()

    def changed(self, name: str) -> bool:
        if self.old is None:
            return not is_blank(self.record.get(name))
        return self.old.get(name) != self.record.get(name)

    def previous(self, name: str) -> Any:
        return None if self.old is None else self.old.get(name)

    def language(self) -> str:
        return self.ctx.model.locale


class ChoiceEnv(RecordEnv):
    """A lookup's `filter` worked out on a record it may name: names are that record's
    fields, `record.<path>` the record being saved (`project == record.project`)."""

    def __init__(self, ctx: Context, conn: Connection, obj: ObjectDef,
                 record: Mapping[str, Any], source: RecordEnv):
        super().__init__(ctx, conn, obj, record, None)
        self.source = source

    def value(self, path: tuple[str, ...]) -> Any:
        return self.source.value(path[1:]) if path[0] == RECORD_NAME else super().value(path)

    def field_at(self, path: tuple[str, ...]) -> FieldDef | None:
        if path[0] == RECORD_NAME:
            return self.source.field_at(path[1:])
        return super().field_at(path)


@dataclass
class Save:
    """One record on its way through the pipeline."""

    ctx: Context
    conn: Connection
    obj: ObjectDef
    old: dict[str, Any] | None
    changes: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[FieldError]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # hooks' scratch space for this save
    unique_checked: bool = False  # the unique check ran (validate hooks may skip its part)
    given: set[str] = field(default_factory=set)  # the fields the input named
    out_of_sight: set[str] = field(default_factory=set)  # hidden by their visible_if

    @property
    def by_person(self) -> bool:
        """Typed by a person (a form, the API, an import), not MetaCRM's own rules or a
        record action's steps."""
        return self.ctx.user.role != SYSTEM_ROLE and not self.ctx.by_action

    @property
    def creating(self) -> bool:
        return self.old is None

    @property
    def record(self) -> dict[str, Any]:
        return {**(self.old or {}), **self.changes}

    def error(self, name: str, code: str, message: str, **params: Any) -> None:
        self.errors.setdefault(name, []).append(FieldError(code, message, params or None))

    def env(self) -> RecordEnv:
        return RecordEnv(self.ctx, self.conn, self.obj, self.record, self.old)


def take_input(save: Save, values: Mapping[str, Any]) -> None:
    if not isinstance(values, Mapping):
        save.error(RECORD, "invalid", "the record must be a map of field names to values")
        return
    tz = save.ctx.tz
    hidden = save.ctx.hidden(save.obj.name)
    for name, raw in values.items():
        fdef = save.obj.fields.get(name) if name not in hidden else None
        if fdef is None:
            # a hidden field is, to this user, no field at all: no "did you mean" names it
            save.error(name, "unknown_field", f"{save.obj.name} has no field '{name}'"
                       + did_you_mean(str(name), [f for f in save.obj.fields
                                                  if f not in hidden]))
            continue
        if name in ("id", "version"):
            continue  # identity and row version are not values; `version` is read by callers
        writable = save.ctx.can_edit(save.obj, name)
        try:
            value = coerce(fdef, raw, tz) if writable else _read_only(save, fdef, raw)
        except Invalid as exc:
            save.error(name, exc.code, exc.message, **exc.params)
            continue
        if value is not _UNCHANGED:
            save.changes[name] = value
            save.given.add(name)


_UNCHANGED = object()


def _read_only(save: Save, fdef: FieldDef, raw: Any) -> Any:
    """Echoing a read-only field's current value back is allowed; changing it is not."""
    current = save.old.get(fdef.name) if save.old is not None else None
    if raw is None and current is None or raw == current or (
            current is not None and str(raw) == str(jsonable(current))):
        return _UNCHANGED
    kind = ("computed" if fdef.computed else "read-only" if not fdef.writable
            else "read-only for your role")
    raise Invalid("read_only", f"{fdef.name} is {kind} and cannot be set")


def apply_defaults(save: Save, *, computed: bool = False) -> None:
    """Literal defaults (`computed=False`), or `=expression` defaults (`computed=True`,
    run once lookups are resolved, since they may read through them)."""
    env = None
    for fdef in save.ctx.snap.relations.defaulted[save.obj.name]:
        name = fdef.name
        if name in save.changes:
            continue
        default = fdef.default
        is_expression = isinstance(default, str) and default.startswith("=")
        if is_expression != computed:
            continue
        if default is None:
            if fdef.kind.unset is not None:
                save.changes[name] = fdef.kind.unset
            continue
        if is_expression:
            env = env or save.env()
            try:
                default = evaluate(parse_once(default[1:]), env)
            except (EvalError, ArithmeticError, TypeError, ValueError):
                continue
            if default is None:
                continue
        try:
            save.changes[name] = coerce(fdef, default, save.ctx.tz)
        except Invalid as exc:
            save.error(name, exc.code, f"default value: {exc.message}")
    if not computed and save.changes.get("owner") is None:
        save.changes["owner"] = save.ctx.user.id


def initial_values(ctx: Context, obj: ObjectDef, given: Mapping[str, Any]) -> dict[str, Any]:
    """What a new record's form shows before anything is typed: `given` (a prefill such
    as ?related_lead=3; what does not fit its field is left out), then the defaults,
    literal and computed (`=today() + 7`), typed as the record will hold them."""
    with ctx.db.read() as conn:
        save = Save(ctx, conn, obj, None)
        take_input(save, {k: v for k, v in given.items() if k in obj.fields})
        for name in save.errors:
            save.changes.pop(name, None)
        save.errors.clear()
        apply_defaults(save)
        apply_defaults(save, computed=True)
        return {k: v for k, v in save.changes.items() if k not in save.errors}


def apply_values(save: Save, values: Mapping[str, Any]) -> None:
    """Values set by automation (a workflow's `set`): coerced and resolved like input, but
    without the user's field access (automation acts for the business, not the user)."""
    tz = save.ctx.tz
    resolved: dict[str, Any] = {}
    for name, raw in values.items():
        fdef = save.obj.fields.get(name)
        if fdef is None or fdef.maintained:  # read-only binds people, not rules
            save.error(name, "read_only", f"automation cannot set {save.obj.name}.{name}")
            continue
        try:
            resolved[name] = coerce(fdef, raw, tz)
        except Invalid as exc:
            save.error(name, exc.code, exc.message, **exc.params)
    before = dict(save.changes)
    save.changes.update(resolved)
    # a rule names records and users as the business does, not as the user who saved
    resolve_references(save, only=set(resolved), ctx=save.ctx.automation())
    for name in resolved:
        if name in save.errors and name in before:
            save.changes[name] = before[name]


def resolve_references(save: Save, only: set[str] | None = None, *,
                       ctx: Context | None = None) -> None:
    """Lookups given by id or by key, and users given by id or name, to checked ids: among
    the records and users `ctx` (the saving user's, by default) may name."""
    ctx = ctx or save.ctx
    for name, value in list(save.changes.items()):
        if only is not None and name not in only:
            continue
        fdef = save.obj.fields[name]
        if value is None or not fdef.kind.is_reference:
            continue
        if save.old is not None and save.old.get(name) == value:
            continue
        try:
            save.changes[name] = (_resolve_user(ctx, save.conn, value)
                                  if fdef.kind.refers == "user"
                                  else _resolve_lookup(ctx, save.conn, fdef, value))
        except Invalid as exc:
            save.error(name, exc.code, exc.message, **exc.params)


def _resolve_user(ctx: Context, conn: Connection, value: Any) -> int:
    """A user's id, given by id or name. The system user (MetaCRM itself) is never a
    person's to choose: only automation may name it."""
    users = ctx.schema.system["mc_user"]
    if value == ctx.user.id:
        return value
    by_id = isinstance(value, int)
    chosen = users.c.id == value if by_id else users.c.username == str(value)
    row = conn.execute(select(users.c.id, users.c.role).where(chosen)).first()
    if row is None:
        raise Invalid("invalid_reference", f"there is no user with id {value}" if by_id
                      else f"there is no user named '{value}'")
    if row.role == SYSTEM_ROLE and ctx.user.role != SYSTEM_ROLE:
        raise Invalid("system_user", "MetaCRM's system user cannot be chosen")
    return row.id


def check_assignment(save: Save) -> None:
    """Giving a record to another user (a new record's owner other than oneself, or a
    changed owner other than oneself) needs the `assign` right of roles.yaml's `can:`."""
    owner = save.changes.get("owner")
    if owner is None or "owner" in save.errors:
        return
    allowed = owner_choices(save.ctx, save.old.get("owner") if save.old is not None else None)
    if allowed is not None and owner not in allowed:
        save.error("owner", "assign", "giving a record to another user needs the assign "
                                      "right")


def _resolve_lookup(ctx: Context, conn: Connection, fdef: FieldDef, value: Any) -> int:
    """The id of the record `value` names (an id, a title or key fields), among those the
    user may read: a record out of their scope, or a key field hidden from them, gets the
    answer a record that does not exist gets."""
    target = ctx.model.objects[fdef.to or ""]
    table = ctx.schema.table(target.name)
    restrict = readable(ctx, target.name, table)
    conditions = [] if restrict is None else [restrict]
    if isinstance(value, int):
        found = select(table.c.id).where(table.c.id == value, *conditions)
        if conn.execute(found).first() is None:
            raise Invalid("invalid_reference", f"there is no {target.name} with id {value}")
        return value
    if "_title" in value:
        title = title_sql(target, table)
        if title is None:
            raise Invalid("invalid_reference", f"a {target.name} can only be named by its id")
        conditions.append(func.lower(title) == str(value["_title"]).strip().lower())
    for key, raw in value.items():
        if key == "_title":
            continue
        kdef = target.fields.get(key) if key not in ctx.hidden(target.name) else None
        if kdef is None:
            raise Invalid("invalid_reference", f"{target.name} has no field '{key}' to find "
                                               "the record by")
        conditions.append(table.c[key] == coerce(kdef, raw, ctx.tz))
    ids = list(conn.scalars(select(table.c.id).where(*conditions).limit(2)))
    shown = value.get("_title") or ", ".join(f"{k}={v}" for k, v in value.items())
    if not ids:
        raise Invalid("invalid_reference", f"there is no {target.name} '{shown}'", value=shown)
    if len(ids) > 1:
        plural = target.plural.get("en").lower()
        raise Invalid("ambiguous_reference",
                      f"several {plural} match '{shown}'; give the id instead", value=shown)
    return ids[0]


def compute_formulas(save: Save) -> None:
    order = save.ctx.snap.relations.formula_order.get(save.obj.name, [])
    if not order:
        return
    record = save.record
    env = RecordEnv(save.ctx, save.conn, save.obj, record, save.old)
    for name in order:
        fdef = save.obj.fields[name]
        try:
            value = formula_value(fdef, env)
        except FormulaFailed as exc:
            # the record is saved with the formula blank; the detail page says why
            which = f"#{save.old['id']}" if save.old else "a new record"
            log.warning("%s.%s could not be computed for %s: %s", save.obj.name, name, which,
                        exc.reason)
            value = None
        record[name] = value
        if save.old is None or save.old.get(name) != value:
            save.changes[name] = value


class FormulaFailed(Exception):
    """A formula that cannot be computed for a record (a value past the stored range, a
    type error): the value is blank; `code` says why for people (out_of_range, or error),
    `reason` for the log. A division by zero is no failure: the expression language makes
    it blank, as a spreadsheet does."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def formula_value(fdef: FieldDef, env: RecordEnv) -> Any:
    """A formula's value for a record, of its result type; FormulaFailed when it fails."""
    assert fdef.expression is not None
    try:
        return coerce_result(fdef, evaluate(fdef.expression, env))
    except Invalid as exc:
        raise FormulaFailed(exc.code, exc.message) from None
    except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
        raise FormulaFailed("error", str(exc) or type(exc).__name__) from None


def formula_problems(ctx: Context, conn: Connection, obj: ObjectDef,
                     record: dict[str, Any]) -> dict[str, FormulaFailed]:
    """Field -> why, for the blank formulas of a stored record that fail (not those blank
    because what they read is blank): shown beside the field on the record's page.
    `record` is what the user may see; a formula it does not hold is not asked about."""
    problems: dict[str, FormulaFailed] = {}
    blank = [n for n in ctx.snap.relations.formula_order.get(obj.name, [])
             if n in record and record[n] is None]
    if not blank:
        return problems
    env = RecordEnv(ctx, conn, obj, record, record)
    for name in blank:
        try:
            formula_value(obj.fields[name], env)
        except FormulaFailed as exc:
            problems[name] = exc
    return problems


def check_values(save: Save) -> None:
    record = save.record
    for fdef in save.ctx.snap.relations.checked[save.obj.name]:
        name = fdef.name
        touched = save.creating or name in save.changes
        value = record.get(name)
        if not touched:
            continue
        if fdef.required and is_blank(value) and name not in save.out_of_sight:
            save.error(name, "required", f"{fdef.label.get('en')} is required")
            continue
        if value is None:
            continue
        if fdef.max_length and isinstance(value, str) and len(value) > fdef.max_length:
            save.error(name, "too_long", f"at most {fdef.max_length} characters "
                                         f"({len(value)} given)", max=fdef.max_length)
        low, high = _bound(save, fdef, fdef.min), _bound(save, fdef, fdef.max)
        if low is not None and _less(value, low, fdef):
            save.error(name, "too_small", f"must be at least {low}", min=low)
        if high is not None and _less(high, value, fdef):
            save.error(name, "too_large", f"must be at most {high}", max=high)
        if fdef.kind.has_options and name in save.changes:
            old = save.old.get(name) if save.old else None
            chosen = value if isinstance(value, list) else [value]
            before = old if isinstance(old, list) else [old]
            for item in chosen:
                option = fdef.option(item)
                if option is not None and not option.active and item not in before:
                    save.error(name, "inactive_option", f"'{item}' is no longer offered",
                               value=item)


def holds(condition: Any, env: RecordEnv) -> bool:
    """Does a field's condition hold? One that cannot be worked out does not."""
    try:
        return truthy(evaluate(condition, env))
    except (EvalError, ArithmeticError, TypeError, ValueError):
        return False


def apply_conditions(save: Save) -> None:
    """A field's `visible_if`, `required_if` and `read_only_if`, on what a person typed: a
    field out of sight keeps its value (what was typed in it is dropped) and is not asked
    for; a field whose `required_if` holds is asked for on every save; a field whose
    `read_only_if` held before the save is not changed by people (a rule still may)."""
    fields = save.ctx.snap.relations.conditional.get(save.obj.name, ())
    if not fields or not save.by_person:
        return
    env = save.env()
    for fdef in fields:
        name = fdef.name
        if fdef.visible_if is not None and not holds(fdef.visible_if, env):
            save.out_of_sight.add(name)
            if name in save.given:
                save.changes.pop(name, None)
                if save.old is None:
                    save.changes[name] = None
                save.given.discard(name)
    env = save.env()
    old_env = RecordEnv(save.ctx, save.conn, save.obj, save.old, None) if save.old else None
    for fdef in fields:
        name = fdef.name
        if name in save.out_of_sight or name in save.errors:
            continue
        if fdef.required_if is not None and is_blank(save.record.get(name)) and holds(
                fdef.required_if, env):
            save.error(name, "required", f"{fdef.label.get('en')} is required when "
                                         f"{fdef.required_if}")
        if fdef.read_only_if is not None and old_env is not None and name in save.given \
                and name in save.changes and holds(fdef.read_only_if, old_env):
            save.error(name, "read_only_now", f"{fdef.label.get('en')} cannot be changed "
                       f"while {fdef.read_only_if}", condition=str(fdef.read_only_if))


def field_states(ctx: Context, obj: ObjectDef, values: Mapping[str, Any],
                 stored: Mapping[str, Any] | None) -> dict[str, dict[str, bool]]:
    """What a form shows of each conditional field for `values` (the record as the form
    stands; `stored`, the saved record being edited): out of sight, asked for, read-only
    (its `read_only_if` held for the saved record)."""
    fields = ctx.snap.relations.conditional.get(obj.name, ())
    if not fields:
        return {}
    record: dict[str, Any] = {}
    for name, value in values.items():
        fdef = obj.fields.get(name)
        if fdef is None or fdef.computed or fdef.system:
            record[name] = value
            continue
        try:
            record[name] = coerce(fdef, value, ctx.tz)
        except Invalid:
            record[name] = None
    out = {}
    with ctx.db.read() as conn:
        env = RecordEnv(ctx, conn, obj, record, None)
        before = RecordEnv(ctx, conn, obj, stored, None) if stored else None
        for fdef in fields:
            hidden = fdef.visible_if is not None and not holds(fdef.visible_if, env)
            out[fdef.name] = {
                "hidden": hidden,
                "required": not hidden and (fdef.required or fdef.required_if is not None
                                            and holds(fdef.required_if, env)),
                "read_only": before is not None and fdef.read_only_if is not None
                and holds(fdef.read_only_if, before)}
    return out


def condition_reads(obj: ObjectDef) -> set[str]:
    """The fields the object's visible_if and required_if read: a form asks again which
    fields it shows when one of them changes."""
    out: set[str] = set()
    for fdef in obj.fields.values():
        for condition in (fdef.visible_if, fdef.required_if):
            if condition is not None:
                out |= {n.path[0] for n in walk(condition.root) if isinstance(n, Name)}
    return out


def check_choices(save: Save) -> None:
    """A lookup with a `filter` names only a record the filter holds for, checked when the
    lookup is set or changed, or a person changes a field of this record the filter reads (a
    unit already reserved takes no second deposit; the deposit keeps the unit it has, and
    MetaCRM's own moves, a merge of projects, move it along)."""
    person = save.ctx.user.role != SYSTEM_ROLE
    for fdef in save.ctx.snap.relations.filtered.get(save.obj.name, ()):
        value = save.record.get(fdef.name)
        if value is None or fdef.name in save.errors or not (
                save.creating or fdef.name in save.changes
                or person and filter_reads(fdef) & set(save.changes)):
            continue
        target = save.ctx.model.objects[fdef.to or ""]
        row = fetch(save.conn, save.ctx.schema.table(target.name), target, value)
        if row is None:
            continue  # resolve_references said so
        try:
            holds = truthy(evaluate(fdef.filter, ChoiceEnv(save.ctx, save.conn, target, row,
                                                           save.env())))
        except (EvalError, ArithmeticError, TypeError, ValueError):
            holds = False
        if not holds:  # a record they may not read is not named
            title = target.title_of(row) if readable_ids(save.ctx, save.conn, target.name, [
                value]) else f"#{value}"
            save.error(fdef.name, "not_a_choice", f"'{title}' cannot be chosen here: "
                       f"{fdef.label.get('en')} takes a {target.label.get('en').lower()} "
                       f"where {fdef.filter}", value=title, condition=str(fdef.filter))


def allowed_choices(ctx: Context, obj: ObjectDef, fdef: FieldDef,
                    values: Mapping[str, Any], ids: list[int]) -> list[int]:
    """Those of `ids` (records of the lookup's object the user found) its filter allows for
    the record as its form stands (`values`): what the type-ahead offers. Worked out as the
    save works it out, on the stored records, so a field the filter reads that the user may
    not see still counts (and is not shown)."""
    if fdef.filter is None or not ids:
        return ids
    target = ctx.model.objects[fdef.to or ""]
    table = ctx.schema.table(target.name)
    with ctx.db.read() as conn:
        source = RecordEnv(ctx, conn, obj, values, None)
        rows = {r["id"]: r for r in conn.execute(select(table).where(
            table.c.id.in_(ids))).mappings()}
        out = []
        for record_id in ids:
            try:
                if record_id in rows and truthy(evaluate(fdef.filter, ChoiceEnv(
                        ctx, conn, target, rows[record_id], source))):
                    out.append(record_id)
            except (EvalError, ArithmeticError, TypeError, ValueError):
                continue
        return out


def filter_reads(fdef: FieldDef) -> set[str]:
    """The fields of the record being edited that a lookup's filter reads (record.x)."""
    if fdef.filter is None:
        return set()
    return {node.path[1] for node in walk(fdef.filter.root)
            if isinstance(node, Name) and len(node.path) > 1 and node.path[0] == RECORD_NAME}


def _bound(save: Save, fdef: FieldDef, bound: Any) -> Any:
    """A `min` or `max` as it stands for this record: an `=expression` worked out on it
    (None, so no limit, when it cannot be: a blank weight bounds nothing, nor a date a
    number)."""
    if not (isinstance(bound, str) and bound.startswith("=")):
        return bound
    try:
        value = evaluate(parse_once(bound[1:]), save.env())
    except (EvalError, ArithmeticError, TypeError, ValueError):
        return None
    usable = isinstance(value, date) if fdef.kind.is_date else \
        isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    return value if usable else None


def _less(a: Any, b: Any, fdef: FieldDef) -> bool:
    if fdef.kind.is_date:
        a = parse_date(a) if not isinstance(a, date) else a
        b = parse_date(b) if not isinstance(b, date) else b
        if isinstance(a, datetime):
            a = a.date()
        if isinstance(b, datetime):
            b = b.date()
        return a < b
    return Decimal(str(a)) < Decimal(str(b))


def check_rules(save: Save) -> None:
    if save.errors:
        return  # rules read the values; they are only meaningful once the values are valid
    env = save.env()
    for rule in save.obj.validations:
        try:
            fired = truthy(evaluate(rule.when, env))
        except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
            save.error(RECORD, "rule_error", f"a validation rule could not be checked "
                                             f"({rule.when.source}): {exc}")
            continue
        if fired:
            save.error(rule.field or RECORD, "validation_rule",
                       rule.message.get(save.ctx.locale))


def check_unique(saves: list[Save], rows: list[int] | None = None) -> None:
    """Unique fields of one save or a batch: against each other and against the table (a
    record's own row aside). `rows` names the batch's records in messages (an import's file
    rows); by default 'row N of this batch'."""
    if not saves:
        return
    ctx, conn, obj = saves[0].ctx, saves[0].conn, saves[0].obj
    table = ctx.schema.table(obj.name)
    for name, fdef in obj.fields.items():
        if not fdef.unique:
            continue
        seen: dict[Any, int] = {}
        for i, save in enumerate(saves):
            value = save.changes.get(name)
            if value is None:
                continue
            if value in seen:
                row = rows[seen[value]] if rows else seen[value] + 1
                where = f"row {row}" if rows else f"row {row} of this batch"
                save.error(name, "unique", f"'{value}' is also in {where}", value=value,
                           row=row)
            seen.setdefault(value, i)
        if not seen:
            continue
        taken = dict(conn.execute(keyed_select(
            table, [table.c[name], table.c.id], [name], [(v,) for v in seen],
            conn.dialect.name)).all())
        for save in saves:
            value = save.changes.get(name)
            other = taken.get(value) if value is not None else None
            if other is not None and other != (save.old or {}).get("id"):
                _taken(save, name, value, other)
    for group in obj.unique_together:
        _check_together(saves, table, group, rows)


def _check_together(saves: list[Save], table: Any, group: tuple[str, ...],
                    rows: list[int] | None) -> None:
    """`unique_together: [[project, code]]`: no two records share all those values (a blank
    in one of them shares nothing), checked when one of them is set or changed."""
    keys: dict[int, tuple[Any, ...]] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for i, save in enumerate(saves):
        key = tuple(save.record.get(f) for f in group)
        if None in key or not (save.creating or set(group) & set(save.changes)):
            continue
        where = next((f for f in reversed(group) if f in save.changes), group[-1])
        if key in seen:
            row = rows[seen[key]] if rows else seen[key] + 1
            save.error(where, "unique_together", f"the same {', '.join(group)} are also in "
                       f"row {row}" + ("" if rows else " of this batch"),
                       fields=", ".join(group), row=row)
        seen.setdefault(key, i)
        keys[i] = key
    if not keys:
        return
    save = saves[0]
    taken = {tuple(r[:-1]): r[-1] for r in save.conn.execute(keyed_select(
        table, [*(table.c[f] for f in group), table.c.id], list(group), list(seen),
        save.conn.dialect.name)).all()}
    for i, key in keys.items():
        other = taken.get(key)
        save = saves[i]
        if other is not None and other != (save.old or {}).get("id"):
            where = next((f for f in reversed(group) if f in save.changes), group[-1])
            which = (f"{save.obj.name} #{other}" if readable_ids(
                save.ctx, save.conn, save.obj.name, [other]) else "another record")
            save.error(where, "unique_together", f"{which} has the same {', '.join(group)}",
                       fields=", ".join(group))


def _taken(save: Save, name: str, value: Any, other: int) -> None:
    """A unique value already used: by which record, only if the user may read it."""
    if not readable_ids(save.ctx, save.conn, save.obj.name, [other]):
        save.error(name, "unique", f"'{value}' is already used by another record",
                   value=value)
        return
    save.error(name, "unique", f"'{value}' is already used by {save.obj.name} #{other}",
               value=value, other=other)


def prepare(ctx: Context, conn: Connection, obj: ObjectDef, values: Mapping[str, Any],
            old: dict[str, Any] | None, *, unique: bool = True,
            validate: bool = True) -> Save:
    """Run every step up to the write. `save.errors` holds whatever is wrong. A batch
    (an import) checks unique values and runs the validate hooks' batch versions (duplicate
    rules) for all its rows at once: `unique=False, validate=False`."""
    save = Save(ctx, conn, obj, old)
    take_input(save, values)
    if old is None:  # a formula such as days_between(created_at, today()) works on create
        now = ctx.now()
        save.changes.update(created_at=now, updated_at=now, created_by=ctx.user.id,
                            updated_by=ctx.user.id)
        apply_defaults(save)
    resolve_references(save)
    check_assignment(save)
    if old is None:
        apply_defaults(save, computed=True)
    if old is not None:
        save.changes = {k: v for k, v in save.changes.items() if old.get(k) != v}
    compute_formulas(save)
    if not save.errors and ctx.snap.hooks.has(obj.name, "before_save"):
        # hooks (workflow rules) see the values as they will be saved, formulas included
        ctx.snap.hooks.run(obj.name, "before_save", save)
        if old is not None:
            save.changes = {k: v for k, v in save.changes.items() if old.get(k) != v}
        compute_formulas(save)
    stamp_changes(save)
    apply_conditions(save)
    check_choices(save)
    check_values(save)
    check_rules(save)
    if unique:
        check_unique([save])
    save.unique_checked = unique
    if validate and not save.errors:
        ctx.snap.hooks.run(obj.name, "validate", save)  # duplicate rules
    return save


def stamp_changes(save: Save) -> None:
    """`track_changes: true`: <field>_changed_at is now when the field gets a new value."""
    for name, fdef in save.obj.fields.items():
        if fdef.track_changes and (name in save.changes if save.old is not None
                                   else not is_blank(save.record.get(name))):
            save.changes[name + CHANGED_AT] = save.ctx.now()


def new_row(save: Save) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record as it will be inserted, and its column values."""
    ctx, obj = save.ctx, save.obj
    now = ctx.now()
    record = save.record
    assign_autonumbers(ctx, save.conn, obj, record)
    record.update(created_at=now, updated_at=now, created_by=ctx.user.id,
                  updated_by=ctx.user.id, version=1)
    for name, fdef in obj.fields.items():
        if fdef.rollup is not None and fdef.rollup.measure == "count":
            record[name] = 0
    row = dict.fromkeys(name for name in obj.fields if name != "id")
    row.update(to_row(obj, record))  # every column, so that rows of a batch share one shape
    if obj.search:
        row[SEARCH_COLUMN] = search_text(obj, record)
    for column, date_field in ctx.snap.relations.anniversaries[obj.name].items():
        row[column] = month_day(record.get(date_field))
    return record, row
