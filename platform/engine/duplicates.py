"""Duplicate records: the rules of an object's `duplicates:` metadata, checked on every save
(a block is a save error; a warning is reported, and the web form asks before saving), a
finder over a whole object, and the merge of two records into one.

Values are compared the way the record service stores them: emails lowercased, phones in
E.164. A fuzzy field (`{field: last_name, fuzzy: 90}`) is compared with rapidfuzz's ratio on
the folded text (lowercase, without accents), among the records that share the rule's exact
fields - so a rule needs at least one exact field to be checked (the exact fields are what an
index finds; the fuzzy comparison then runs over a handful of candidates).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import Connection, and_, func, select, tuple_

from ..metadata.model import AppModel, DuplicateRule, ObjectDef
from . import records
from .access import readable_ids, require, scope_condition
from .errors import BadRequest, PossibleDuplicates
from .records import object_def
from .runtime import Context, Hooks
from .sqlexpr import keyed_select
from .text import match_key

CANDIDATES = 50  # records fetched per check: more than enough for one new record


@dataclass(frozen=True)
class Match:
    """A stored record a rule says is the same. `id` and `title` are None when the user
    may not read it: they are told that a look-alike exists, never which."""

    id: int | None
    title: str | None
    fields: tuple[str, ...]  # the rule's fields
    action: str  # block | warn


def _masked(ctx: Context, conn: Connection, obj: ObjectDef, found: list[Match]) -> list[Match]:
    """`found` with the records the user may not read stripped of their id and title."""
    shown = readable_ids(ctx, conn, obj.name, [m.id for m in found])
    return [m if m.id in shown else replace(m, id=None, title=None) for m in found]


def _exact(rule: DuplicateRule) -> list[str]:
    return [m.field for m in rule.match if m.fuzzy is None]


def _fuzzy(rule: DuplicateRule) -> list[tuple[str, int]]:
    return [(m.field, m.fuzzy) for m in rule.match if m.fuzzy is not None]


def similar(a: Any, b: Any, threshold: int) -> bool:
    return fuzz.ratio(match_key(a), match_key(b)) >= threshold


def matches(ctx: Context, conn: Connection, obj: ObjectDef, record: dict[str, Any],
            rules: Iterable[DuplicateRule] | None = None) -> list[Match]:
    """The records (other than `record` itself) that a rule says are the same."""
    table = ctx.schema.table(obj.name)
    title_columns = [table.c[f] for f in obj.title_fields if f in table.c]
    found: dict[int, Match] = {}
    for rule in rules if rules is not None else obj.duplicates:
        exact = _exact(rule)
        if not exact or any(record.get(f) in (None, "", []) for f in (m.field for m in
                                                                      rule.match)):
            continue
        query = select(table.c.id, *title_columns, *(table.c[f] for f, _ in _fuzzy(rule))
                       ).where(and_(*(table.c[f] == record[f] for f in exact))
                               ).limit(CANDIDATES)
        if record.get("id") is not None:
            query = query.where(table.c.id != record["id"])
        _collect(found, obj, rule, record, conn.execute(query).mappings())
    return _masked(ctx, conn, obj, _ordered(found))


def _collect(found: dict[int, Match], obj: ObjectDef, rule: DuplicateRule,
             record: dict[str, Any], rows: Iterable[Any]) -> None:
    """Keep the candidate rows (their exact fields equal) whose fuzzy fields are close
    enough to the record's; a block rule's match wins over a warn rule's."""
    fields = tuple(m.field for m in rule.match)
    for row in rows:
        if all(row[f] is not None and similar(row[f], record[f], threshold)
               for f, threshold in _fuzzy(rule)):
            if row["id"] not in found or rule.action == "block":
                found[row["id"]] = Match(row["id"], obj.title_of(row), fields, rule.action)


def _ordered(found: dict[int, Match]) -> list[Match]:
    return sorted(found.values(), key=lambda m: (m.action != "block", m.id))


