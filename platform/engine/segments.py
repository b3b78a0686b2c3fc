"""Segments: saved, filtered lists of contacts, leads or accounts - the customers a campaign
targets - with a live count.

A segment keeps the filters of a list page (`city=Huế`, `age__gt=30`,
`lifecycle_stage__in=a,b`, `filter=<expression>`) as JSON. Its records are never stored:
the count and the members are read again each time, through the reader's own record scope,
so two users may see different counts of the same segment.

    seg = segments.create(ctx, "contact", "Huế, over 30", {"city": "Huế", "age__gt": "30"},
                          shared=True)
    segments.count(ctx, seg)                                 -> 42
    reports.run(ctx, report, where=segments.condition(ctx, seg))

A private segment is seen by its owner only; a shared one by everyone who may read its
object. Only the owner or an admin changes or deletes it; deleting never deletes records.
A campaign takes its target list from one segment of contacts or leads
(`mc_campaign_segment`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func, select

from ..metadata import expressions as ex
from . import access, query, records
from .errors import BadRequest, NotFound, PermissionDenied
from .runtime import Context
from .types import now_utc
from .users import SYSTEM_ROLE

SEGMENT_OBJECTS = ("contact", "lead", "account")  # the lists a list page saves as segments
TARGET_OBJECTS = ("contact", "lead")  # what a campaign's target list may hold
LIST_ONLY = ("sort", "page", "page_size", "view")  # list-page parameters that are no filter
ADMIN_ROLES = ("admin", SYSTEM_ROLE)
MAX_NAME = 100


@dataclass(frozen=True)
class Segment:
    id: int
    object: str
    name: str
    params: dict[str, str]
    shared: bool
    user_id: int
    created_at: datetime
    updated_at: datetime

    @property
    def query_string(self) -> str:
        """The filters as a list page's query string: `/o/contact?{query_string}`."""
        return urlencode(list(self.params.items()))


def _segment(row: Mapping[str, Any]) -> Segment:
    return Segment(id=row["id"], object=row["object"], name=row["name"],
                   params=json.loads(row["params"]), shared=bool(row["shared"]),
                   user_id=row["user_id"], created_at=row["created_at"],
                   updated_at=row["updated_at"])


def clean_params(params: Mapping[str, Any] | str) -> dict[str, str]:
    """The filters of a list page's query string (or mapping), without paging, sort and
    blanks: `"city=Huế&page=2&sort=-age"` -> `{"city": "Huế"}`. A quick search is no
    filter a report or a campaign can use, so it is refused."""
    items = parse_qsl(params.lstrip("?"), keep_blank_values=True) if isinstance(params, str) \
        else list(params.items())
    out: dict[str, str] = {}
    for key, value in items:
        value = str(value).strip()
        if key in LIST_ONLY or key == "csrf_token" or value == "":
            continue
        if key == "search":
            raise BadRequest("a segment keeps filters, not a quick search: filter a field "
                             f"instead (for example name__contains={value})",
                             parameter="search")
        out[str(key)] = value
    return out


def may_change(ctx: Context, seg: Segment) -> bool:
    """Its owner or an admin may rename, share, refilter or delete a segment."""
    return seg.user_id == ctx.user.id or ctx.user.role in ADMIN_ROLES


def require_change(ctx: Context, seg: Segment) -> None:
    if not may_change(ctx, seg):
        raise PermissionDenied(f"only its owner or an admin may change the segment "
                               f"'{seg.name}'", segment=seg.id)


def _checked(ctx: Context, object_name: str, name: str, params: dict[str, str]) -> str:
    name = name.strip()
    if not name:
        raise BadRequest("a segment needs a name", parameter="name")
    if len(name) > MAX_NAME:
        raise BadRequest(f"a segment's name has at most {MAX_NAME} characters",
                         parameter="name")
    obj = records.object_def(ctx, object_name)
    access.require(ctx, obj, "read")
    query.parse_params(ctx, obj, params)  # bad filters fail now, naming the parameter
    return name


# --- saving --------------------------------------------------------------------------------


def create(ctx: Context, object_name: str, name: str, params: Mapping[str, Any] | str, *,
           shared: bool = False) -> Segment:
    filters = clean_params(params)
    name = _checked(ctx, object_name, name, filters)
    table = ctx.schema.system["mc_segment"]
    now = now_utc()
    with ctx.db.write() as conn:
        new_id = conn.execute(table.insert().values(
            object=object_name, name=name, params=json.dumps(filters, ensure_ascii=False),
            shared=shared, user_id=ctx.user.id, created_at=now, updated_at=now
        )).inserted_primary_key[0]
    return get(ctx, new_id)


def update(ctx: Context, segment_id: int, *, name: str | None = None,
           params: Mapping[str, Any] | str | None = None,
           shared: bool | None = None) -> Segment:
    """Rename, share or unshare, change the filters (what is None stays)."""
    seg = get(ctx, segment_id)
    require_change(ctx, seg)
    filters = seg.params if params is None else clean_params(params)
    checked = _checked(ctx, seg.object, seg.name if name is None else name, filters)
    changed = replace(seg, name=checked, params=filters, updated_at=now_utc(),
                      shared=seg.shared if shared is None else shared)
    table = ctx.schema.system["mc_segment"]
    with ctx.db.write() as conn:
        conn.execute(table.update().where(table.c.id == seg.id).values(
            name=changed.name, params=json.dumps(filters, ensure_ascii=False),
            shared=changed.shared, updated_at=changed.updated_at))
    return changed  # not read back: an admin who unshares another's segment no longer sees it


