"""What the tightened checks must not take away: a workflow rule names records and users
as the business does (not as the user whose save set it off), a user takes a record for
themselves without the assign right, and a unique value taken by a record the user may not
read is refused without naming that record."""

from __future__ import annotations

import pytest

from metacrm.engine import records
from metacrm.engine.errors import ValidationFailed

REGIONS = {
    "app.yaml": "app: t\nlabel: {en: T, vi: T}\n",
    "objects/region.yaml": """
        object: region
        label: {en: Region, vi: Vùng}
        title: "{name}"
        fields:
          name: {type: text, label: {en: Name, vi: Tên}, required: true}
    """,
    "objects/deal.yaml": """
        object: deal
        label: {en: Deal, vi: Thương vụ}
        title: "{name}"
        fields:
          name: {type: text, label: {en: Name, vi: Tên}, required: true}
          code: {type: text, label: {en: Code, vi: Mã}, unique: true}
          region: {type: lookup, to: region, label: {en: Region, vi: Vùng}}
          reviewer: {type: user, label: {en: Reviewer, vi: Người duyệt}}
    """,
    "workflows/deal.yaml": """
        workflow: north_by_default
        label: {en: North by default, vi: Mặc định miền Bắc}
        object: deal
        when: created
        if: "is_blank(region)"
        do:
          - set: {region: "Miền Bắc", reviewer: "boss"}
    """,
    "roles.yaml": """
        roles:
          admin: {label: {en: Admin, vi: Quản trị}, all: true}
          seller:
            label: {en: Seller, vi: Người bán}
            objects:
              deal: {create: true, read: own, edit: all, delete: none}
              region: {read: own}
    """,
}


@pytest.fixture
def shop(make_site, make_app_dir):
    site = make_site(make_app_dir(REGIONS))
    site.user("admin")
    site.user("boss", role="admin")
    site.user("an", role="seller")
    site.user("binh", role="seller")
    records.create(site.ctx("admin"), "region", {"name": "Miền Bắc"})
    return site


def test_a_rule_names_a_record_and_a_user_the_user_may_not(shop):
    deal = records.create(shop.ctx("an"), "deal", {"name": "Bán máy lọc"})
    assert deal["region"] is not None
    assert deal["reviewer"] == shop.ctx("boss").user.id
    with pytest.raises(ValidationFailed):  # the user themselves may not name that region
        records.create(shop.ctx("an"), "deal", {"name": "Khác", "region": "Miền Bắc"})


def test_a_user_takes_a_record_for_themselves(make_site):
    site = make_site()  # the default CRM: support agents read and edit every case
    site.user("lan", role="sales_rep")
    site.user("duc", role="support_agent")
    theirs = records.create(site.ctx("lan"), "case", {"subject": "Máy lọc kêu to"})
    duc = site.ctx("duc")
    taken = records.update(duc, "case", theirs["id"], {"owner": duc.user.id})
    assert taken["owner"] == duc.user.id
    with pytest.raises(ValidationFailed) as caught:  # giving it away is another matter
        records.update(duc, "case", theirs["id"], {"owner": "lan"})
    assert caught.value.errors["owner"][0].code == "assign"


def test_a_unique_value_of_an_unreadable_record_is_refused_without_naming_it(shop):
    hidden = records.create(shop.ctx("binh"), "deal", {"name": "Của Bình", "code": "HD-01"})
    with pytest.raises(ValidationFailed) as caught:
        records.create(shop.ctx("an"), "deal", {"name": "Của An", "code": "HD-01"})
    error = caught.value.errors["code"][0]
    assert error.code == "unique" and f"#{hidden['id']}" not in error.message
    assert "other" not in (error.params or {})
    with pytest.raises(ValidationFailed) as named:  # the owner is told which record
        records.create(shop.ctx("binh"), "deal", {"name": "Lại", "code": "HD-01"})
    assert f"#{hidden['id']}" in named.value.errors["code"][0].message