def _decide(save: Any, found: list[Match]) -> None:
    """A block rule's match becomes the save's error, naming the record; warn rules'
    matches are noted on `save.notes['duplicates']`."""
    if not found:
        return
    obj, locale = save.obj, save.ctx.locale
    block = next((m for m in found if m.action == "block"), None)
    if block is None:
        save.notes["duplicates"] = found
        return
    labels = ", ".join(obj.fields[f].label.get(locale) for f in block.fields)
    label = obj.label.get(locale)
    if block.id is None:
        save.error("_record", "duplicate_unreadable", f"another {label} (one you may not "
                   f"read) has the same {labels}", object=label, fields=labels)
        return
    save.error("_record", "duplicate", f"{label} #{block.id} '{block.title}' has the same "
               f"{labels}", id=block.id, title=block.title, object=label, fields=labels)


def _answered_by_unique(obj: ObjectDef, rule: DuplicateRule) -> bool:
    """A rule on one unique field alone: the unique check has already looked it up."""
    exact = _exact(rule)
    return not _fuzzy(rule) and len(exact) == 1 and obj.fields[exact[0]].unique


def related_counts(ctx: Context, object_name: str, record_id: int) -> list[tuple[str, int]]:
    """(child object, how many) of the records whose lookups name this one: what a merge
    moves over to the record kept."""
    out = []
    with ctx.db.read() as conn:
        for child, fdef in ctx.snap.relations.references_to.get(object_name, ()):
            table = ctx.schema.table(child)
            count = conn.execute(select(func.count()).select_from(table).where(
                table.c[fdef.name] == record_id)).scalar() or 0
            if count:
                out.append((child, count))
    return out


def install(model: AppModel, hooks: Hooks) -> None:
    """The feature: each object with duplicate rules checks them as a save's validate hook."""
    for name, obj in model.objects.items():
        if obj.duplicates:
            hooks.register(name, "validate", check)


def check(save: Any) -> None:
    """The validate hook: block rules become save errors; warn rules are noted on
    `save.notes['duplicates']` (and raise PossibleDuplicates when the caller asked).
    Rules the unique check answers are skipped when it ran (`save.unique_checked`)."""
    obj = save.obj
    if not obj.duplicates or save.errors:
        return
    fields = {m.field for rule in obj.duplicates for m in rule.match}
    if save.old is not None and not fields & set(save.changes):
        return
    rules = [r for r in obj.duplicates
             if not (save.unique_checked and _answered_by_unique(obj, r))]
    _decide(save, matches(save.ctx, save.conn, obj, save.record, rules))


def check_many(ctx: Context, conn: Connection, obj: ObjectDef, saves: list[Any]) -> None:
    """The duplicate rules for the creates of one batch against the stored records: one
    query per rule for the whole batch, then the same decisions as `check` per record.
    Runs after the batch's unique check (pipeline.check_unique)."""
    table = ctx.schema.table(obj.name)
    title_columns = [table.c[f] for f in obj.title_fields if f in table.c]
    found: dict[int, dict[int, Match]] = defaultdict(dict)
    for rule in obj.duplicates:
        exact, fuzzy = _exact(rule), _fuzzy(rule)
        fields = [m.field for m in rule.match]
        wanted = {i: tuple(s.record.get(f) for f in exact) for i, s in enumerate(saves)
                  if not s.errors and all(s.record.get(f) not in (None, "", []) for f in fields)}
        if not exact or not wanted or _answered_by_unique(obj, rule):
            continue
        keys = sorted(set(wanted.values()), key=repr)
        candidates: dict[tuple, list[Any]] = defaultdict(list)
        columns = [table.c.id, *title_columns, *(table.c[f] for f in {*exact, *dict(fuzzy)})]
        for row in conn.execute(keyed_select(table, columns, exact, keys,
                                             conn.dialect.name)).mappings():
            candidates[tuple(row[f] for f in exact)].append(row)
        for i, key in wanted.items():
            _collect(found[i], obj, rule, saves[i].record, candidates.get(key, ())[:CANDIDATES])
    every = list({m.id: m for matched in found.values() for m in matched.values()}.values())
    shown = dict(zip([m.id for m in every], _masked(ctx, conn, obj, every), strict=True))
    for i, matched in found.items():
        _decide(saves[i], [shown[m.id] for m in _ordered(matched)])


