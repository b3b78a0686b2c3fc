"""What a field type is made of: the facts every layer asks (its stored values, the keys its
definition takes, whether a list sorts by it) and what it does with a value on every path:
read from input, brought to its type after a formula, compared in a filter, shown in a
list, drawn and read back on a form, described in the API document, read from a sheet.

The behaviours are plain functions of values. Those that need the page or the database get
what they need handed in (`Shown`, `Resolve`, a `Formatter`), so the types sit below every
layer that uses them; a type's module is the one place that knows its values.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

# the families of stored values (each maps to one kind of column)
VALUES = ("text", "integer", "decimal", "date", "datetime", "checkbox", "reference")


class Field(Protocol):
    """What a type reads of a field's definition (the metadata's `FieldDef`)."""

    name: str
    type: str
    required: bool
    scale: int | None
    options: Any  # of Option: value, label, active
    to: str | None
    filter: Any  # a lookup's: an Expression, or None

    @property
    def kind(self) -> FieldType: ...
    def option(self, value: str) -> Any: ...


class Invalid(Exception):
    """A value that cannot be stored: a stable `code`, a message, and the `params` a
    translated message needs (e.g. {"value": "abc"})."""

    def __init__(self, code: str, message: str, **params: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params


def is_empty(raw: Any) -> bool:
    """Nothing given: None, blank text or an empty list (every type's blank rule)."""
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


class Formatter(Protocol):
    """How the reader's language writes numbers and dates (the web's `i18n.Formats`)."""

    tz: ZoneInfo

    def number(self, value: Any, scale: int | None = None) -> str: ...
    def money(self, value: Any) -> str: ...
    def percent(self, value: Any) -> str: ...
    def date(self, value: Any) -> str: ...
    def datetime(self, value: Any) -> str: ...
    def parse_number(self, text: str) -> Any: ...
    def number_input(self, value: Any, scale: int | None) -> str: ...


@dataclass(frozen=True)
class Shown:
    """What a page knows when it shows values: the reader's formats and language, and the
    titles, user names and file names it loaded for the records on it."""

    fmt: Formatter | None = None  # None where nothing is formatted (an export's names)
    language: str = "en"
    titles: Mapping[str, Mapping[int, str]] = field(default_factory=dict)  # object -> id ->
    users: Mapping[int, str] = field(default_factory=dict)
    files: Mapping[int, str] = field(default_factory=dict)


class Submitted(Protocol):
    """A submitted form (Starlette's FormData)."""

    def __contains__(self, key: object) -> bool: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def getlist(self, key: str) -> list[Any]: ...


class Resolve(Protocol):
    """What an import looks up in the database for a cell's text."""

    def key(self, text: str) -> str: ...  # its match key (no accents, case or spaces)
    def option(self, fdef: Field, raw: Any) -> Any: ...
    def record(self, fdef: Field, raw: Any) -> Any: ...
    def user(self, raw: Any) -> Any: ...


Cell = Callable[[Any], str]
esc = html.escape


def blank_or(render: Cell) -> Cell:
    """A cell that is empty for a blank value and `render(value)` otherwise."""
    def cell(value: Any) -> str:
        if value is None or value == "" or value == []:
            return ""
        return render(value)
    return cell


def text_cell(fdef: Field, shown: Shown) -> Cell:
    def cell(value: Any) -> str:
        return "" if value is None or value == "" or value == [] else esc(str(value))
    return cell


def written_cell(fdef: Field, shown: Shown) -> Cell:
    """A cell of a value the reader's Formatter writes (its type's `written` method)."""
    write = getattr(shown.fmt, fdef.kind.written or "number")
    return blank_or(lambda v: esc(write(v)))


YES_NO = {"vi": ("Có", "Không"), "en": ("Yes", "No")}


def words(fdef: Field, value: Any, shown: Shown) -> str:
    """A value as a sentence writes it (a rule's text, a document): an option's label, a
    record's title, a user's name (from `shown`), a number, amount or date the reader's
    way, yes or no."""
    if value is None or value == "" or value == []:
        return ""
    kind = fdef.kind
    if kind.named is not None:
        return kind.named(fdef, shown)(value)
    if isinstance(value, bool):
        return YES_NO.get(shown.language, YES_NO["en"])[0 if value else 1]
    if kind.written and shown.fmt is not None:
        if kind.written == "number":
            return shown.fmt.number(value, fdef.scale)
        return str(getattr(shown.fmt, kind.written)(value))
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def text_input(fdef: Field, value: Any, fmt: Formatter) -> Any:
    return "" if value is None else str(value)


def submitted_text(fdef: Field, form: Submitted) -> str | None:
    """The text the form sent for a field ('' for an upload), None when it sent none."""
    if fdef.name not in form:
        return None
    raw = form.get(fdef.name)
    return raw if isinstance(raw, str) else ""


def read_text(fdef: Field, form: Submitted, fmt: Formatter
              ) -> tuple[Any, dict[str, Any]] | None:
    """(the value for the record service, what the user typed) of a field's input, or None
    when the form did not carry it."""
    text = submitted_text(fdef, form)
    if text is None:
        return None
    return (text if text.strip() else None), {fdef.name: text}


def as_given(fdef: Field, raw: Any, resolve: Resolve) -> Any:
    return raw


def as_text(fdef: Field, value: Any) -> Any:
    return str(value)


def _no_input(fdef: Field, raw: Any, tz: ZoneInfo) -> Any:
    raise Invalid("read_only", f"{fdef.name} is computed and cannot be set")


Schema = Callable[["Field", bool], dict[str, Any]]


def scalar(read: dict[str, Any], written: Callable[[Field], dict[str, Any]] | None = None
           ) -> Schema:
    """The JSON Schema of a single value: `read` as any record holds it, with `written`'s
    constraints added for what the record service accepts."""
    def schema(fdef: Field, write: bool) -> dict[str, Any]:
        return {**read, **written(fdef)} if write and written else dict(read)
    return schema


NO_NUL = "^[^\\u0000]*$"


def filter_text(fdef: Field) -> dict[str, Any]:
    """What a `field=value` filter on a text takes."""
    return {"type": "string", "pattern": NO_NUL}


@dataclass(frozen=True)
class FieldType:
    """One field type. `value` is the family of its stored values (VALUES; None for a
    formula, whose `returns` says); `keys` the definition keys it takes besides the common
    ones (type, label, help, required, unique, default, index, read_only).

    What a type does with values is asked of the field's `kind` (the type of its stored
    value: a formula's `returns`), what its definition means of its `type`."""

    name: str
    value: str | None
    keys: frozenset[str] = field(default_factory=frozenset)
    sortable: bool = True  # a list may be sorted by it (and an index serve that order)
    searchable: bool = False  # may be one of an object's quick-search fields
    computed: bool = False  # its value is worked out, never typed in
    formula_result: bool = False  # may be a formula's `returns`
    in_setup: bool = True  # offered by Setup's new-field form
    importable: bool = True  # an import may fill it from a sheet's column
    may_be_unique: bool = True  # its definition may say `unique: true`
    free_text: bool = False  # one line typed freely (a name, a city): data quality reads it
    fuzzy: bool = False  # a duplicate rule may compare it by likeness
    bulk: bool = False  # a list's bulk change may set it
    looks: str | None = None  # what its values look like to data quality: "email", "phone"
    written: str | None = None  # the Formatter method that writes it: "money", "date", ...
    unset: Any = None  # what a new record holds when nothing is given and no default
    # what a value names, which a page loads for all its rows at once: "record" (a title of
    # the field's `to`), "user" (a name), "file" (a file name) or None
    refers: str | None = None
    many: bool = False  # holds a list of values (stored joined by ';'); blank is []
    compound: bool = False  # its input may be a list or an object (a key to look up)
    # the stored value of an input (JSON, form text, a sheet's cell); raises Invalid
    parse: Callable[[Field, Any, ZoneInfo], Any] = _no_input
    # a filter's value (typed like the stored values, without the write rules)
    filter: Callable[[Field, Any, ZoneInfo], Any] | None = None
    # a computed value (formula, rollup) brought to this type; raises Invalid
    result: Callable[[Field, Any], Any] = as_text
    cell: Callable[[Field, Shown], Cell] = text_cell  # a list or detail page's cell
    # the words a value stands for in an export (a lookup's title, an option's label); None
    # when the value is its own text
    named: Callable[[Field, Shown], Callable[[Any], str]] | None = None
    widget: str = "text"  # the form's macro for it (layouts/form.html)
    input: Callable[[Field, Any, Formatter], Any] = text_input  # the input's text
    read: Callable[[Field, Submitted, Formatter],
                   tuple[Any, dict[str, Any]] | None] = read_text  # the submitted text
    # the JSON Schema of a value, as read (write=False) or as the record service takes it
    schema: Schema = scalar({"type": "string"})
    filter_schema: Callable[[Field], dict[str, Any]] = filter_text  # a filter's text
    sheet: Callable[[Field, Any, Resolve], Any] = as_given  # a sheet's cell, for `parse`
    # the value as people also write it, for quick search to find (a phone dialled at home)
    spoken: Callable[[str], str] | None = None

    @property
    def is_text(self) -> bool:
        """Stored as text: blank is NULL or ''."""
        return self.value == "text"

    @property
    def is_word(self) -> bool:
        """Short text compared whole (a name, an email, a code): not long text, a file or
        an option."""
        return self.is_text and self.sortable and "options" not in self.keys

    @property
    def has_options(self) -> bool:
        return "options" in self.keys

    @property
    def is_date(self) -> bool:
        """A calendar date or a moment."""
        return self.value in ("date", "datetime")

    @property
    def is_number(self) -> bool:
        return self.value in ("integer", "decimal")

    @property
    def is_reference(self) -> bool:
        return self.value == "reference"

    def typed(self, fdef: Field, raw: Any, tz: ZoneInfo) -> Any:
        """A filter's value: this type's own rule, else the stored value's."""
        return (self.filter or self.parse)(fdef, raw, tz)


def define(name: str, value: str | None, keys: str = "", **facts: Any) -> FieldType:
    """A type from its name, value family, the keys its definition takes and its facts."""
    return FieldType(name, value, frozenset(keys.split()), **facts)
