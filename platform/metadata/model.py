"""The immutable model of an app: what the loader returns and the engine reads.

Everything is a frozen dataclass; maps are read-only (`MappingProxyType`) and lists are
tuples. Nothing here knows about storage or screens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ..fieldtypes import TYPES, FieldType
from .expressions import Expression

SYSTEM_FIELDS = ("id", "owner", "created_at", "created_by", "updated_at", "updated_by",
                 "version")
ON_DELETE = ("set_null", "restrict", "cascade")
SCOPES = ("none", "own", "team", "all")
FIELD_SCOPE, VIA_SCOPE = "field:", "via:"  # {field: driver} and {via: account}, as text
FIELD_ACCESS = ("edit", "read", "hidden")
LOCALES = ("en", "vi")


def is_translated(value: Any) -> bool:
    """A text given in several languages: {en: ..., vi: ...} (the keys locale codes)."""
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(k, str) and re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", k) and isinstance(v, str)
        for k, v in value.items()) and any(k in LOCALES for k in value)


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Label:
    """A human-facing text in several locales: `Label({"en": "Contact", "vi": "Liên hệ"})`."""

    texts: Mapping[str, str] = field(default_factory=frozen_map)

    def get(self, locale: str = "en") -> str:
        if locale in self.texts:
            return self.texts[locale]
        for fallback in ("en", "vi"):
            if fallback in self.texts:
                return self.texts[fallback]
        return next(iter(self.texts.values()), "")

    def __str__(self) -> str:
        return self.get("en")

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, default: str = "") -> Label:
        if value is None:
            value = default
        if isinstance(value, str):
            return cls(frozen_map({"en": value}))
        return cls(frozen_map({k: str(v) for k, v in value.items()}))

    def to_data(self) -> str | dict[str, str]:
        if set(self.texts) == {"en"}:
            return self.texts["en"]
        return dict(self.texts)


def humanize(name: str) -> str:
    """`first_name` -> `First name`."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Option:
    value: str
    label: Label
    active: bool = True


@dataclass(frozen=True)
class Rollup:
    source: str  # the child object ("from")
    via: str  # the child's lookup field pointing to this object
    measure: str  # count | sum | avg | min | max
    measure_field: str | None
    filter: Expression | None


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    unique: bool = False
    default: Any = None
    index: bool = False
    read_only: bool = False
    max_length: int | None = None
    min: Any = None
    max: Any = None
    scale: int | None = None
    options: tuple[Option, ...] = ()
    to: str | None = None  # lookup target object
    on_delete: str = "set_null"
    returns: str | None = None  # formula result type
    expression: Expression | None = None
    format: str | None = None  # autonumber
    rollup: Rollup | None = None
    # a lookup's `filter`: which records of `to` it may name (record.x: the record edited)
    filter: Expression | None = None
    # conditions on the record: asked for only when it holds, shown only when..., changed
    # by people only while it does not hold
    required_if: Expression | None = None
    visible_if: Expression | None = None
    read_only_if: Expression | None = None
    system: bool = False
    track_changes: bool = False  # the engine keeps <name>_changed_at (a status's age)

    @property
    def value_type(self) -> str:
        """The type of the stored value: a formula's `returns`, a rollup's number."""
        if self.type == "formula":
            return self.returns or "text"
        if self.type == "rollup":
            if self.returns:  # min/max of a date: a date
                return self.returns
            return "integer" if self.rollup and self.rollup.measure == "count" else "number"
        return self.type

    @property
    def kind(self) -> FieldType:
        """The type of the stored value, which says how it is read, shown and filtered."""
        return TYPES[self.value_type]

    @property
    def computed(self) -> bool:
        return TYPES[self.type].computed

    @property
    def maintained(self) -> bool:
        """Kept by MetaCRM, set by nobody: computed, or a system field other than the owner
        (id, version, created_at, ...). Other read-only fields bind people, not rules."""
        return self.computed or (self.system and self.read_only)

    @property
    def writable(self) -> bool:
        return not (self.read_only or self.computed)

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def to_data(self) -> dict[str, Any]:
        """The field as metadata YAML would write it (for export and signatures)."""
        data: dict[str, Any] = {"type": self.type, "label": self.label.to_data()}
        if self.help is not None:
            data["help"] = self.help.to_data()
        for key in ("required", "unique", "index", "read_only", "track_changes"):
            if getattr(self, key):
                data[key] = True
        for key in ("default", "max_length", "min", "max", "scale", "to", "returns", "format"):
            value = getattr(self, key)
            if value is not None and not (key == "returns" and self.type == "rollup"):
                data[key] = value
        if self.type == "lookup":
            data["on_delete"] = self.on_delete
        if self.options:
            data["options"] = [
                {"value": o.value, "label": o.label.to_data(), **({} if o.active
                                                                   else {"active": False})}
                for o in self.options
            ]
        if self.expression is not None:
            data["expression"] = self.expression.source
        if self.rollup is not None:
            data["from"] = self.rollup.source
            data["via"] = self.rollup.via
            measure = self.rollup.measure
            data["measure"] = (f"{measure}({self.rollup.measure_field})"
                               if self.rollup.measure_field else measure)
            if self.rollup.filter is not None:
                data["filter"] = self.rollup.filter.source
        return data


