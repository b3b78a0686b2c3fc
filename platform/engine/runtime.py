"""The runtime: one app served from one database, shared by every request. What follows from
the metadata (model, tables, permission answers, hooks) is one immutable :class:`Snapshot`,
swapped whole when Setup saves a change; the per-request :class:`Context` (who acts, in which
language, at what time) holds the snapshot the request started with."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..metadata import AppModel
from ..metadata.objects import formula_dependencies
from .access import Access
from .db import Database
from .schema import Schema, anniversary_columns, build_schema
from .types import now_utc
from .users import SYSTEM_ROLE, User, system_user
from .versions import NO_OVERLAYS, Version, build, get, latest, latest_number

Hook = Callable[..., None]
# before_save(save), validate(save): on the way in, may add errors; after_*(change): inside
# the saving transaction; rolled_back(ctx, error): after a refused save's rollback ("*" only)
EVENTS = ("before_save", "validate", "after_create", "after_update", "after_delete",
          "rolled_back")
# a feature plugs into each model: it registers its hooks for that model (workflow rules,
# duplicate rules); it is called again with every model the runtime adopts
Feature = Callable[[AppModel, "Hooks"], None]


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
    order they were registered; a snapshot's hooks (its features') run before those of
    `base` (the runtime's, registered by code and kept across models).
    """

    def __init__(self, base: Hooks | None = None) -> None:
        self._hooks: dict[tuple[str, str], list[Hook]] = defaultdict(list)
        self.base = base

    def register(self, object_name: str, event: str, hook: Hook) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event '{event}' (events: {', '.join(EVENTS)})")
        self._hooks[(object_name, event)].append(hook)

    def _for(self, object_name: str, event: str) -> list[Hook]:
        keys = [(object_name, event)] + ([("*", event)] if object_name != "*" else [])
        found = [hook for key in keys for hook in self._hooks.get(key, ())]
        return found + self.base._for(object_name, event) if self.base else found

    def run(self, object_name: str, event: str, *args: Any) -> None:
        for hook in self._for(object_name, event):
            hook(*args)

    def has(self, object_name: str, event: str) -> bool:
        return bool(self._for(object_name, event))


@dataclass(frozen=True)
class Snapshot:
    """Everything that follows from one metadata version: the model, its tables, the facts
    the record service needs, the permission answers, the hooks its features registered and
    the memo of list statements. Immutable: a reload builds a new one and the runtime swaps
    it in with one assignment; a request keeps the one it started with (`Context.snap`)."""

    model: AppModel
    schema: Schema
    version: Version
    relations: Relations
    access: Access
    hooks: Hooks
    statements: Memo
    tz: ZoneInfo
    generation: int  # counts the snapshots of one runtime: keys of what outlives one

    @classmethod
    def build(cls, model: AppModel, schema: Schema, version: Version, base: Hooks,
              features: Sequence[Feature], generation: int) -> Snapshot:
        hooks = Hooks(base)
        for feature in features:
            feature(model, hooks)
        return cls(model, schema, version, Relations.of(model), Access.for_model(model), hooks,
                   Memo(), ZoneInfo(model.timezone), generation)


