"""Setup's metadata changes: overlay documents stored as versions, applied live, reverted,
picked up by a second process; archived data purged only on request."""

from __future__ import annotations

import pytest

from metacrm.engine import overlays, records, sync
from metacrm.engine.boot import open_runtime
from metacrm.engine.errors import Conflict, SchemaChangeRefused, ValidationFailed
from metacrm.engine.runtime import Runtime
from metacrm.engine.users import create_user
from metacrm.metadata import MetadataError
from metacrm.metadata.edits import Draft, EditError

from ..conftest import SHOP


@pytest.fixture
def shop(database_url) -> Runtime:
    rt = open_runtime(SHOP, database_url)
    sync.migrate(rt.db, rt.model)
    yield rt
    rt.db.dispose()


def admin(rt: Runtime):
    with rt.db.write() as conn:
        user = create_user(conn, rt.schema, "boss", role="admin")
    return rt.context(user)


def add_zalo(rt: Runtime) -> overlays.Version:
    draft = Draft(rt.app_dir, rt.overlay.data())
    draft.set_field("customer", "zalo", {"type": "phone", "label": {"en": "Zalo", "vi": "Zalo"}},
                    new=True)
    layout = draft.effective()["layouts/customer.yaml"]
    layout["form"]["sections"][0]["fields"].insert(0, "zalo")
    layout["list"]["columns"].append("zalo")
    draft.set_document("layouts/customer.yaml", layout)
    return overlays.save(rt, draft.overlays, base=rt.version, user_id=None,
                         summary="add Zalo to customer")


def test_a_field_added_in_setup_is_usable_at_once_and_by_a_new_process(shop: Runtime):
    version = add_zalo(shop)
    assert version.number == 1 and shop.version == 1
    assert "zalo" in shop.model.objects["customer"].fields
    assert shop.model.layouts["customer"].sections[0].fields[0] == "zalo"
    # the overlay is an `extend:` document, as a consultant would write it
    assert "extend: customer" in version.documents["objects/customer.yaml"]
    ctx = admin(shop)
    rec = records.create(ctx, "customer", {"name": "An", "zalo": "0903 123 456"})
    assert rec["zalo"] == "+84903123456"
    other = open_runtime(shop.app_dir, str(shop.db.url))
    assert other.version == 1 and "zalo" in other.model.objects["customer"].fields
    other.db.dispose()


def test_a_running_process_picks_up_a_new_version(shop: Runtime):
    other = open_runtime(shop.app_dir, str(shop.db.url), check_interval=0)
    assert "zalo" not in other.model.objects["customer"].fields
    add_zalo(shop)
    assert other.refresh() is True
    assert "zalo" in other.model.objects["customer"].fields
    assert other.refresh() is False  # nothing new: one cheap look
    other.db.dispose()


def test_remove_then_revert_brings_the_values_back(shop: Runtime):
    add_zalo(shop)
    ctx = admin(shop)
    rec = records.create(ctx, "customer", {"name": "Bình", "zalo": "0912345678"})
    draft = Draft(shop.app_dir, shop.overlay.data())
    draft.remove_field("customer", "zalo")
    removed = overlays.save(shop, draft.overlays, base=shop.version, user_id=ctx.user.id,
                            summary="remove Zalo")
    assert "zalo" not in shop.model.objects["customer"].fields
    assert "zalo" not in shop.model.layouts["customer"].list.columns
    assert [(a.object, a.field) for a in sync.archived(shop.db, shop.model)] == [
        ("customer", "zalo")]
    assert "zalo" not in records.get(shop.context(ctx.user), "customer", rec["id"])
    overlays.revert(shop, 1, base=removed.number, user_id=ctx.user.id)
    assert shop.version == 3
    assert records.get(shop.context(ctx.user), "customer", rec["id"])["zalo"] == "+84912345678"
    assert sync.archived(shop.db, shop.model) == []


def test_the_second_of_two_admins_gets_a_conflict(shop: Runtime):
    start = shop.version
    add_zalo(shop)
    draft = Draft(shop.app_dir, {})
    draft.set_field("customer", "vip", {"type": "checkbox"}, new=True)
    with pytest.raises(Conflict, match="add Zalo to customer"):
        overlays.save(shop, draft.overlays, base=start, user_id=None, summary="add vip")
    assert "vip" not in shop.model.objects["customer"].fields
    assert shop.version == 1