@dataclass(frozen=True)
class ValidationRule:
    when: Expression
    message: Label
    field: str | None = None  # the field its message shows beside (None: the record's)


@dataclass(frozen=True)
class DuplicateMatch:
    field: str
    fuzzy: int | None = None  # similarity threshold 0-100, None = exact


@dataclass(frozen=True)
class DuplicateRule:
    match: tuple[DuplicateMatch, ...]
    action: str  # block | warn


@dataclass(frozen=True, eq=False)
class ObjectDef:
    name: str
    label: Label
    plural: Label
    fields: Mapping[str, FieldDef]
    title: str | None = None
    search: tuple[str, ...] = ()
    validations: tuple[ValidationRule, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    unique_together: tuple[tuple[str, ...], ...] = ()  # (project, code): one unit A-101 each
    duplicates: tuple[DuplicateRule, ...] = ()
    app: str = ""  # the app that defined it first

    @property
    def title_fields(self) -> tuple[str, ...]:
        if not self.title:
            return ()
        return tuple(re.findall(r"\{([a-z][a-z0-9_]*)\}", self.title))

    def title_of(self, record: Mapping[str, Any]) -> str:
        if not self.title:
            return f"{self.label} #{record.get('id')}"
        text = re.sub(r"\{([a-z][a-z0-9_]*)\}",
                      lambda m: "" if record.get(m.group(1)) is None else str(record[m.group(1)]),
                      self.title)
        return " ".join(text.split()) or f"#{record.get('id')}"

    @cached_property
    def multipicklists(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.fields.items() if f.kind.many)

    def lookups_to(self, target: str) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.type == "lookup" and f.to == target]


@dataclass(frozen=True)
class Section:
    label: Label
    fields: tuple[str, ...]
    columns: int = 1


@dataclass(frozen=True)
class ListLayout:
    columns: tuple[str, ...]
    sort: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    page_size: int = 50


@dataclass(frozen=True)
class Kanban:
    group_by: str
    card: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelatedList:
    object: str
    via: str
    columns: tuple[str, ...] = ()
    label: Label | None = None


@dataclass(frozen=True)
class Layout:
    object: str
    sections: tuple[Section, ...]
    list: ListLayout
    kanban: Kanban | None = None
    related: tuple[RelatedList, ...] = ()


@dataclass(frozen=True)
class ObjectPermission:
    """What a role may do with an object's records: a scope per action, none, own, team,
    all, `field:driver,co_driver` (their own and those naming them in a user field) or
    `via:account` (their own and those whose account they may read, or edit...)."""

    create: bool = False
    read: str = "none"
    edit: str = "none"
    delete: str = "none"


def scope_text(value: Any) -> str:
    """A record scope as roles.yaml writes it, as one text: `own`, `{field: driver}` ->
    `field:driver`, `{field: [driver, co_driver]}` -> `field:driver,co_driver`,
    `{via: account}` -> `via:account`."""
    if isinstance(value, dict) and "field" in value:
        names = value["field"]
        return FIELD_SCOPE + ",".join([names] if isinstance(names, str) else names)
    if isinstance(value, dict) and "via" in value:
        return VIA_SCOPE + str(value["via"])
    return str(value)


def scope_data(text: str) -> Any:
    """The roles.yaml value of a scope's text (scope_text undone)."""
    if text.startswith(FIELD_SCOPE):
        names = text[len(FIELD_SCOPE):].split(",")
        return {"field": names[0] if len(names) == 1 else names}
    if text.startswith(VIA_SCOPE):
        return {"via": text[len(VIA_SCOPE):]}
    return text


RIGHTS = ("assign", "share_reports", "edit_dashboards")  # a role's `can:` (all: every one)


@dataclass(frozen=True)
class Role:
    name: str
    label: Label
    all: bool = False
    inherits: str | None = None
    objects: Mapping[str, ObjectPermission] = field(default_factory=frozen_map)
    fields: Mapping[str, str] = field(default_factory=frozen_map)  # "object.field" -> access
    can: frozenset[str] = frozenset()  # rights beyond records: assign, share_reports, ...


CATCH_UP_DAYS = 31  # a schedule's default catch_up: occurrences up to a month late still fire


