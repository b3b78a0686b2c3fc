"""The runtime: one loaded model, its tables and its database, shared by every request;
and the per-request :class:`Context` (who acts, in which language, at what time)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..metadata import AppModel
from .access import Access
from .db import Database
from .schema import Schema, anniversary_columns, build_schema
from .types import now_utc
from .users import SYSTEM_ROLE, User, system_user

Hook = Callable[..., None]
EVENTS = ("before_save", "after_create", "after_update", "after_delete")


@dataclass
class Change:
    """What an after-hook is told: a record was created, updated or deleted, inside the
    saving transaction (`conn`). `notes` is the save's scratch space, shared with the
    before_save hooks of the same save."""

    ctx: Context
    conn: Any
    obj: Any
    event: str  # created | updated | deleted
    record: dict[str, Any]  # after the save; for a delete, the values it had
    old: dict[str, Any] | None
    notes: dict[str, Any]


class Hooks:
    """Code that runs in the record lifecycle, registered for (object, event).

    `object` may be "*" for every object. Hooks run inside the saving transaction, in the
    order they were registered.
    """

    def __init__(self) -> None:
        self._hooks: dict[tuple[str, str], list[Hook]] = defaultdict(list)

    def register(self, object_name: str, event: str, hook: Hook) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event '{event}' (events: {', '.join(EVENTS)})")
        self._hooks[(object_name, event)].append(hook)

    def run(self, object_name: str, event: str, *args: Any) -> None:
        for key in ((object_name, event), ("*", event)):
            for hook in self._hooks.get(key, ()):
                hook(*args)

    def copy(self) -> Hooks:
        made = Hooks()
        for key, hooks in self._hooks.items():
            made._hooks[key] = list(hooks)
        return made

    def remove_owner(self, owner: Any) -> None:
        """Forget every hook that is a method of `owner` (automation of a replaced model)."""
        for key, hooks in self._hooks.items():
            self._hooks[key] = [h for h in hooks if getattr(h, "__self__", None) is not owner]

    def has(self, object_name: str, event: str) -> bool:
        return bool(self._hooks.get((object_name, event)) or self._hooks.get(("*", event)))


@dataclass
class Runtime:
    model: AppModel
    db: Database
    schema: Schema
    hooks: Hooks = field(default_factory=Hooks)
    clock: Callable[[], datetime] = now_utc
    files_dir: Path = Path("var/files")
    overlay: Any = None  # the metadata version (overlays.Version) the model was built from
    check_interval: float = 0.5  # seconds between two looks at the metadata version
    relations: Relations = field(init=False)
    access: Access = field(init=False)
    counts: CountCache = field(init=False)
    recent: TtlCache = field(init=False)
    statements: Memo = field(init=False)

    def __post_init__(self) -> None:
        from .overlays import NO_OVERLAYS

        self.overlay = self.overlay or NO_OVERLAYS
        self.recent = TtlCache(ttl=2.0)
        self._automation: Any = None
        self._checked = time.monotonic()
        self._reload_lock = threading.Lock()
        self._derive()

    def _derive(self) -> None:
        from .workflows import install  # automation hooks itself into this runtime

        self.relations = Relations.of(self.model)
        self.access = Access.for_model(self.model)
        self.counts = CountCache()
        self.statements = Memo(self.model)
        self.recent.clear()
        # the new rules go into a copy of the hooks, swapped in with one assignment: a save
        # runs either the old rules or the new ones, never none and never both
        hooks = self.hooks.copy()
        if self._automation is not None:
            hooks.remove_owner(self._automation)
        self._automation = install(self, hooks)
        self.hooks = hooks

    @classmethod
    def open(cls, app_dir: str | Path, database_url: str, **kwargs: Any) -> Runtime:
        """The app at `app_dir` with the Setup changes stored in the database."""
        from .overlays import build, latest

        db = Database(database_url)
        version = latest(db)
        model = build(str(app_dir), version.documents)
        return cls(model=model, db=db, schema=build_schema(model), overlay=version, **kwargs)

    @property
    def app_dir(self) -> str:
        return self.model.root

    @property
    def version(self) -> int:
        return self.overlay.number

    def adopt(self, model: AppModel, version: Any) -> None:
        """Serve `model` (built from metadata `version`) from now on."""
        schema = build_schema(model)
        with self._reload_lock:
            if version.number < self.version:
                return  # a slower reload of an older version: keep the newer one
            self.schema = schema
            self.model = model
            self.overlay = version
            self._derive()

    def refresh(self, *, force: bool = False) -> bool:
        """Adopt a metadata version saved by another process, if there is one. Looks at the
        version number at most every `check_interval` seconds (one indexed read)."""
        from .overlays import build, get, latest_number

        now = time.monotonic()
        if not force and now - self._checked < self.check_interval:
            return False
        self._checked = now
        with self.db.read() as conn:
            number = latest_number(conn)
        if number == self.version:
            return False
        version = get(self.db, number)
        model = build(self.app_dir, version.documents)
        if number != self.version:
            self.adopt(model, version)
        return True

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.model.timezone)

    def context(self, user: User, locale: str | None = None) -> Context:
        return Context(self, user, locale or user.locale or self.model.locale)

    def system_context(self) -> Context:
        with self.db.write() as conn:
            user = system_user(conn, self.schema)
        return self.context(user)


class TtlCache:
    """A few seconds' memory of small, often-read answers (a session's user, the list of
    users for a select). Entries expire after `ttl` seconds or when cleared."""

    def __init__(self, ttl: float, size: int = 1000):
        self.ttl = ttl
        self.size = size
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by clear() and forget()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and now - entry[0] <= self.ttl:
            return entry[1]
        generation = self._generation
        value = make()
        with self._lock:
            # a clear() or forget() while `make` ran: its answer may be stale; keep none
            if generation == self._generation:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def forget(self, key: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._generation += 1


class Memo:
    """Values that follow from the model alone (the SQL statement of a list query), kept
    while the model lasts: the runtime starts a new memo for each model it adopts. The
    least recently used value goes first when it is full (detail pages' related lists,
    one statement per record, do not push out the list views everyone opens)."""

    def __init__(self, model: Any = None, size: int = 1000):
        self.model = model  # the model the values follow from
        self.size = size
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                return value
        value = make()
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value


class CountCache:
    """Total counts of list queries, kept until this process writes any record, and at most
    `ttl` seconds (writes by other processes show up within that time). A list page then
    reads its 50 rows without counting the whole filtered table again."""

    def __init__(self, ttl: float = 10.0, size: int = 2000):
        self.ttl = ttl
        self.size = size
        self.writes = 0
        self._entries: dict[Any, tuple[int, float, int]] = {}
        self._lock = threading.Lock()

    def written(self) -> None:
        with self._lock:
            self.writes += 1

    def get(self, key: Any) -> int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        writes, at, value = entry
        if writes != self.writes or time.monotonic() - at > self.ttl:
            return None
        return value

    def put(self, key: Any, writes: int, value: int) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (writes, time.monotonic(), value)


@dataclass(frozen=True)
class Context:
    """Who acts and how: passed to every engine call. `depth` counts how deep automation
    has nested saves (a rule whose action saves a record that triggers a rule, ...)."""

    runtime: Runtime
    user: User
    locale: str
    depth: int = 0

    @property
    def model(self) -> AppModel:
        return self.runtime.model

    @property
    def schema(self) -> Schema:
        return self.runtime.schema

    @property
    def db(self) -> Database:
        return self.runtime.db

    def now(self) -> datetime:
        return self.runtime.clock()

    def today(self) -> date:
        return self.now().astimezone(self.runtime.tz).date()

    # --- what this user may do (see access.py) ---

    def scope(self, object_name: str, action: str) -> str:
        """none, own, team or all: the records of `object_name` this user may `action`."""
        if self.user.role == SYSTEM_ROLE:
            return "all"
        return self.runtime.access.scope(self.user.role, object_name, action)

    def field_access(self, object_name: str, field_name: str) -> str:
        """edit, read or hidden."""
        if self.user.role == SYSTEM_ROLE:
            return "edit"
        return self.runtime.access.field_access(self.user.role, object_name, field_name)

    def hidden(self, object_name: str) -> frozenset[str]:
        if self.user.role == SYSTEM_ROLE:
            return frozenset()
        return self.runtime.access.hidden_fields(self.user.role, object_name)

    def can(self, right: str) -> bool:
        """Has this user's role the right (roles.yaml `can:`)? Administrators and the
        system have every right."""
        return self.user.role == SYSTEM_ROLE or self.runtime.access.can(self.user.role, right)

    @property
    def is_admin(self) -> bool:
        """An administrator (a role with `all: true`) or the system itself."""
        return self.user.role == SYSTEM_ROLE or self.runtime.access.is_admin(self.user.role)

    def automation(self) -> Context:
        """The context automation acts in: the same user (so the audit trail says whose save
        set it off) with the system's rights, one level deeper."""
        from dataclasses import replace

        return replace(self, user=replace(self.user, role=SYSTEM_ROLE), depth=self.depth + 1)

    def visible_fields(self) -> dict[str, dict[str, Any]]:
        """Object -> field -> definition, for what this user may read (cached per role)."""
        role = None if self.user.role == SYSTEM_ROLE else self.user.role
        return self.runtime.access.visible_fields(role)

    def can_see(self, object_name: str, field_name: str) -> bool:
        """May this user read `field_name` of the object (used for filters, sorts, paths)?"""
        return (self.scope(object_name, "read") != "none"
                and field_name not in self.hidden(object_name))


