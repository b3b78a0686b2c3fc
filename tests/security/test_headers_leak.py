"""Finding 9: pages carried no Content-Security-Policy (and the data quality page an inline
script), and the session cookie was `Secure` only with a setting. Now every answer has a CSP
that runs the scripts of /static alone, no template holds an inline script or handler, and a
cookie set over HTTPS (or behind a proxy that says so) is Secure."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from metacrm.web.app import CONTENT_SECURITY_POLICY

LAYOUTS = Path(__file__).resolve().parents[2] / "layouts"


def test_no_template_holds_an_inline_script_or_handler():
    for template in LAYOUTS.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name


def test_every_answer_carries_the_policy(site):
    policy = CONTENT_SECURITY_POLICY
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src.strip() == "'self'"
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    for path in ("/", "/o/contact", "/o/contact/quality", "/reports", "/setup", "/login",
                 "/nothing-here", "/api/v1/contact"):
        answer = site.get(path)
        assert answer.headers["content-security-policy"] == policy, path


def test_the_session_cookie_is_secure_over_https(make_site):
    site = make_site()
    site.user("admin")
    plain = site.login("admin")
    assert "secure" not in plain.headers["set-cookie"].lower()
    https = TestClient(site.client.app, base_url="https://crm.example.vn")
    token = re.search(r'name="csrf_token" value="([^"]+)"', https.get("/login").text).group(1)
    answer = https.post("/login", data={"username": "admin", "password": "mat-khau-2026",
                                        "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert "; secure" in answer.headers["set-cookie"].lower()


def test_behind_a_proxy_that_says_https_the_cookie_is_secure(make_site):
    """`metacrm serve` runs uvicorn with its proxy headers on: X-Forwarded-Proto from a
    trusted proxy becomes the request's scheme."""
    site = make_site()
    site.user("admin")
    proxied = TestClient(ProxyHeadersMiddleware(site.client.app, trusted_hosts="*"))
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    page = proxied.get("/login", headers=headers)
    assert "; secure" in page.headers["set-cookie"].lower()


def test_a_server_error_carries_the_headers_too(make_site):
    from starlette.routing import Route

    site = make_site()

    async def boom(request):
        raise RuntimeError("a bug")

    site.client.app.router.routes.insert(0, Route("/boom", boom))
    site.client.app.router.routes.insert(0, Route("/api/v1/boom/now", boom))
    for path in ("/boom", "/api/v1/boom/now"):
        answer = site.client.get(path)
        assert answer.status_code == 500
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