@dataclass(frozen=True)
class Schedule:
    date_field: str | None  # a date of the record (a birthday, an end date), or None ...
    offset_days: int = 0
    every: str | None = None  # day | week | month | year, or None (once per date value)
    at: str | None = None  # "HH:MM" in the app's time zone
    holiday: str | None = None  # ... a holiday for every record: tet, women (8/3), "DD/MM"
    catch_up: int = CATCH_UP_DAYS  # days back an occurrence missed still fires (0: none
    #                                before the rule first ran)


@dataclass(frozen=True)
class Action:
    kind: str  # set | create | update | email | webhook | assign | notify
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Workflow:
    name: str
    object: str
    event: str | None  # created | updated | saved | deleted; None for a schedule
    schedule: Schedule | None
    condition: Expression | None
    actions: tuple[Action, ...]
    active: bool = True
    label: Label | None = None
    recipe: str | None = None


@dataclass(frozen=True)
class RecordAction:
    """A button on a record (`actions:` of an object): who may run it and when, what it
    asks, and its steps (the workflow actions, run as the user who clicks)."""

    name: str
    object: str
    label: Label
    steps: tuple[Action, ...]
    condition: Expression | None = None  # `if`: when the button shows and may run
    roles: tuple[str, ...] = ()  # empty: every role that may edit the record
    confirm: Label | None = None  # a question asked before it runs
    inputs: Mapping[str, FieldDef] = field(default_factory=frozen_map)  # a small form
    open: str | None = None  # the `as:` of the made record the result opens
    bulk: bool = True  # offered in the list's bulk menu


@dataclass(frozen=True)
class ApprovalStep:
    """Who approves one step: the users of a role, the team manager of the user a user
    field names (`manager: owner`), or one user (by user name)."""

    role: str | None = None
    manager: str | None = None
    user: str | None = None
    label: Label | None = None


@dataclass(frozen=True)
class Approval:
    """An approval of an object's `approvals:`: a record needs it while `when` holds, is
    submitted, and is approved or rejected step by step."""

    name: str
    object: str
    label: Label
    when: Expression
    steps: tuple[ApprovalStep, ...]
    before: Expression | None = None  # a save into this state needs the approval first
    lock: bool = True  # no change by people while it is pending
    reads: frozenset[str] = frozenset()  # the fields `when` reads: a change undoes it


@dataclass(frozen=True)
class Grouping:
    field: str  # a path: "stage" or "account.industry"
    bucket: str | None = None  # day | week | month | quarter | year
    bands: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Measure:
    func: str  # count | sum | avg | min | max | count_distinct (how many different values)
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.func}({self.field})" if self.field else self.func


@dataclass(frozen=True)
class Report:
    name: str
    label: Label
    object: str
    filter: Expression | None
    group_by: tuple[Grouping, ...]
    measures: tuple[Measure, ...]
    chart: str | None = None
    owner: str | None = None  # the user name of a private report; None: shared


@dataclass(frozen=True)
class Dashboard:
    name: str
    label: Label
    widgets: tuple[str, ...]


@dataclass(frozen=True)
class WebForm:
    name: str
    object: str
    fields: tuple[str, ...]
    defaults: Mapping[str, Any]
    success_message: Label
    label: Label | None = None


@dataclass(frozen=True, eq=False)
class AppModel:
    name: str
    label: Label
    version: str
    locale: str
    currency: str
    timezone: str
    navigation: tuple[str, ...]
    objects: Mapping[str, ObjectDef]
    layouts: Mapping[str, Layout]
    roles: Mapping[str, Role]
    workflows: Mapping[str, Workflow]
    reports: Mapping[str, Report]
    dashboards: Mapping[str, Dashboard]
    forms: Mapping[str, WebForm]
    actions: Mapping[str, Mapping[str, RecordAction]] = field(default_factory=frozen_map)
    approvals: Mapping[str, Mapping[str, Approval]] = field(default_factory=frozen_map)
    extends: tuple[str, ...] = ()  # the chain of parent apps, nearest first
    root: str = ""
    roots: tuple[str, ...] = ()  # the folders of the app and of the apps it extends, nearest first

    def object(self, name: str) -> ObjectDef:
        return self.objects[name]

    def actions_of(self, object_name: str) -> Mapping[str, RecordAction]:
        return self.actions.get(object_name, frozen_map())

    def approvals_of(self, object_name: str) -> Mapping[str, Approval]:
        return self.approvals.get(object_name, frozen_map())

    def resolve_path(self, object_name: str, path: tuple[str, ...]) -> FieldDef | None:
        """The field at the end of `path` from `object_name`, following lookups."""
        obj = self.objects.get(object_name)
        for i, part in enumerate(path):
            if obj is None or part not in obj.fields:
                return None
            fld = obj.fields[part]
            if i == len(path) - 1:
                return fld
            if fld.type != "lookup":
                return None
            obj = self.objects.get(fld.to or "")
        return None
