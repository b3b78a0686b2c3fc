"""Two sales reps and their records on the default CRM: what `lan` may not read of
`binh`'s work is what the security tests try to reach by every path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from metacrm.engine import records
from metacrm.engine.users import create_token, find_user


@dataclass
class Reps:
    site: object  # conftest.Site, signed in as lan
    binh_opportunity: dict
    binh_quote: dict
    binh_line: dict
    lan_opportunity: dict
    lan_quote: dict
    lan_line: dict
    product: dict

    def api(self, name: str = "lan"):
        """An httpx-like client for the REST API as `name` (a bearer token)."""
        rt = self.site.rt
        with rt.db.write() as conn:
            token = create_token(conn, rt.schema, find_user(conn, rt.schema, name).id)
        headers = {"Authorization": f"Bearer {token}"}
        client = self.site.client

        class Api:
            def get(self, path: str, **kwargs):
                return self.request("GET", path, **kwargs)

            def request(self, method: str, path: str, **kwargs):
                more = kwargs.pop("headers", {})
                return client.request(method, path, headers={**headers, **more}, **kwargs)

        return Api()


@pytest.fixture
def reps(make_site) -> Reps:
    """`lan` (signed in) and `binh`, sales reps: each owns an account's won opportunity, an
    accepted quote on it and a quote line (quote lines are readable by all reps; quotes and
    opportunities only by their owner). binh's deal is the big one."""
    site = make_site()
    site.user("admin")
    site.user("lan", role="sales_rep")
    site.user("binh", role="sales_rep")
    admin = site.ctx("admin")
    product = records.create(admin, "product", {"code": "SP-1", "name": "Máy lọc nước"})
    made = {}
    for rep, amount, subject in (("binh", 250_000_000, "Báo giá Vạn Phúc"),
                                 ("lan", 20_000_000, "Báo giá Hồng Hà")):
        ctx = site.ctx(rep)
        account = records.create(ctx, "account", {"name": f"Công ty của {rep}"})
        opportunity = records.create(ctx, "opportunity", {
            "name": f"Cơ hội của {rep}", "account": account["id"], "amount": amount,
            "stage": "won"})
        quote = records.create(ctx, "quote", {"name": subject, "opportunity":
                                              opportunity["id"], "status": "accepted"})
        line = records.create(ctx, "quote_line", {
            "quote": quote["id"], "product": product["id"], "description": f"Dòng {rep}",
            "quantity": 2, "unit_price": amount // 2})
        made[rep] = (opportunity, quote, line)
    assert site.login("lan").status_code == 303
    return Reps(site, *made["binh"], *made["lan"], product)
