"""The baseline of bench/web_list.py: a contact list and detail page written by hand the
obvious way (Starlette + SQLAlchemy + Jinja2; COUNT + LIMIT/OFFSET + LIKE), over the same
database as MetaCRM. Run with: DATABASE_URL=... uvicorn handwritten:app"""

from __future__ import annotations

import os

from jinja2 import Environment
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

engine = create_engine(os.environ["DATABASE_URL"])
TABLE = os.environ.get("HAND_TABLE", "contact")
env = Environment(autoescape=True)
LIST = env.from_string("""<!doctype html><html><head><meta charset="utf-8">
<title>Contacts</title></head><body><h1>Contacts</h1><p>{{ total }} records</p>
<table><thead><tr><th>Last name</th><th>First name</th><th>Email</th><th>Account</th>
<th>Stage</th><th>Owner</th></tr></thead><tbody>
{% for r in rows %}<tr><td><a href="/contacts/{{ r.id }}">{{ r.last_name }}</a></td>
<td>{{ r.first_name }}</td><td>{{ r.email }}</td><td>{{ r.account or '' }}</td>
<td>{{ r.lifecycle_stage }}</td><td>{{ r.owner }}</td></tr>{% endfor %}
</tbody></table><p>Page {{ page }}</p></body></html>""")
DETAIL = env.from_string("""<!doctype html><html><head><meta charset="utf-8">
<title>{{ row.last_name }}</title></head><body><h1>{{ row.last_name }} {{ row.first_name }}</h1>
<dl>{% for k, v in row.items() %}<dt>{{ k }}</dt><dd>{{ v if v is not none else '' }}</dd>
{% endfor %}</dl></body></html>""")


async def contacts(request: Request) -> HTMLResponse:
    city = request.query_params.get("city")
    q = request.query_params.get("q")
    page = int(request.query_params.get("page", "1"))
    where, params = [], {}
    if city:
        where.append("city = :city")
        params["city"] = city
    if q:
        for i, word in enumerate(q.lower().split()):
            where.append(f"_search LIKE :w{i}")
            params[f"w{i}"] = f"%{word}%"
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    with engine.connect() as conn:
        total = conn.execute(text(f"SELECT count(*) FROM {TABLE}{clause}"), params).scalar()
        rows = conn.execute(text(
            "SELECT id, last_name, first_name, email, account, lifecycle_stage, owner "
            f"FROM {TABLE}{clause} ORDER BY last_name, first_name, id "
            f"LIMIT 50 OFFSET {(page - 1) * 50}"), params).mappings().all()
    return HTMLResponse(LIST.render(rows=rows, total=total, page=page))


async def contact(request: Request) -> HTMLResponse:
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT * FROM {TABLE} WHERE id = :id"),
                           {"id": request.path_params["id"]}).mappings().first()
    return HTMLResponse(DETAIL.render(row=dict(row)))


app = Starlette(routes=[Route("/contacts", contacts), Route("/contacts/{id:int}", contact)])
