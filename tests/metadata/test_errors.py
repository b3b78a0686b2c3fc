"""Broken metadata: each case gives a clear message naming the file, the line and the path,
and never a traceback. The base app is valid; each case replaces one or two files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from metacrm.metadata import MetadataError, load

_BASE = {
    "app.yaml": """
        app: base
        label: {en: Base, vi: Cơ sở}
        navigation: [account, contact, reports]
    """,
    "objects/account.yaml": """
        object: account
        title: "{name}"
        fields:
          name: {type: text, required: true}
          industry: {type: picklist, options: [retail, finance]}
    """,
    "objects/contact.yaml": """
        object: contact
        title: "{first_name} {last_name}"
        search: [first_name, last_name, email]
        fields:
          first_name: {type: text}
          last_name: {type: text, required: true}
          email: {type: email, unique: true}
          birthdate: {type: date}
          account: {type: lookup, to: account}
          stage: {type: picklist, default: lead, options: [lead, customer]}
          age: {type: formula, returns: integer, expression: "years_between(birthdate, today())"}
    """,
    "layouts/contact.yaml": """
        layout: contact
        form:
          sections:
            - label: {en: Identity, vi: Nhận dạng}
              fields: [first_name, last_name, email]
        list:
          columns: [last_name, first_name, email]
          sort: [last_name]
    """,
    "roles.yaml": """
        roles:
          admin: {all: true}
          rep:
            objects:
              contact: {create: true, read: all, edit: own}
    """,
    "workflows/rules.yaml": """
        workflow: welcome
        object: contact
        when: created
        do:
          - set: {stage: lead}
    """,
    "reports/sales.yaml": """
        report: by_stage
        object: contact
        group_by: [stage]
        measures: [count]
        ---
        dashboard: home
        widgets: [by_stage]
    """,
    "forms/web.yaml": """
        form: signup
        object: contact
        fields: [first_name, last_name, email]
    """,
}

BASE = {name: textwrap.dedent(text).lstrip("\n") for name, text in _BASE.items()}

# (id, {file: new text}, file the problem is in, a text on the problem's line, message part)
CASES = [
    ("unknown_type", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "birthdate: {type: date}", "birthdate: {type: money}")},
     "objects/contact.yaml", "type: money",
     "fields.birthdate.type: unknown field type 'money' (known: autonumber, checkbox, currency"),
    ("lookup_to_missing_object", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "to: account", "to: acount")},
     "objects/contact.yaml", "to: acount",
     "fields.account.to: lookup to unknown object 'acount' (did you mean 'account'?)"),
    ("layout_missing_field", {"layouts/contact.yaml": BASE["layouts/contact.yaml"].replace(
        "fields: [first_name, last_name, email]", "fields: [first_name, last_name, emial]")},
     "layouts/contact.yaml", "emial", "unknown field 'emial' on contact (did you mean 'email'?)"),
    ("bad_object_name", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "object: account", "object: Account")},
     "objects/account.yaml", "object: Account", "'Account' is not a valid name"),
    ("bad_field_name", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "industry:", "Industry Type:")},
     "objects/account.yaml", "Industry Type", "'Industry Type' is not a valid name"),
    ("expression_syntax", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "years_between(birthdate, today())", "years_between(birthdate, today()")},
     "objects/contact.yaml", "years_between", "expected ')' but found the end"),
    ("unknown_function", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "today()", "tday()")},
     "objects/contact.yaml", "tday", "unknown function 'tday' (did you mean 'today'?)"),
    ("unknown_field_in_expression", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "years_between(birthdate", "years_between(birthdat")},
     "objects/contact.yaml", "birthdat,",
     "unknown field 'birthdat' on contact (did you mean 'birthdate'?)"),
    ("duplicate_key", {"objects/account.yaml": BASE["objects/account.yaml"] + "  name: {type: text}\n"},
     "objects/account.yaml", "name: {type: text}\n", "duplicate key 'name' (first given on line 4)"),
    ("yaml_syntax", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "options: [retail, finance]}", "options: [retail, finance}")},
     "objects/account.yaml", "options: [retail", "YAML syntax error"),
    ("extends_cycle", {"app.yaml": BASE["app.yaml"] + "extends: base\n"},
     "app.yaml", "extends: base", "extends makes a cycle: base -> base"),
    ("extends_missing_app", {"app.yaml": BASE["app.yaml"] + "extends: nowhere_app\n"},
     "app.yaml", "extends: nowhere_app", "cannot find the app 'nowhere_app' to extend"),
    ("role_missing_object", {"roles.yaml": BASE["roles.yaml"] + "      invoice: {read: all}\n"},
     "roles.yaml", "invoice", "roles.rep.objects.invoice: unknown object 'invoice'"),
    ("role_missing_field", {"roles.yaml": BASE["roles.yaml"] + "    fields:\n      contact.income: hidden\n"},
     "roles.yaml", "contact.income", "unknown field 'income' on contact"),
    ("role_bad_scope", {"roles.yaml": BASE["roles.yaml"].replace("edit: own", "edit: mine")},
     "roles.yaml", "edit: mine", "unknown record scope 'mine' (known: all, none, own, team)"),
    ("role_inherits_unknown", {"roles.yaml": BASE["roles.yaml"] + "  manager: {inherits: boss}\n"},
     "roles.yaml", "inherits: boss", "inherits unknown role 'boss'"),
    ("roles_inherit_cycle", {"roles.yaml": BASE["roles.yaml"].replace(
        "  rep:\n", "  rep:\n    inherits: manager\n") + "  manager: {inherits: rep}\n"},
     "roles.yaml", "manager: {inherits: rep}", "roles inherit from each other in a cycle"),
    ("picklist_without_options", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "industry: {type: picklist, options: [retail, finance]}", "industry: {type: picklist}")},
     "objects/account.yaml", "industry", "fields.industry: a picklist field needs 'options'"),
    ("picklist_default_not_an_option", {"objects/contact.yaml": BASE["objects/contact.yaml"]
                                        .replace("default: lead", "default: vip")},
     "objects/contact.yaml", "default: vip", "default 'vip' is not one of the options"),
    ("formula_without_returns", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "type: formula, returns: integer,", "type: formula,")},
     "objects/contact.yaml", "type: formula", "a formula field needs 'returns'"),
    ("key_not_for_type", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "birthdate: {type: date}", "birthdate: {type: date, max_length: 10}")},
     "objects/contact.yaml", "max_length", "'max_length' does not apply to a date field"),
    ("unknown_key", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "title:", "titel:")},
     "objects/account.yaml", "titel", "unknown key 'titel' (did you mean 'title'?)"),
    ("extend_unknown_object", {"objects/more.yaml": "extend: contacts\nfields:\n  x: {type: text}\n"},
     "objects/more.yaml", "extend: contacts",
     "cannot extend unknown object 'contacts' (did you mean 'contact'?)"),
    ("object_defined_twice", {"objects/more.yaml": "object: account\nfields:\n  x: {type: text}\n"},
     "objects/more.yaml", "object: account", "object 'account' is already defined"),
    ("workflow_unknown_object", {"workflows/rules.yaml": BASE["workflows/rules.yaml"].replace(
        "object: contact", "object: customer")},
     "workflows/rules.yaml", "object: customer", "unknown object 'customer'"),
    ("workflow_bad_trigger", {"workflows/rules.yaml": BASE["workflows/rules.yaml"].replace(
        "when: created", "when: modified")},
     "workflows/rules.yaml", "when: modified", "unknown trigger 'modified'"),
    ("workflow_set_unknown_field", {"workflows/rules.yaml": BASE["workflows/rules.yaml"]
                                    .replace("stage: lead", "stge: lead")},
     "workflows/rules.yaml", "stge", "unknown field 'stge' on contact (did you mean 'stage'?)"),
    ("workflow_placeholder_unknown_field", {"workflows/rules.yaml": BASE["workflows/rules.yaml"]
     + "  - create: {object: account, values: {name: \"Company of {frist_name}\"}}\n"},
     "workflows/rules.yaml", "frist_name", "unknown field 'frist_name' on contact"),
    ("workflow_unknown_recipe", {"workflows/more.yaml": "workflow: remind\nuse: date_remindr\nwith: {}\n"},
     "workflows/more.yaml", "use: date_remindr",
     "unknown recipe 'date_remindr' (did you mean 'date_reminder'?)"),
    ("recipe_missing_parameter", {"workflows/more.yaml": "workflow: remind\nuse: date_reminder\nwith: {object: contact, date_field: birthdate, offset: -1d}\n"},
     "workflows/more.yaml", "with:", "recipe 'date_reminder' needs the parameter 'subject'"),
    ("report_unknown_group_field", {"reports/sales.yaml": BASE["reports/sales.yaml"].replace(
        "group_by: [stage]", "group_by: [account.industri]")},
     "reports/sales.yaml", "group_by", "unknown field 'industri' on account"),
    ("report_bucket_on_text", {"reports/sales.yaml": BASE["reports/sales.yaml"].replace(
        "group_by: [stage]", "group_by: [{field: first_name, bucket: month}]")},
     "reports/sales.yaml", "bucket", "a date bucket needs a date field"),
    ("dashboard_unknown_report", {"reports/sales.yaml": BASE["reports/sales.yaml"].replace(
        "widgets: [by_stage]", "widgets: [by_stage, pipeline]")},
     "reports/sales.yaml", "widgets", "unknown report 'pipeline'"),
    ("form_unknown_field", {"forms/web.yaml": BASE["forms/web.yaml"].replace(
        "email]", "mail]")},
     "forms/web.yaml", "fields:", "unknown field 'mail' on contact"),
    ("navigation_unknown_object", {"app.yaml": BASE["app.yaml"].replace(
        "[account, contact, reports]", "[account, contacts, reports]")},
     "app.yaml", "navigation", "unknown object or page 'contacts' (did you mean 'contact'?)"),
    ("kanban_on_text_field", {"layouts/contact.yaml": BASE["layouts/contact.yaml"]
                              + "kanban: {group_by: first_name}\n"},
     "layouts/contact.yaml", "kanban", "kanban groups by a picklist field; 'first_name' is a text"),
    ("related_via_wrong_field", {"layouts/contact.yaml": BASE["layouts/contact.yaml"].replace(
        "layout: contact", "layout: account").replace("[first_name, last_name, email]", "[name]")
        .replace("[last_name, first_name, email]", "[name]").replace("[last_name]", "[name]")
        + "related:\n  - {object: contact, via: first_name}\n"},
     "layouts/contact.yaml", "via: first_name",
     "'first_name' must be a lookup field of contact pointing to account"),
    ("formula_cycle", {"objects/account.yaml": BASE["objects/account.yaml"]
                       + "  a: {type: formula, returns: integer, expression: \"b + 1\"}\n"
                       + "  b: {type: formula, returns: integer, expression: \"a + 1\"}\n"},
     "objects/account.yaml", "expression: \"a + 1\"", "formulas read each other in a cycle"),
    ("index_unknown_field", {"objects/account.yaml": BASE["objects/account.yaml"]
                             + "indexes:\n  - [name, city]\n"},
     "objects/account.yaml", "[name, city]", "unknown field 'city' in index"),
    ("search_on_date", {"objects/contact.yaml": BASE["objects/contact.yaml"].replace(
        "search: [first_name, last_name, email]", "search: [first_name, birthdate]")},
     "objects/contact.yaml", "search:", "'birthdate' is a date field; quick search covers text"),
    ("system_field_declared", {"objects/account.yaml": BASE["objects/account.yaml"]
                               + "  owner: {type: text}\n"},
     "objects/account.yaml", "owner:", "'owner' is a system field that every object has"),
    ("reserved_field_name", {"objects/account.yaml": BASE["objects/account.yaml"]
                             + "  page: {type: integer}\n"},
     "objects/account.yaml", "page:", "'page' cannot name a field: it is a word of the "
                                      "expression language or a list parameter"),
    ("option_listed_twice", {"objects/account.yaml": BASE["objects/account.yaml"].replace(
        "[retail, finance]", "[retail, finance, retail]")},
     "objects/account.yaml", "industry", "option 'retail' is listed twice"),
    ("bad_locale_in_label", {"app.yaml": BASE["app.yaml"].replace("vi: Cơ sở", "vietnamese: Cơ sở")},
     "app.yaml", "label", "'vietnamese' is not a locale code"),
    ("unknown_timezone", {"app.yaml": BASE["app.yaml"] + "timezone: Asia/Hanoi_City\n"},
     "app.yaml", "timezone", "unknown time zone 'Asia/Hanoi_City'"),
    ("wrong_document_in_folder", {"layouts/extra.yaml": "object: lead\nfields: {}\n"},
     "layouts/extra.yaml", "object: lead", "a document here starts with layout:; found 'object:'"),
    ("rollup_via_not_a_lookup", {"objects/account.yaml": BASE["objects/account.yaml"]
                                 + "  people: {type: rollup, from: contact, via: email, measure: count}\n"},
     "objects/account.yaml", "people", "'email' must be a lookup field of contact pointing to account"),
    ("changed_outside_a_save", {"workflows/more.yaml": "workflow: yearly\nobject: contact\n"
                                "when: {schedule: {date_field: birthdate, every: year}}\n"
                                "if: \"changed('stage')\"\ndo:\n  - set: {stage: customer}\n"},
     "workflows/more.yaml", "if:", "changed() and previous() only mean something"),
]


def _write(root: Path, files: dict[str, str]) -> Path:
    app = root / "base"
    for rel, text in files.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return app


def test_base_app_is_valid(tmp_path):
    model = load(_write(tmp_path, BASE))
    assert set(model.objects) == {"account", "contact"}


def test_there_are_enough_cases():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_metadata_is_reported_with_file_and_line(tmp_path, monkeypatch, case):
    _, changes, file, marker, message = case
    app = _write(tmp_path, {**BASE, **changes})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MetadataError) as caught:
        load(app)
    text = (app / file).read_text(encoding="utf-8")
    line = next(i for i, content in enumerate(text.splitlines(), start=1)
                if marker.strip("\n") in content)
    wanted_place = f"base/{file}:{line}"
    found = [str(p) for p in caught.value.problems]
    assert any(p.startswith(wanted_place) and p[len(wanted_place)] in " :" and message in p
               for p in found), (
        f"wanted '{wanted_place}... {message}' among:\n" + "\n".join(found))


def test_one_load_reports_every_problem(tmp_path, monkeypatch):
    files = {**BASE}
    files["objects/contact.yaml"] = BASE["objects/contact.yaml"].replace(
        "{type: date}", "{type: dat}").replace("to: account", "to: acount")
    files["layouts/contact.yaml"] = BASE["layouts/contact.yaml"].replace("email]", "mail]")
    files["roles.yaml"] = BASE["roles.yaml"].replace("edit: own", "edit: mine")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MetadataError) as caught:
        load(_write(tmp_path, files))
    messages = str(caught.value)
    assert messages.startswith("5 metadata problems:") or len(caught.value.problems) >= 4
    for part in ("unknown field type 'dat'", "lookup to unknown object 'acount'",
                 "unknown field 'mail'", "unknown record scope 'mine'"):
        assert part in messages


def test_not_an_app_folder(tmp_path):
    with pytest.raises(MetadataError, match="not an app folder: app.yaml is missing"):
        load(tmp_path)


def test_a_file_that_is_not_utf8(tmp_path):
    app = _write(tmp_path, BASE)
    (app / "objects" / "bad.yaml").write_bytes("object: x\nlabel: Café crème\n".encode("cp1252"))
    with pytest.raises(MetadataError, match="the file is not UTF-8 text"):
        load(app)