@dataclass(frozen=True)
class Relations:
    """Facts derived once from a model that the record service needs on every save."""

    references_to: dict[str, list[tuple[str, Any]]]  # object -> [(child object, lookup field)]
    rollups_from: dict[str, list[tuple[str, Any]]]  # child object -> [(parent, rollup field)]
    formula_order: dict[str, list[str]]  # object -> formula fields, dependencies first
    checked: dict[str, list[Any]]  # object -> fields with a per-value check
    defaulted: dict[str, list[Any]]  # object -> writable fields with a default on create
    anniversaries: dict[str, dict[str, str]]  # object -> hidden month-day column -> field

    @classmethod
    @lru_cache(maxsize=8)
    def of(cls, model: AppModel) -> Relations:
        from ..metadata.objects import formula_dependencies

        references: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        rollups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        order: dict[str, list[str]] = {}
        for name, obj in model.objects.items():
            for fdef in obj.fields.values():
                if fdef.type == "lookup" and fdef.to:
                    references[fdef.to].append((name, fdef))
                if fdef.rollup is not None:
                    rollups[fdef.rollup.source].append((name, fdef))
            deps = formula_dependencies(obj.fields)
            done: list[str] = []

            def visit(fname: str, deps: dict[str, set[str]] = deps,
                      done: list[str] = done) -> None:
                if fname in done:
                    return
                for dep in sorted(deps.get(fname, ())):
                    visit(dep)
                done.append(fname)

            for fname in deps:
                visit(fname)
            order[name] = done
        checked = {name: [f for f in obj.fields.values() if not f.system and not f.computed
                          and (f.required or f.max_length or f.min is not None
                               or f.max is not None or f.type in ("picklist", "multipicklist"))]
                   for name, obj in model.objects.items()}
        defaulted = {name: [f for f in obj.fields.values() if f.writable and not f.system
                            and (f.default is not None or f.type == "checkbox")]
                     for name, obj in model.objects.items()}
        anniversaries = {name: anniversary_columns(model, name) for name in model.objects}
        return cls(dict(references), dict(rollups), order, checked, defaulted, anniversaries)
