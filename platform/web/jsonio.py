"""JSON in and out of the API: records as plain JSON values, request bodies checked."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..engine.errors import BadRequest

MAX_BODY = 1_000_000


def json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def record_json(record: dict[str, Any]) -> dict[str, Any]:
    return {k: json_value(v) for k, v in record.items()}


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, default=json_value,
                          separators=(",", ":")).encode("utf-8")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a clear 400."""
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise BadRequest(f"send the body as JSON (Content-Type: application/json), not "
                         f"{content_type.split(';')[0]}")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        raise BadRequest("the body is empty; send a JSON object of field values")
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(
            exc, json.JSONDecodeError) else ""
        raise BadRequest(f"the body is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object of field values")
    return data