def test_a_broken_change_stores_nothing(shop: Runtime):
    draft = Draft(shop.app_dir, {})
    draft.set_field("customer", "score", {"type": "formula", "returns": "number",
                                          "expression": "nme * 2"}, new=True)
    with pytest.raises(MetadataError, match="nme"):
        overlays.save(shop, draft.overlays, base=0, user_id=None, summary="score")
    draft = Draft(shop.app_dir, {})
    draft.set_field("customer", "owner_account", {"type": "lookup", "to": "acount"}, new=True)
    with pytest.raises(MetadataError, match="acount"):
        overlays.save(shop, draft.overlays, base=0, user_id=None, summary="lookup")
    assert overlays.history(shop.db) == [] and shop.version == 0
    with pytest.raises(EditError, match="already has a field"):
        Draft(shop.app_dir, {}).set_field("customer", "city", {"type": "text"}, new=True)


def test_a_lossy_type_change_is_refused_and_changes_nothing(shop: Runtime):
    draft = Draft(shop.app_dir, {})
    draft.set_field("customer", "city", {"type": "integer"}, new=False)
    with pytest.raises(SchemaChangeRefused, match="could lose data"):
        overlays.save(shop, draft.overlays, base=0, user_id=None, summary="city number")
    assert shop.model.objects["customer"].fields["city"].type == "text"
    assert overlays.history(shop.db) == []


def test_a_new_object_is_in_the_navigation_and_can_be_removed_and_purged(shop: Runtime):
    draft = Draft(shop.app_dir, {})
    draft.add_object("vehicle", {"en": "Vehicle", "vi": "Xe"}, {"en": "Vehicles", "vi": "Xe"},
                     {"plate": {"type": "text", "required": True},
                      "customer": {"type": "lookup", "to": "customer"}}, title="{plate}")
    overlays.save(shop, draft.overlays, base=0, user_id=None, summary="vehicle")
    assert shop.model.navigation[-1] == "vehicle"
    ctx = admin(shop)
    for plate in ("51A-12345", "51B-67890"):
        records.create(ctx, "vehicle", {"plate": plate})
    draft = Draft(shop.app_dir, shop.overlay.data())
    draft.remove_object("vehicle")
    overlays.save(shop, draft.overlays, base=1, user_id=None, summary="no vehicle")
    assert "vehicle" not in shop.model.objects and "vehicle" not in shop.model.navigation
    gone = sync.archived(shop.db, shop.model)
    assert [(a.object, a.field) for a in gone] == [("vehicle", None)]
    assert sync.count_values(shop.db, "vehicle", None) == 2
    with pytest.raises(SchemaChangeRefused):
        sync.purge(shop.db, shop.model, "customer", None)
    assert sync.purge(shop.db, shop.model, "vehicle", None) == 2
    assert sync.archived(shop.db, shop.model) == []
    with pytest.raises(EditError, match="belongs to the app"):
        Draft(shop.app_dir, {}).remove_object("customer")


def test_purging_an_archived_field_says_how_many_values_it_destroys(shop: Runtime):
    add_zalo(shop)
    ctx = admin(shop)
    records.create(ctx, "customer", {"name": "A", "zalo": "0903000001"})
    records.create(ctx, "customer", {"name": "B"})
    with pytest.raises(SchemaChangeRefused, match="still a field") as refused:
        sync.purge(shop.db, shop.model, "customer", "zalo")
    assert [(r.object, r.field) for r in refused.value.refusals] == [("customer", "zalo")]
    draft = Draft(shop.app_dir, shop.overlay.data())
    draft.remove_field("customer", "zalo")
    overlays.save(shop, draft.overlays, base=1, user_id=None, summary="remove zalo")
    assert sync.count_values(shop.db, "customer", "zalo") == 1
    assert sync.purge(shop.db, shop.model, "customer", "zalo") == 1
    assert sync.archived(shop.db, shop.model) == []
    assert sync.plan(shop.db, shop.model).empty


def test_an_app_field_can_be_removed_with_remove_fields(shop: Runtime):
    draft = Draft(shop.app_dir, {})
    draft.remove_field("customer", "city")
    version = overlays.save(shop, draft.overlays, base=0, user_id=None, summary="no city")
    assert "remove_fields:\n- city" in version.documents["objects/customer.yaml"]
    assert "city" not in shop.model.objects["customer"].fields
    assert "city" not in shop.model.layouts["customer"].list.filters


