"""Rollup fields: a parent's figures (count, sum, avg, min, max of its children) kept
current by the record service whenever a child is written, in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, select

from ..metadata.model import FieldDef, ObjectDef
from .coerce import Invalid, coerce_result
from .errors import ValidationFailed
from .pipeline import Save, check_values, compute_formulas
from .rows import fetch, to_row, write_audit
from .runtime import Change, Context
from .sqlexpr import Joins, SqlCompiler

MAX_DEPTH = 8  # a chain of parents whose totals move each other's (account > account > ...)


def update_rollups(ctx: Context, conn: Connection, child: ObjectDef,
                   old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *,
                   depth: int = 0) -> None:
    """Recompute the rollup fields of every parent that the child's save touches."""
    for parent_name, fdef in ctx.snap.relations.rollups_from.get(child.name, []):
        rollup = fdef.rollup
        parents = {r.get(rollup.via) for r in (old, new) if r is not None} - {None}
        for parent_id in parents:
            _recompute_rollup(ctx, conn, parent_name, fdef, parent_id, depth)


def _recompute_rollup(ctx: Context, conn: Connection, parent_name: str, fdef: FieldDef,
                      parent_id: int, depth: int) -> None:
    rollup = fdef.rollup
    assert rollup is not None
    joins = Joins(ctx.model, ctx.schema.table, rollup.source)
    child_table = joins.base
    measure = (func.count() if rollup.measure == "count"
               else getattr(func, rollup.measure)(child_table.c[rollup.measure_field]))
    query = select(measure).select_from(joins.select_from()).where(
        child_table.c[rollup.via] == parent_id)
    if rollup.filter is not None:
        compiler = SqlCompiler(joins, today=ctx.today(), now=ctx.now())
        query = query.where(compiler.condition(rollup.filter))
    value = conn.execute(query).scalar()
    try:
        value = coerce_result(fdef, value) if value is not None else (
            0 if rollup.measure == "count" else None)
    except Invalid:
        value = None  # a sum beyond what a record holds reads as blank, as a failed formula

    parent = ctx.model.objects[parent_name]
    table = ctx.schema.table(parent_name)
    old = fetch(conn, table, parent, parent_id)
    if old is None or old.get(fdef.name) == value:
        return
    save = Save(ctx, conn, parent, old, changes={fdef.name: value})
    compute_formulas(save)
    hooks = ctx.snap.hooks
    if hooks.has(parent_name, "before_save"):  # the parent's rules see their new figure
        hooks.run(parent_name, "before_save", save)
        save.changes = {k: v for k, v in save.changes.items() if old.get(k) != v}
        compute_formulas(save)
        check_values(save)
        if save.errors:
            raise ValidationFailed(save.errors)
    conn.execute(table.update().where(table.c.id == parent_id).values(
        to_row(parent, save.changes)))
    record = {**old, **save.changes}
    ruled = {k: [old.get(k), v] for k, v in save.changes.items()
             if not parent.fields[k].computed}
    if ruled:  # what the parent's rules set is a change like any other: in its history
        write_audit(ctx, conn, parent_name, parent_id, "update", ruled)
    if hooks.has(parent_name, "after_update"):
        hooks.run(parent_name, "after_update",
                  Change(ctx, conn, parent, "updated", record, old, save.notes))
    if depth < MAX_DEPTH and _read_by_rollups(ctx, parent_name, set(save.changes)):
        update_rollups(ctx, conn, parent, old, record, depth=depth + 1)  # the grandparents


def _read_by_rollups(ctx: Context, object_name: str, changed: set[str]) -> bool:
    """Does a rollup over `object_name` read one of `changed` (a filtered one may read
    any field)?"""
    return any(f.rollup is not None and (f.rollup.filter is not None
                                         or f.rollup.measure_field in changed)
               for _, f in ctx.snap.relations.rollups_from.get(object_name, []))