def delete(ctx: Context, segment_id: int) -> None:
    """Delete the segment and the campaigns' links to it; no record is touched."""
    seg = get(ctx, segment_id)
    require_change(ctx, seg)
    table = ctx.schema.system["mc_segment"]
    links = ctx.schema.system["mc_campaign_segment"]
    with ctx.db.write() as conn:
        conn.execute(links.delete().where(links.c.segment_id == seg.id))
        conn.execute(table.delete().where(table.c.id == seg.id))


# --- reading -------------------------------------------------------------------------------


def _visible_rows(ctx: Context) -> Any:
    table = ctx.schema.system["mc_segment"]
    readable = [n for n in ctx.model.objects if ctx.scope(n, "read") != "none"]
    return select(table).where(
        table.c.object.in_(readable),
        (table.c.user_id == ctx.user.id) | table.c.shared.is_(True))


def list_for(ctx: Context, object_name: str | None = None) -> list[Segment]:
    """The segments the user may see (of one object, or of all), by object and name."""
    table = ctx.schema.system["mc_segment"]
    statement = _visible_rows(ctx)
    if object_name is not None:
        statement = statement.where(table.c.object == object_name)
    with ctx.db.read() as conn:
        rows = conn.execute(statement.order_by(table.c.object, table.c.name, table.c.id)
                            ).mappings().all()
    return [_segment(r) for r in rows]


def get(ctx: Context, segment_id: int) -> Segment:
    """A segment the user may see: NotFound for another user's private one."""
    table = ctx.schema.system["mc_segment"]
    with ctx.db.read() as conn:
        row = conn.execute(_visible_rows(ctx).where(table.c.id == segment_id)
                           ).mappings().first()
    if row is None:
        raise NotFound(f"no segment with id {segment_id}")
    return _segment(row)


def condition(ctx: Context, seg: Segment) -> ex.Node | None:
    """The segment's filters as one expression (None: no filter, every record), checked
    against the fields this user may read. Bad filters raise BadRequest naming the
    parameter."""
    obj = records.object_def(ctx, seg.object)
    return query.parse_params(ctx, obj, seg.params)


def _list_query(ctx: Context, seg: Segment, page: int, page_size: int) -> query.ListQuery:
    layout = ctx.model.layouts.get(seg.object)
    sort = layout.list.sort if layout is not None else ()
    return query.ListQuery(where=condition(ctx, seg), sort=tuple(sort), page=page,
                           page_size=page_size)


def count(ctx: Context, seg: Segment) -> int:
    """How many records the segment holds now, of those this user may read."""
    return query.count_records(ctx, seg.object, condition(ctx, seg))


def members(ctx: Context, seg: Segment, page: int = 1, page_size: int = 50) -> query.Page:
    """One page of the segment's records (in the list's sort), with the live total."""
    return query.list_records(ctx, seg.object, _list_query(ctx, seg, page, page_size))


# --- campaign targets ----------------------------------------------------------------------


def _campaign(ctx: Context, campaign_id: int, action: str) -> dict[str, Any]:
    obj = records.object_def(ctx, "campaign")
    campaign = records.get(ctx, "campaign", campaign_id)
    if action != "read":
        scope = access.require(ctx, obj, action)
        with ctx.db.read() as conn:
            if not access.in_scope(ctx, conn, campaign, scope):
                raise PermissionDenied("your role may not change this campaign",
                                       object="campaign", action=action)
    return campaign


def target_segment(ctx: Context, campaign_id: int) -> Segment | None:
    """The segment a campaign targets. The link makes the list the campaign's: whoever may
    read the campaign sees which segment it is, even a private one of its author."""
    _campaign(ctx, campaign_id, "read")
    table = ctx.schema.system["mc_segment"]
    links = ctx.schema.system["mc_campaign_segment"]
    with ctx.db.read() as conn:
        row = conn.execute(select(table).join(links, links.c.segment_id == table.c.id).where(
            links.c.campaign_id == campaign_id)).mappings().first()
    return _segment(row) if row is not None else None


def set_target(ctx: Context, campaign_id: int, segment_id: int | None) -> Segment | None:
    """Target a segment of contacts or leads from the campaign (None: no target list)."""
    _campaign(ctx, campaign_id, "edit")
    seg = get(ctx, segment_id) if segment_id is not None else None
    if seg is not None and seg.object not in TARGET_OBJECTS:
        raise BadRequest(f"a campaign targets contacts or leads, not {seg.object} "
                         f"(segment '{seg.name}')", parameter="segment")
    links = ctx.schema.system["mc_campaign_segment"]
    with ctx.db.write() as conn:
        conn.execute(links.delete().where(links.c.campaign_id == campaign_id))
        if seg is not None:
            conn.execute(links.insert().values(campaign_id=campaign_id, segment_id=seg.id))
    return seg


def campaigns_of(ctx: Context, seg: Segment) -> dict[int, str]:
    """The campaigns (id -> title) that target the segment, of those the user may read."""
    links = ctx.schema.system["mc_campaign_segment"]
    if "campaign" not in ctx.model.objects:
        return {}
    with ctx.db.read() as conn:
        ids = conn.scalars(select(links.c.campaign_id).where(
            links.c.segment_id == seg.id)).all()
        return query.titles(ctx, "campaign", list(ids), conn=conn)


def campaign_uses(ctx: Context, seg: Segment) -> int:
    """How many campaigns link to the segment (readable or not): what deleting it undoes."""
    links = ctx.schema.system["mc_campaign_segment"]
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(links).where(
            links.c.segment_id == seg.id)).scalar_one()


__all__ = ["TARGET_OBJECTS", "Segment", "campaign_uses",
           "campaigns_of", "clean_params", "condition", "count", "create", "delete", "get",
           "list_for", "may_change", "members", "require_change",
           "set_target", "target_segment", "update"]
