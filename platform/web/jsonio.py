"""JSON in and out of the API: records as plain JSON values, request bodies checked."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..engine.errors import BadRequest
from . import bodies

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


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a clear 400."""
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        raise BadRequest(f"send the body as JSON (Content-Type: application/json), not "
                         f"{content_type.split(';')[0]}")
    raw = bodies.body(request)  # at most MAX_BODY bytes: limits.BodyLimit stops a bigger one
    if not raw.strip():
        raise BadRequest("the body is empty; send a JSON object of field values")
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is no content
    if raw.lstrip()[:1] != b"{":  # before parsing: 100,000 nested [ would run out of stack
        raise BadRequest("the body must be a JSON object of field values")
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(
            exc, json.JSONDecodeError) else ""
        raise BadRequest(f"the body is not valid JSON{where}") from None
    except RecursionError:
        raise BadRequest(f"the body nests too deeply (at most {MAX_NESTING} levels)") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object of field values")
    _check_values(data, "", 0)
    return data


MAX_NESTING = 20


def _check_values(value: Any, path: str, depth: int) -> None:
    """Every value of a body can be stored: no text with a lone surrogate (JSON allows
    "\\ud800"; UTF-8 and the databases do not), nothing nested past MAX_NESTING."""
    if depth > MAX_NESTING:
        raise BadRequest(f"{path or 'the body'} nests too deeply (at most {MAX_NESTING} "
                         "levels)", parameter=path.split(".")[0] or None)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{path}: the text holds a lone surrogate (\\ud800-\\udfff), "
                             "which is not a character", parameter=path.split(".")[0]) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key, path, depth + 1)
            _check_values(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, f"{path}[{i}]", depth + 1)
