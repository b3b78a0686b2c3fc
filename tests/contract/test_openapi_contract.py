"""The OpenAPI document is the contract. Schemathesis draws requests from it, in-process
against the default CRM with its demo data, for every operation, as an admin and as a sales
rep: no server error, no status the document does not list, no response that breaks its
schema, and (for the admin, who may do everything) no request the document calls valid that
the server refuses.

What JSON Schema cannot say, the document says in extensions, and the drawing honours them
as any client would: `x-lookup` / `x-user` values are ids of existing records and users,
`x-unique` values are new ones, bodies keep the `x-validations` rules (checked by a small
reader of the rule text written here, not by the server's evaluator), and a change or a
delete names a real record, mostly with the version read just before."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from metacrm.engine.loaddata import load_data
from metacrm.engine.users import active_users, create_token, create_user, find_user
from metacrm.metadata import expressions as ex

DEFAULT_APP = Path(__file__).resolve().parents[2] / "apps" / "default_crm"
# per operation and generation mode: about 2,000 requests a run, the same ones every run;
# METACRM_CONTRACT_EXAMPLES=200 METACRM_CONTRACT_RANDOM=1 explores further (hypothesis
# prints the seed of a failure)
EXAMPLES = int(os.environ.get("METACRM_CONTRACT_EXAMPLES") or 12)
RANDOM = os.environ.get("METACRM_CONTRACT_RANDOM") == "1"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
BASE_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


class Contract:
    """One user's run: the API client, the ids their drawing picks from, the failures."""

    def __init__(self, client, token: str, schema):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.schema = schema
        self.components = schema.raw_schema["components"]["schemas"]
        rt = client.app.state.runtime
        self.today = dt.datetime.now(rt.tz)
        with rt.db.read() as conn:
            self.users = [uid for uid, _ in active_users(conn, rt.schema)]
        self.ids = {name: self.readable_ids(name) for name in rt.model.objects}
        self.fresh = itertools.count(1)
        self.failures: list[tuple[str, str, int, object]] = []
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.skipped_by_rule = 0

    def deleted(self, name: str, record_id: int) -> None:
        """Forget a deleted record, and read again the objects whose records went with it
        (lookups with on_delete: cascade)."""
        if record_id in self.ids[name]:
            self.ids[name].remove(record_id)
        model = self.client.app.state.runtime.model
        for child in model.objects.values():
            if any(f.type == "lookup" and f.to == name and f.on_delete == "cascade"
                   for f in child.fields.values()) and child.name != name:
                self.ids[child.name] = self.readable_ids(child.name)

    def readable_ids(self, name: str) -> list[int]:
        response = self.client.get(f"/api/v1/{name}", params={"page_size": 500},
                                   headers=self.headers)
        return [r["id"] for r in response.json()["items"]] if response.status_code == 200 \
            else []

    # --- drawing what the document describes in extensions -------------------------------

    def steer(self, case, data, operation) -> None:
        name = operation.path.split("/")[3]
        if "id" in case.path_parameters:
            chosen = pick(data, self.ids[name])
            if data.draw(st.booleans()) and chosen is not None:
                case.path_parameters["id"] = chosen
        if case.method in ("PATCH", "DELETE") and data.draw(st.booleans()):
            current = self.client.get(f"/api/v1/{name}/{case.path_parameters['id']}",
                                      headers=self.headers)
            if current.status_code == 200:
                version = current.json()["version"]
                if case.method == "DELETE":
                    case.query = {**(case.query or {}), "version": version}
                elif isinstance(case.body, dict):
                    case.body["version"] = version
        if case.meta.generation.mode.is_positive and case.query:
            self.steer_query(case, data, operation)
        if case.meta.generation.mode.is_positive and isinstance(case.body, dict):
            schema_name = operation.definition.raw["requestBody"]["content"][
                "application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            self.steer_body(case.body, self.components[schema_name], data)
            self.keep_rules(case, name, self.components[schema_name])

    def steer_query(self, case, data, operation) -> None:
        """`filter` and `sort` drawn from their x-pattern, the part of the grammar the
        document spells out as a regular expression."""
        for parameter in operation.query:
            spec = parameter.definition.get("schema", {})
            if parameter.name in case.query and "x-pattern" in spec:
                case.query[parameter.name] = data.draw(st.from_regex(spec["x-pattern"],
                                                                     fullmatch=True))

    def steer_body(self, body: dict, schema: dict, data) -> None:
        for field, value in list(body.items()):
            spec = schema["properties"].get(field, {})
            if value is None:
                continue
            if "x-lookup" in spec:
                chosen = pick(data, self.ids.get(spec["x-lookup"]) or [])
                if chosen is not None:
                    body[field] = chosen
                elif "null" in spec["type"]:
                    body[field] = None
                else:
                    assume(False)  # no record of that object to name: no valid body
            elif spec.get("x-user"):
                body[field] = pick(data, [u for u in spec.get("enum") or self.users
                                          if u is not None])
            elif spec.get("x-unique"):
                number = next(self.fresh)
                if spec.get("format") == "email":
                    body[field] = f"c{number}{value}"
                else:
                    room = spec.get("maxLength", 40) - 8
                    body[field] = f"{value[:room].strip() or 'x'}-{number:07d}"

    def keep_rules(self, case, name: str, schema: dict) -> None:
        """Drop a drawn body that breaks one of the documented rules: for a change, the
        record as it will be (read first) with the body over it."""
        rules = schema.get("x-validations") or []
        if not rules:
            return
        values = {**defaults(schema, self.today), **case.body}
        before: dict = {}  # what previous() reads: nothing for a new record
        if case.method == "PATCH":
            current = self.client.get(f"/api/v1/{name}/{case.path_parameters['id']}",
                                      headers=self.headers)
            if current.status_code != 200:
                return
            before = current.json()
            values = {**before, **case.body}
        for rule in rules:
            if holds(ex.parse(rule["when"]).root, values, before):
                self.skipped_by_rule += 1
                assume(False)

    # --- the run ------------------------------------------------------------------------

    def run(self, checks) -> None:
        for result in self.schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.explore(operation, mode, checks)

    def explore(self, operation, mode, checks) -> None:
        # a record's actions and approvals take at most a small body: a third of the draws
        steps = "/actions" in operation.path or "/approvals" in operation.path
        @settings(max_examples=max(EXAMPLES // 3, 2) if steps else EXAMPLES, deadline=None,
                  database=None, derandomize=not RANDOM,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def explore(case, data):
            self.steer(case, data, operation)
            response = case.call(headers=self.headers)
            self.calls[operation.label] += 1
            name = operation.path.split("/")[3]
            if case.method == "DELETE" and response.status_code == 204:
                self.deleted(name, case.path_parameters["id"])
            elif case.method == "PATCH" and response.status_code == 200:
                self.ids[name] = self.readable_ids(name)  # a new owner may take it away
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks, headers=self.headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    self.failures.append((operation.label, type(failure).__name__,
                                          response.status_code,
                                          (case.query, case.body, response.text[:400])))

        explore()

    def report(self) -> str:
        kinds = Counter((f[1], f[2]) for f in self.failures)
        first = {}
        for label, kind, status, detail in self.failures:
            first.setdefault((label, kind, status), detail)
        lines = [f"{sum(self.calls.values())} requests over {len(self.calls)} operations; "
                 f"statuses {dict(sorted(self.statuses.items()))}; {self.skipped_by_rule} "
                 f"bodies redrawn for a documented rule", f"failures: {dict(kinds)}"]
        lines += [f"  {key}: {detail!r}"[:700] for key, detail in sorted(first.items())]
        return "\n".join(lines)


def pick(data, pool: list[int]) -> int | None:
    """One of `pool`, drawn the same way whatever the pool holds (records come and go during
    the run, and hypothesis wants the same draws for the same choices)."""
    index = data.draw(st.integers(0, 2**16 - 1))
    return pool[index % len(pool)] if pool else None


def defaults(schema: dict, now: dt.datetime) -> dict:
    """The values a create fills in for absent fields: `default`, or `x-default` computed
    (`now` in the app's time zone)."""
    computed = {"=today()": now.date().isoformat(), "=now()": now.isoformat()}
    out = {}
    for name, spec in schema["properties"].items():
        if "default" in spec:
            out[name] = spec["default"]
        elif "x-default" in spec:
            out[name] = computed.get(spec["x-default"])
    return out


def holds(node, values: dict, before: dict | None = None) -> bool | None:
    """A rule's condition on JSON values (`before`: the record as stored, for previous() and
    changed()): and/or/not, is_blank(), comparisons of fields and literals (dates compare
    as ISO text). None when blank or not of that kind."""
    before = before or {}
    if isinstance(node, ex.Call) and node.func in ("previous", "changed"):
        field = node.args[0].value
        old = before.get(field)
        if node.func == "changed":
            return old != values.get(field)
        return None if old in ("", []) else old
    if isinstance(node, ex.Literal):
        return node.value
    if isinstance(node, ex.Name):
        value = values.get(node.path[0]) if len(node.path) == 1 else None
        return None if value in ("", []) else value
    if isinstance(node, ex.Call) and node.func == "is_blank":
        value = holds(node.args[0], values, before)
        return value is None or (isinstance(value, str) and not value.strip())
    if isinstance(node, ex.Unary) and node.op == "not":
        inner = holds(node.operand, values, before)
        return None if inner is None else not inner
    if isinstance(node, ex.ListOf):
        return [holds(item, values, before) for item in node.items]
    if isinstance(node, ex.Binary) and node.op in ("in", "not in"):
        left, right = holds(node.left, values, before), holds(node.right, values, before)
        found = left is not None and left in (right or [])
        return found if node.op == "in" else not found
    if isinstance(node, ex.Binary):
        left, right = holds(node.left, values, before), holds(node.right, values, before)
        if node.op == "and":
            return bool(left) and bool(right)
        if node.op == "or":
            return bool(left) or bool(right)
        if left is None or right is None:
            return None
        if isinstance(left, str) and isinstance(right, str) and ISO_DATE.match(left) and \
                ISO_DATE.match(right):
            left, right = dt.date.fromisoformat(left[:10]), dt.date.fromisoformat(right[:10])
        compare = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                   "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                   ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
        return compare[node.op](left, right)
    raise AssertionError(f"the contract test cannot read the rule part {node!r}")


@pytest.fixture
def demo_client(make_client):
    """The default CRM with its demo data, an admin, and tokens for admin and lan."""
    client = make_client(DEFAULT_APP)
    rt = client.app.state.runtime
    load_data(rt, DEFAULT_APP / "data", demo=True)
    with rt.db.write() as conn:
        admin = find_user(conn, rt.schema, "admin") or create_user(conn, rt.schema, "admin",
                                                                    role="admin")
        tokens = {"admin": create_token(conn, rt.schema, admin.id),
                  "lan": create_token(conn, rt.schema, find_user(conn, rt.schema, "lan").id)}
    return client, tokens


@pytest.mark.slow
@pytest.mark.parametrize("user", ["admin", "lan"])
def test_every_operation_keeps_the_documented_contract(demo_client, user):
    """Each user is held to their own document (asked with their token): the objects and
    fields their role lets them read and change."""
    client, tokens = demo_client
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app, headers={
        "Authorization": f"Bearer {tokens[user]}"})
    contract = Contract(client, tokens[user], schema)
    contract.run(BASE_CHECKS + [positive_data_acceptance])
    print(contract.report())
    assert len(contract.calls) == len(list(schema.get_all_operations()))
    assert contract.skipped_by_rule < sum(contract.calls.values()) / 4  # rules rarely redraw
    assert not contract.failures, contract.report()


ALLTYPES = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "alltypes"


@pytest.mark.slow
def test_an_app_of_every_field_type_keeps_its_contract(make_api):
    """Not only the default CRM: an app with every field type (datetime, file, autonumber,
    formula, rollups, a lookup to itself, a child object) and a handful of records."""
    api = make_api(ALLTYPES)
    parent = api.post("/api/v1/thing", json={"name": "Máy bơm", "quantity": 3}).json()
    for n in range(3):
        assert api.post("/api/v1/part", json={"name": f"Phụ tùng {n}",
                                              "thing": parent["id"]}).status_code == 201
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app,
                                            headers=api.headers)
    contract = Contract(api.client, api.token, schema)
    contract.run(BASE_CHECKS + [positive_data_acceptance])
    print(contract.report())
    assert len(contract.calls) == 10
    assert contract.statuses[201] > 0 and contract.statuses[200] > 0
    assert not contract.failures, contract.report()