def test_a_process_that_has_not_seen_the_newest_version_cannot_overwrite_it(shop: Runtime):
    stale = open_runtime(shop.app_dir, str(shop.db.url), check_interval=1e9)
    add_zalo(shop)
    draft = Draft(stale.app_dir, stale.overlay.data())  # built from version 0
    draft.set_field("customer", "vip", {"type": "checkbox"}, new=True)
    with pytest.raises(Conflict):
        overlays.save(stale, draft.overlays, base=1, user_id=None, summary="vip")
    assert overlays.latest(shop.db).number == 1
    stale.db.dispose()


def test_two_saves_at_the_same_moment_one_wins_the_other_gets_a_conflict(shop: Runtime):
    import threading

    other = open_runtime(shop.app_dir, str(shop.db.url))
    outcomes: list[str] = []

    def save(rt: Runtime, name: str) -> None:
        draft = Draft(rt.app_dir, {})
        draft.set_field("customer", name, {"type": "text"}, new=True)
        try:
            overlays.save(rt, draft.overlays, base=0, user_id=None, summary=name)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(rt, name))
               for rt, name in ((shop, "tax_code"), (other, "fax"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    latest = overlays.latest(shop.db)
    assert latest.number == 1
    winner = latest.summary
    assert sync.plan(shop.db, overlays.build(shop.app_dir, latest.documents)).empty
    assert winner in ("tax_code", "fax")
    other.db.dispose()


def test_clearing_a_setting_of_an_app_field_writes_unset(shop: Runtime, make_app_dir):
    draft = Draft(shop.app_dir, {})
    draft.set_field("customer", "city", {"type": "text", "label": {"en": "City", "vi": "Tỉnh"}},
                    new=False)  # the form sent no `index`
    version = overlays.save(shop, draft.overlays, base=0, user_id=None, summary="city")
    assert "index: false" in version.documents["objects/customer.yaml"]
    city = shop.model.objects["customer"].fields["city"]
    assert city.index is False and city.label.get("vi") == "Tỉnh"
    app = make_app_dir({"objects/customer.yaml": """
        object: customer
        fields:
          name: {type: text, max_length: 80, help: {en: Full name, vi: Họ tên}}
          city: {type: text}
    """, "layouts/customer.yaml": None}, base=SHOP)  # the layout places fields this customer lacks
    plain = Draft(str(app), {})
    plain.set_field("customer", "name", {"type": "text"}, new=False)  # both cleared
    assert plain.overlays["objects/customer.yaml"]["fields"]["name"]["unset"] == [
        "max_length", "help"]
    built = overlays.build(str(app), plain.overlays)
    name = built.objects["customer"].fields["name"]
    assert name.help is None and name.max_length is None
    bad = Draft(str(app), {})
    bad.set_field("customer", "nickname", {"type": "text", "unset": ["help"]}, new=True)
    with pytest.raises(MetadataError, match="only changes an inherited field"):
        overlays.build(str(app), bad.overlays)


def test_a_request_keeps_the_snapshot_it_started_with(shop: Runtime):
    """A Setup change in the middle of a request: the request goes on with the model, tables,
    permission answers and hooks it started with; the next one sees the change."""
    ctx = admin(shop)
    before = shop.current
    saved = []
    shop.hooks.register("customer", "after_create", lambda change: saved.append(change.record))
    add_zalo(shop)
    assert shop.current is not before and shop.current.version.number == 1
    assert ctx.snap is before and ctx.model is before.model and ctx.schema is before.schema
    assert "zalo" not in ctx.model.objects["customer"].fields
    # the old snapshot's save is whole: its fields only, its hooks and the code's hooks
    rec = records.create(ctx, "customer", {"name": "An", "city": "Huế"})
    assert "zalo" not in rec and saved[-1]["name"] == "An"
    with pytest.raises(ValidationFailed, match="zalo"):
        records.create(ctx, "customer", {"name": "Bình", "zalo": "0912345678"})
    fresh = shop.context(ctx.user)
    assert fresh.snap is shop.current
    rec = records.create(fresh, "customer", {"name": "Bình", "zalo": "0912345678"})
    assert rec["zalo"] == "+84912345678" and saved[-1]["name"] == "Bình"


def test_a_snapshot_cannot_be_changed_in_place(shop: Runtime):
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        shop.current.model = shop.model  # type: ignore[misc]
    ctx = admin(shop)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.snap = shop.current  # type: ignore[misc]
