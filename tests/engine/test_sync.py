"""Schema sync: plan, migrate, archive and restore, refusals. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from metacrm.engine import records, sync
from metacrm.engine.db import Database
from metacrm.engine.errors import SchemaChangeRefused
from metacrm.engine.users import create_user
from metacrm.metadata import load

APP = "app: shop\n"


def _object(fields: str, extra: str = "") -> str:
    return "object: item\ntitle: \"{name}\"\nfields:\n  name: {type: text}\n" + fields + extra


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _migrate(db, make_app_dir, fields: str, extra: str = ""):
    model = load(make_app_dir({"app.yaml": APP, "objects/item.yaml": _object(fields, extra)}))
    return model, sync.migrate(db, model)


def test_empty_database_plan_then_migrate(db, make_app_dir):
    item = _object("  code: {type: text, unique: true}\n")
    model = load(make_app_dir({"app.yaml": APP, "objects/item.yaml": item}))
    before = sync.plan(db, model)
    actions = [s.action for s in before.steps]
    assert actions[:2] == ["create_system_tables", "create_table"]
    assert "item(code) unique" in str(before)
    sync.migrate(db, model)
    assert sync.plan(db, model).empty
    inspector = sa.inspect(db.engine)
    assert {"id", "name", "code", "owner", "created_at", "version"} <= {
        c["name"] for c in inspector.get_columns("item")}
    assert any(i["unique"] and i["column_names"] == ["code"]
               for i in inspector.get_indexes("item"))


def test_add_remove_and_restore_a_field_keeps_every_value(db, make_app_dir):
    rows = 100_000
    model, _ = _migrate(db, make_app_dir, "  size: {type: integer}\n")
    item = sa.table("item", sa.column("name"), sa.column("size"), sa.column("version"))
    with db.write() as conn:
        conn.execute(item.insert(), [{"name": f"n{i}", "size": i, "version": 1}
                                     for i in range(rows)])
    # a new field on a table of 100,000 rows
    model, plan = _migrate(db, make_app_dir, "  size: {type: integer}\n  color: {type: text}\n")
    assert [s.action for s in plan.steps] == ["add_column"]
    color = sa.table("item", sa.column("color"), sa.column("id"))
    with db.write() as conn:
        conn.execute(color.update().values(color=sa.func.upper(sa.literal_column("name"))))
    # remove it: archived, not dropped
    model, plan = _migrate(db, make_app_dir, "  size: {type: integer}\n")
    assert [s.action for s in plan.steps] == ["archive_column"]
    assert "kept" in str(plan)
    assert "color" in {c["name"] for c in sa.inspect(db.engine).get_columns("item")}
    # ... and back: every value intact
    model, plan = _migrate(db, make_app_dir, "  size: {type: integer}\n  color: {type: text}\n")
    assert [s.action for s in plan.steps] == ["restore_column"]
    with db.read() as conn:
        total, good = conn.execute(sa.text(
            "select count(*), sum(case when color = upper(name) and size is not null then 1 "
            "else 0 end) from item")).one()
    assert total == rows and good == rows


def test_type_change_that_could_lose_data_is_refused(db, make_app_dir):
    _migrate(db, make_app_dir, "  size: {type: text}\n")
    with db.write() as conn:
        conn.execute(sa.text("insert into item (name, size, version) values ('a', 'big', 1)"))
    model = load(make_app_dir({"app.yaml": APP,
                               "objects/item.yaml": _object("  size: {type: integer}\n")}))
    plan = sync.plan(db, model)
    assert plan.refused and "could lose data" in plan.refused[0].reason
    assert "Add a new field" in plan.refused[0].reason
    with pytest.raises(SchemaChangeRefused, match="item.size") as refused:
        sync.migrate(db, model)
    assert [(r.object, r.field) for r in refused.value.refusals] == [("item", "size")]
    assert refused.value.to_json()["error"]["refused"][0]["field"] == "size"
    with db.read() as conn:
        assert conn.execute(sa.text("select size from item")).scalar() == "big"


def test_widening_integer_to_number_keeps_values(db, make_app_dir):
    _migrate(db, make_app_dir, "  size: {type: integer}\n")
    with db.write() as conn:
        conn.execute(sa.text("insert into item (name, size, version) values ('a', 42, 1)"))
    model, plan = _migrate(db, make_app_dir, "  size: {type: number, scale: 2}\n")
    assert [s.action for s in plan.steps] == ["alter_column"]
    with db.read() as conn:
        assert float(conn.execute(sa.text("select size from item")).scalar()) == 42.0


def test_unique_index_refused_while_duplicates_exist(db, make_app_dir):
    _migrate(db, make_app_dir, "  code: {type: text}\n")
    with db.write() as conn:
        conn.execute(sa.text("insert into item (name, code, version) values "
                             "('a', 'X1', 1), ('b', 'X1', 1), ('c', 'X2', 1)"))
    model = load(make_app_dir({"app.yaml": APP, "objects/item.yaml": _object(
        "  code: {type: text, unique: true}\n")}))
    plan = sync.plan(db, model)
    assert len(plan.refused) == 1
    assert "cannot become unique" in plan.refused[0].reason and "'X1'" in plan.refused[0].reason


def test_unique_together_becomes_a_unique_index_once_no_pair_repeats(db, make_app_dir):
    fields = "  code: {type: text}\n  zone: {type: text}\n"
    _migrate(db, make_app_dir, fields)
    with db.write() as conn:
        conn.execute(sa.text("insert into item (name, code, zone, version) values "
                             "('a', 'X1', 'N', 1), ('b', 'X1', 'N', 1), ('c', 'X1', 'S', 1)"))
    together = "unique_together:\n  - [zone, code]\n"
    model = load(make_app_dir({"app.yaml": APP, "objects/item.yaml": _object(fields, together)}))
    refused = sync.plan(db, model).refused
    assert len(refused) == 1 and "item.zone, code cannot become unique" in refused[0].reason
    with db.write() as conn:
        conn.execute(sa.text("update item set zone = 'W' where name = 'b'"))
    sync.migrate(db, model)
    assert any(i["unique"] and i["column_names"] == ["zone", "code"]
               for i in sa.inspect(db.engine).get_indexes("item"))


def test_new_option_and_new_object_and_index(db, make_app_dir):
    _migrate(db, make_app_dir, "  color: {type: picklist, options: [red]}\n")
    app = make_app_dir({
        "app.yaml": APP,
        "objects/item.yaml": _object("  color: {type: picklist, options: [red, blue]}\n",
                                     "indexes:\n  - [color, name]\n"),
        "objects/shelf.yaml": "object: shelf\nfields:\n  label: {type: text}\n"
                              "  item: {type: lookup, to: item}\n",
    })
    model = load(app)
    plan = sync.migrate(db, model)
    text = str(plan)
    assert "item.color: options + blue" in text
    assert "create_table    shelf" in text
    assert "item(color, name)" in text
    assert sync.plan(db, model).empty


def test_removed_object_keeps_its_table_and_records(db, make_app_dir, database_url):
    app_v1 = make_app_dir({"app.yaml": APP, "objects/item.yaml": _object(""),
                           "objects/shelf.yaml": "object: shelf\nfields:\n  label: {type: text}\n"})
    model = load(app_v1)
    sync.migrate(db, model)
    from metacrm.engine.boot import new_runtime
    from metacrm.engine.schema import build_schema

    rt = new_runtime(model=model, db=db, schema=build_schema(model))
    with db.write() as conn:
        user = create_user(conn, rt.schema, "u", role="admin")
    records.create(rt.context(user), "shelf", {"label": "A1"})
    model_v2 = load(make_app_dir({"app.yaml": APP, "objects/item.yaml": _object("")}))
    plan = sync.migrate(db, model_v2)
    assert "shelf.label leaves the model with its object" in str(plan)
    with db.read() as conn:
        assert conn.execute(sa.text("select label from shelf")).scalar() == "A1"
    plan = sync.migrate(db, model)  # the object comes back
    assert [s.action for s in plan.steps] == ["restore_column"]


def test_quick_search_index_and_a_change_of_search_fields(db, make_app_dir):
    from metacrm.engine import query
    from metacrm.engine.boot import new_runtime
    from metacrm.engine.schema import build_schema
    from metacrm.engine.search import search_index_exists

    def app(search: str):
        return load(make_app_dir({"app.yaml": APP, "objects/item.yaml": (
            f"object: item\nsearch: [{search}]\nfields:\n  name: {{type: text}}\n"
            "  code: {type: text}\n")}))

    model = app("name")
    plan = sync.migrate(db, model)
    assert "item quick-search index (name)" in str(plan)
    with db.read() as conn:
        assert search_index_exists(conn, "item")
    rt = new_runtime(model=model, db=db, schema=build_schema(model))
    with db.write() as conn:
        ctx = rt.context(create_user(conn, rt.schema, "u", role="admin"))
    records.create(ctx, "item", {"name": "Bình lọc nước Kangaroo", "code": "KG-100"})
    records.create(ctx, "item", {"name": "Quạt điều hòa", "code": "QD-7"})

    def found(runtime, text):
        context = runtime.context(ctx.user)
        return [r["name"] for r in query.list_records(context, "item",
                                                      query.ListQuery(search=text)).items]

    assert found(rt, "binh loc") == ["Bình lọc nước Kangaroo"]
    assert found(rt, "ho") == ["Quạt điều hòa"]  # shorter than a trigram: still found
    assert found(rt, "kg-100") == []
    wider = app("name, code")
    plan = sync.migrate(db, wider)
    assert "item: quick search now covers name, code" in str(plan)
    rt2 = new_runtime(model=wider, db=db, schema=build_schema(wider))
    assert found(rt2, "kg-100") == ["Bình lọc nước Kangaroo"]
    assert sync.plan(db, wider).empty


def test_tracking_changes_of_an_existing_field_adds_its_column(db, make_app_dir):
    """track_changes: true on a field of a table that has rows: <field>_changed_at (kept by
    MetaCRM) is added with its index, the rows keep their values, and a second plan is
    empty."""
    _migrate(db, make_app_dir, "  stage: {type: text}\n")
    with db.write() as conn:
        conn.execute(sa.table("item", sa.column("name"), sa.column("stage"),
                              sa.column("version"), sa.column("updated_at")).insert(),
                     [{"name": "a", "stage": "open", "version": 1,
                       "updated_at": datetime(2026, 5, 1, 8, 0)}])
    model, plan = _migrate(db, make_app_dir, "  stage: {type: text, track_changes: true}\n")
    steps = [(s.action, s.field) for s in plan.steps]
    assert ("add_column", "stage_changed_at") in steps
    assert ("create_index", "ix_item_stage_changed_at") in steps
    assert sync.plan(db, model).empty
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("item")}
    assert "stage_changed_at" in columns
    with db.read() as conn:  # until it changes: the record's last update at most
        stage, changed, updated = conn.execute(sa.text(
            "select stage, stage_changed_at, updated_at from item")).one()
    assert stage == "open" and changed is not None and changed == updated