def check_batch(obj: ObjectDef, saves: list[Any], rows: list[int] | None = None) -> None:
    """Block rules among the records of one batch (an import): a later record that matches
    an earlier one of the same batch is an error, as it would be if saved one by one."""
    for rule in obj.duplicates:
        if rule.action != "block" or _fuzzy(rule) or not _exact(rule):
            continue
        fields = _exact(rule)
        seen: dict[tuple, int] = {}
        for i, save in enumerate(saves):
            if save.errors:
                continue
            key = tuple(save.record.get(f) for f in fields)
            if any(v in (None, "", []) for v in key):
                continue
            if key in seen:
                labels = ", ".join(obj.fields[f].label.get(save.ctx.locale) for f in fields)
                where = f"row {rows[seen[key]]}" if rows else \
                    f"row {seen[key] + 1} of this batch"
                save.error("_record", "duplicate", f"{where} has the same {labels}")
            else:
                seen[key] = i


# --- the finder over a whole object -----------------------------------------------------------


@dataclass(frozen=True)
class Group:
    ids: tuple[int, ...]
    fields: tuple[str, ...]


def find_groups(ctx: Context, object_name: str) -> list[Group]:
    """Groups of records that a duplicate rule of the object says are the same, among the
    records the user may read. Exact fields are grouped in SQL; fuzzy fields are compared
    within those groups."""
    obj = object_def(ctx, object_name)
    table = ctx.schema.table(obj.name)
    condition = scope_condition(ctx, table, require(ctx, obj, "read"))
    where = [] if condition is None else [condition]
    groups: list[Group] = []
    with ctx.db.read() as conn:
        for rule in obj.duplicates:
            exact = _exact(rule)
            if not exact:
                continue
            columns = [table.c[f] for f in exact]
            keys = select(*columns).where(*(c.is_not(None) for c in columns), *where) \
                .group_by(*columns).having(func.count() > 1)
            fuzzy = _fuzzy(rule)
            # one pass over the table against the (small) set of repeated keys
            rows = conn.execute(select(table.c.id, *columns, *(table.c[f] for f, _ in fuzzy))
                                .where(tuple_(*columns).in_(keys), *where)
                                .order_by(*columns, table.c.id)).all()
            blocks: dict[tuple, list[Any]] = defaultdict(list)
            for row in rows:
                blocks[tuple(row[1:1 + len(exact)])].append(row)
            fields = tuple(m.field for m in rule.match)
            for block in blocks.values():
                if not fuzzy:
                    groups.append(Group(tuple(r[0] for r in block), fields))
                    continue
                groups.extend(Group(ids, fields) for ids in _fuzzy_groups(
                    block, len(exact), fuzzy))
    return _merged(groups)


def _fuzzy_groups(block: list[Any], offset: int, fuzzy: list[tuple[str, int]]
                  ) -> list[tuple[int, ...]]:
    """Records of one exact block joined when every fuzzy field is similar enough."""
    parent = {row[0]: row[0] for row in block}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    folded = [(row[0], [match_key(row[1 + offset + k]) if row[1 + offset + k] is not None else None
                        for k in range(len(fuzzy))]) for row in block]
    for i, (a_id, a) in enumerate(folded):
        for b_id, b in folded[i + 1:]:
            if all(x is not None and y is not None and fuzz.ratio(x, y) >= threshold
                   for (x, y, (_, threshold)) in zip(a, b, fuzzy, strict=True)):
                parent[root(b_id)] = root(a_id)
    out: dict[int, list[int]] = defaultdict(list)
    for record_id, _ in folded:
        out[root(record_id)].append(record_id)
    return [tuple(sorted(ids)) for ids in out.values() if len(ids) > 1]