class Runtime:
    """One app served from one database: the current snapshot, the database, the clock,
    and the caches shared by every request of the process."""

    def __init__(self, model: AppModel, db: Database, schema: Schema | None = None, *,
                 features: Sequence[Feature] = (), clock: Callable[[], datetime] = now_utc,
                 files_dir: Path = Path("var/files"), overlay: Version | None = None,
                 check_interval: float = 0.5):
        self.db = db
        self.clock = clock
        self.files_dir = files_dir
        self.check_interval = check_interval  # seconds between two looks at the version
        self.features = tuple(features)
        self.hooks = Hooks()  # registered by code; every snapshot's hooks run them too
        self.recent = TtlCache(ttl=2.0)
        self.counts = CountCache()
        self._checked = time.monotonic()
        self._reload_lock = threading.Lock()
        self.current = Snapshot.build(model, schema or build_schema(model),
                                      overlay or NO_OVERLAYS, self.hooks, self.features, 1)

    @classmethod
    def open(cls, app_dir: str | Path, database_url: str, **options: Any) -> Runtime:
        """The app at `app_dir` with the Setup changes stored in the database."""
        db = Database(database_url)
        version = latest(db)
        return cls(build(str(app_dir), version.documents), db, overlay=version, **options)

    # the current snapshot's parts; a request reads them from its own (Context.snap)
    @property
    def model(self) -> AppModel:
        return self.current.model

    @property
    def schema(self) -> Schema:
        return self.current.schema

    @property
    def overlay(self) -> Version:
        return self.current.version

    @property
    def version(self) -> int:
        return self.current.version.number

    @property
    def tz(self) -> ZoneInfo:
        return self.current.tz

    @property
    def app_dir(self) -> str:
        return self.model.root

    def adopt(self, model: AppModel, version: Version) -> None:
        """Serve `model` (built from metadata `version`) from now on."""
        schema = build_schema(model)
        with self._reload_lock:
            if version.number < self.version:
                return  # a slower reload of an older version: keep the newer one
            snapshot = Snapshot.build(model, schema, version, self.hooks, self.features,
                                      self.current.generation + 1)
            self.current = snapshot
            self.recent.clear()

    def refresh_due(self) -> bool:
        """Is it time for `refresh` to look at the version number again?"""
        return time.monotonic() - self._checked >= self.check_interval

    def refresh(self, *, force: bool = False) -> bool:
        """Adopt a metadata version saved by another process, if there is one. Looks at the
        version number at most every `check_interval` seconds (one indexed read)."""
        if not force and not self.refresh_due():
            return False
        self._checked = time.monotonic()
        with self.db.read() as conn:
            number = latest_number(conn)
        if number == self.version:
            return False
        version = get(self.db, number)
        model = build(self.app_dir, version.documents)
        if number != self.version:
            self.adopt(model, version)
        return True

    def context(self, user: User, locale: str | None = None, *,
                snap: Snapshot | None = None) -> Context:
        """The context of `user`, on `snap` (the request's) or the current snapshot."""
        snap = snap or self.current
        return Context(self, user, locale or user.locale or snap.model.locale, snap)

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
    """Values that follow from the model alone (the SQL statement of a list query, the API
    document of a role), kept while the model lasts: each snapshot has a memo of its own.
    The least recently used value goes first when it is full (detail pages' related lists,
    one statement per record, do not push out the list views everyone opens)."""

    def __init__(self, size: int = 1000):
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
    snap: Snapshot  # the metadata the request started with
    depth: int = 0
    by_action: bool = False  # the steps of a record action: the user's rights, and the
    #                          read-only fields the metadata's steps set (see can_edit)

    @property
    def model(self) -> AppModel:
        return self.snap.model

    @property
    def schema(self) -> Schema:
        return self.snap.schema

    @property
    def tz(self) -> ZoneInfo:
        return self.snap.tz

    @property
    def db(self) -> Database:
        return self.runtime.db

    def now(self) -> datetime:
        return self.runtime.clock()

    def today(self) -> date:
        return self.now().astimezone(self.snap.tz).date()

    # --- what this user may do (see access.py) ---

    def scope(self, object_name: str, action: str) -> str:
        """none, own, team or all: the records of `object_name` this user may `action`."""
        if self.user.role == SYSTEM_ROLE:
            return "all"
        return self.snap.access.scope(self.user.role, object_name, action)

    def field_access(self, object_name: str, field_name: str) -> str:
        """edit, read or hidden."""
        if self.user.role == SYSTEM_ROLE:
            return "edit"
        return self.snap.access.field_access(self.user.role, object_name, field_name)

    def hidden(self, object_name: str) -> frozenset[str]:
        if self.user.role == SYSTEM_ROLE:
            return frozenset()
        return self.snap.access.hidden_fields(self.user.role, object_name)

    def can(self, right: str) -> bool:
        """Has this user's role the right (roles.yaml `can:`)? Administrators and the
        system have every right."""
        return self.user.role == SYSTEM_ROLE or self.snap.access.can(self.user.role, right)

    @property
    def is_admin(self) -> bool:
        """An administrator (a role with `all: true`) or the system itself."""
        return self.user.role == SYSTEM_ROLE or self.snap.access.is_admin(self.user.role)

    def automation(self) -> Context:
        """The context automation acts in: the same user (so the audit trail says whose save
        set it off) with the system's rights, one level deeper."""
        return replace(self, user=replace(self.user, role=SYSTEM_ROLE), depth=self.depth + 1)

    def visible_fields(self) -> dict[str, dict[str, Any]]:
        """Object -> field -> definition, for what this user may read (cached per role)."""
        role = None if self.user.role == SYSTEM_ROLE else self.user.role
        return self.snap.access.visible_fields(role)

    def can_edit(self, obj: Any, field_name: str) -> bool:
        """May this user set the field (one that is writable, and editable for their role)?
        Automation (the system's rights) and a record action's steps may also set a
        read-only field: read-only binds people, not the business's rules; a computed field
        nobody sets."""
        fdef = obj.fields.get(field_name)
        if fdef is None or fdef.maintained:
            return False
        return (fdef.writable or self.user.role == SYSTEM_ROLE or self.by_action) and \
            self.field_access(obj.name, field_name) == "edit"

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
    filtered: dict[str, list[Any]]  # object -> lookups with a `filter` (checked on save)
    conditional: dict[str, list[Any]]  # object -> fields with required_if, visible_if, ...

    @classmethod
    @lru_cache(maxsize=8)
    def of(cls, model: AppModel) -> Relations:
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
                               or f.max is not None or f.kind.has_options)]
                   for name, obj in model.objects.items()}
        defaulted = {name: [f for f in obj.fields.values() if f.writable and not f.system
                            and (f.default is not None or f.kind.unset is not None)]
                     for name, obj in model.objects.items()}
        anniversaries = {name: anniversary_columns(model, name) for name in model.objects}
        filtered = {name: [f for f in obj.fields.values() if f.filter is not None]
                    for name, obj in model.objects.items()}
        conditional = {name: [f for f in obj.fields.values() if f.required_if or f.visible_if
                              or f.read_only_if] for name, obj in model.objects.items()}
        return cls(dict(references), dict(rollups), order, checked, defaulted, anniversaries,
                   filtered, conditional)
