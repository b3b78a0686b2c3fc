"""Issue 15, item 4: conditional fields, enforced on every save by people (forms, the API,
imports). On the estates app a deposit paid by transfer needs its bank account, which is
out of sight (neither asked for nor changed) for cash; a cancelled deposit needs its reason;
a confirmed deposit's amount is not changed by people, though MetaCRM's rules still may."""

from __future__ import annotations

import pytest

from metacrm.engine import records
from metacrm.engine.errors import ValidationFailed
from metacrm.metadata import MetadataError, load
from tests.conftest import ESTATES


@pytest.fixture
def estate(estates):
    rt, ctx = estates
    hill = records.create(ctx, "project", {"name": "Đồi Thông"})["id"]
    units = [records.create(ctx, "unit", {"code": f"A-{n}", "project": hill})["id"]
             for n in range(4)]
    return rt, ctx, hill, units


def codes(exc: ValidationFailed, field: str) -> list[str]:
    return [e.code for e in exc.errors.get(field, [])]


def test_a_transfer_needs_its_bank_account_which_cash_never_keeps(estate):
    rt, ctx, hill, units = estate
    with pytest.raises(ValidationFailed) as missing:
        records.create(ctx, "deposit", {"customer": "An", "project": hill, "unit": units[0],
                                        "payment_method": "transfer"})
    assert codes(missing.value, "bank_account") == ["required"]
    assert "when payment_method == 'transfer'" in missing.value.errors["bank_account"][0].message
    cash = records.create(ctx, "deposit", {"customer": "An", "project": hill, "unit": units[0],
                                           "payment_method": "cash",
                                           "bank_account": "0071 0000 1234"})
    assert records.get(ctx, "deposit", cash["id"])["bank_account"] is None  # out of sight
    paid = records.create(ctx, "deposit", {"customer": "Bình", "project": hill,
                                           "unit": units[1], "payment_method": "transfer",
                                           "bank_account": "0071 0000 5678"})
    # switching to cash: what is typed in the account is dropped, the stored one stays
    records.update(ctx, "deposit", paid["id"], {"payment_method": "cash", "bank_account": "x"})
    assert records.get(ctx, "deposit", paid["id"])["bank_account"] == "0071 0000 5678"


def test_a_cancelled_deposit_needs_a_reason_and_a_confirmed_amount_stays(estate):
    rt, ctx, hill, units = estate
    deposit = records.create(ctx, "deposit", {"customer": "Cường", "project": hill,
                                              "unit": units[2], "amount": 100})
    with pytest.raises(ValidationFailed) as no_reason:
        records.update(ctx, "deposit", deposit["id"], {"status": "cancelled"})
    assert codes(no_reason.value, "cancel_reason") == ["required"]
    records.update(ctx, "deposit", deposit["id"], {"status": "confirmed", "amount": 200})
    with pytest.raises(ValidationFailed) as locked:
        records.update(ctx, "deposit", deposit["id"], {"amount": 300})
    assert codes(locked.value, "amount") == ["read_only_now"]
    # the same save may leave the confirmed state and change the amount? no: it was confirmed
    with pytest.raises(ValidationFailed):
        records.update(ctx, "deposit", deposit["id"], {"status": "draft", "amount": 300})
    records.update(ctx, "deposit", deposit["id"], {"status": "draft"})
    records.update(ctx, "deposit", deposit["id"], {"amount": 300})
    # MetaCRM's own saves are not people's typing
    records.update(rt.system_context(), "deposit", deposit["id"],
                   {"status": "confirmed", "amount": 400})
    assert records.get(ctx, "deposit", deposit["id"])["amount"] == 400


def test_the_api_refuses_alike(estate, make_api):
    rt, ctx, hill, units = estate
    api = make_api(ESTATES, username="robot")
    answer = api.post("/api/v1/deposit", json={"customer": "Dung", "project": hill,
                                               "unit": units[3], "payment_method": "transfer"})
    assert answer.status_code == 422
    assert "bank_account" in answer.json()["error"]["fields"]


@pytest.mark.parametrize("key, text, message", [
    ("visible_if", "payment_metod == 'transfer'", "did you mean 'payment_method'"),
    ("required_if", "payment_method ==", "ends too early"),
])
def test_a_condition_is_checked_at_load(make_app_dir, key, text, message):
    deposit = (ESTATES / "objects" / "deposit.yaml").read_text(encoding="utf-8").replace(
        f"{key}: \"payment_method == 'transfer'\"", f"{key}: \"{text}\"")
    with pytest.raises(MetadataError) as refused:
        load(make_app_dir({"objects/deposit.yaml": deposit}, base=ESTATES))
    assert f"fields.bank_account.{key}" in str(refused.value)
    assert message in str(refused.value)


def test_a_units_code_is_unique_within_its_project(estate):
    """Issue 15, item 7: unique_together, on one save and across an import's batch."""
    rt, ctx, hill, units = estate
    lake = records.create(ctx, "project", {"name": "Hồ Tây"})["id"]
    assert records.create(ctx, "unit", {"code": "A-0", "project": lake})["id"]  # another project
    with pytest.raises(ValidationFailed) as twice:
        records.create(ctx, "unit", {"code": "A-0", "project": hill})
    assert codes(twice.value, "code") == ["unique_together"]
    assert "has the same project, code" in twice.value.errors["code"][0].message
    moved = records.create(ctx, "unit", {"code": "B-9", "project": lake})
    with pytest.raises(ValidationFailed) as clash:  # moving it where its code is taken
        records.update(ctx, "unit", moved["id"], {"code": "A-1", "project": hill})
    assert "unique_together" in codes(clash.value, "code") + codes(clash.value, "project")
    with pytest.raises(ValidationFailed) as batch:
        records.bulk_create(ctx, "unit", [{"code": "C-1", "project": hill},
                                          {"code": "C-1", "project": hill}])
    assert [e.message for e in batch.value.errors["code"]] == [
        "the same project, code are also in row 1 of this batch"]


def test_a_validation_message_shows_beside_its_field(estate):
    rt, ctx, hill, units = estate
    with pytest.raises(ValidationFailed) as refused:
        records.create(ctx, "deposit", {"customer": "Em", "project": hill, "unit": units[0],
                                        "status": "confirmed"})
    assert [e.message for e in refused.value.errors["amount"]] == [
        "A confirmed deposit needs its amount"]