def _merged(groups: list[Group]) -> list[Group]:
    """Groups that share a record become one (a contact with the same email as one record
    and the same phone as another is one cluster of three)."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    fields: dict[int, set[str]] = defaultdict(set)
    for group in groups:
        first = group.ids[0]
        for record_id in group.ids[1:]:
            parent[root(record_id)] = root(first)
    for group in groups:
        fields[root(group.ids[0])].update(group.fields)
    members: dict[int, list[int]] = defaultdict(list)
    for record_id in parent:
        members[root(record_id)].append(record_id)
    return sorted((Group(tuple(sorted(ids)), tuple(sorted(fields[r])))
                   for r, ids in members.items()), key=lambda g: g.ids)


def count_duplicates(ctx: Context, object_name: str) -> int:
    """How many records have at least one duplicate (for the data quality report)."""
    return sum(len(g.ids) for g in find_groups(ctx, object_name))


def pairs(groups: Iterable[Group]) -> set[tuple[int, int]]:
    """Every pair of records the groups say are the same (for measuring the finder)."""
    out = set()
    for group in groups:
        for i, a in enumerate(group.ids):
            for b in group.ids[i + 1:]:
                out.add((min(a, b), max(a, b)))
    return out


# --- merge ------------------------------------------------------------------------------------


def merge(ctx: Context, object_name: str, survivor_id: int, merged_id: int,
          values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge record `merged_id` into `survivor_id`, in one transaction: the survivor takes
    `values` (the value chosen per field), every record pointing to the merged one (tasks,
    activities, opportunities, ...) and its notes and files move to the survivor, both
    records' audit trails say so, and the merged record is deleted (its history stays in
    the audit trail). Anything failing changes nothing."""
    obj = records.object_def(ctx, object_name)
    if survivor_id == merged_id:
        raise BadRequest("a record cannot be merged into itself")
    moved: dict[str, int] = {}
    with ctx.db.write() as conn:
        survivor = records.load(ctx, conn, obj, survivor_id, "edit")
        merged = records.load(ctx, conn, obj, merged_id, "delete")
        unknown = [k for k in values or {} if k not in obj.fields
                   or not obj.fields[k].writable]
        if unknown:
            raise BadRequest(f"cannot set {', '.join(unknown)} in a merge")
        system = ctx.automation()  # related records move whoever may edit them
        for child, fdef in ctx.snap.relations.references_to.get(object_name, ()):
            table = ctx.schema.table(child)
            ids = conn.scalars(select(table.c.id).where(table.c[fdef.name] == merged_id)
                               .order_by(table.c.id)).all()
            for child_id in ids:
                records.update(system, child, child_id, {fdef.name: survivor_id}, conn=conn)
            if ids:
                moved[f"{child}.{fdef.name}"] = len(ids)
        for name in ("mc_note", "mc_file"):
            table = ctx.schema.system[name]
            result = conn.execute(table.update().where(
                table.c.object == object_name, table.c.record_id == merged_id).values(
                record_id=survivor_id))
            if result.rowcount:
                moved[name.removeprefix("mc_") + "s"] = result.rowcount
        audit = ctx.schema.system["mc_audit"]
        now = ctx.now()
        note = {"merged": [merged_id, obj.title_of(merged)], "moved": [None, moved]}
        conn.execute(audit.insert(), [
            {"object": object_name, "record_id": survivor_id, "action": "merge",
             "changes": json.dumps(note, ensure_ascii=False, default=str),
             "user_id": ctx.user.id, "at": now},
            {"object": object_name, "record_id": merged_id, "action": "merged_into",
             "changes": json.dumps({"survivor": [survivor_id, obj.title_of(survivor)]},
                                   ensure_ascii=False, default=str),
             "user_id": ctx.user.id, "at": now}])
        records.delete(ctx, object_name, merged_id, conn=conn)
        if values:  # after the delete: a unique value taken from the merged record is free
            records.update(ctx, object_name, survivor_id, values, conn=conn)
        return {"survivor": records.get(ctx, object_name, survivor_id, conn=conn),
                "moved": moved}


__all__ = ["Group", "Match", "PossibleDuplicates", "check", "count_duplicates",
           "find_groups", "matches", "merge", "pairs", "similar"]
