"""Rollup fields: a parent's figures (count, sum, avg, min, max of its children) kept
current by the record service whenever a child is written, in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, select

from ..metadata.model import FieldDef, ObjectDef
from .coerce import Invalid, coerce_result
from .pipeline import Save, compute_formulas
from .rows import fetch, to_row
from .runtime import Context
from .sqlexpr import Joins, SqlCompiler


def update_rollups(ctx: Context, conn: Connection, child: ObjectDef,
                   old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
    """Recompute the rollup fields of every parent that the child's save touches."""
    for parent_name, fdef in ctx.snap.relations.rollups_from.get(child.name, []):
        rollup = fdef.rollup
        parents = {r.get(rollup.via) for r in (old, new) if r is not None} - {None}
        for parent_id in parents:
            _recompute_rollup(ctx, conn, parent_name, fdef, parent_id)


def _recompute_rollup(ctx: Context, conn: Connection, parent_name: str, fdef: FieldDef,
                      parent_id: int) -> None:
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
    conn.execute(table.update().where(table.c.id == parent_id).values(
        to_row(parent, save.changes)))
