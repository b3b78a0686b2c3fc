"""The engine's errors. Each carries structured fields and the HTTP status that fits it;
the web layer has one handler that turns them into pages or JSON.

    CrmError                 status 400
    ├── BadRequest           400  a filter, sort or parameter that makes no sense
    ├── Unauthorized         401  no known user
    ├── PermissionDenied     403  the user may not do this
    ├── NotFound             404  no such object or record (or one the user may not see)
    ├── Conflict             409  the record changed since it was read (row version)
    ├── PayloadTooLarge      413  a request body past the limit of its kind
    ├── VersionRequired      428  an API change without the row version it starts from
    ├── ValidationFailed     422  field errors: {field: [FieldError, ...]}
    └── SchemaChangeRefused  409  a metadata change that could lose data
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one field's value. `code` is stable; `message` is for people."""

    code: str
    message: str
    params: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class CrmError(Exception):
    status = 400
    code = "error"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class BadRequest(CrmError):
    status = 400
    code = "bad_request"


class Unauthorized(CrmError):
    status = 401
    code = "unauthorized"


class PermissionDenied(CrmError):
    status = 403
    code = "forbidden"


class NotFound(CrmError):
    status = 404
    code = "not_found"


class Conflict(CrmError):
    status = 409
    code = "conflict"


class PayloadTooLarge(CrmError):
    status = 413
    code = "payload_too_large"


class VersionRequired(CrmError):
    """A PATCH or DELETE over the API must say which row version it changes: without one,
    a second writer would silently overwrite the first."""

    status = 428
    code = "version_required"


class SchemaChangeRefused(CrmError):
    status = 409
    code = "schema_change_refused"


class ValidationFailed(CrmError):
    """Field errors, all of them at once. The key `_record` holds record-level errors."""

    status = 422
    code = "validation_failed"

    def __init__(self, errors: Mapping[str, Sequence[FieldError]], message: str | None = None):
        self.errors = {k: list(v) for k, v in errors.items()}
        summary = "; ".join(f"{k}: {e.message}" for k, v in self.errors.items() for e in v)
        super().__init__(message or f"the record is not valid: {summary}")

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "fields": {k: [e.to_json() for e in v] for k, v in self.errors.items()}}}
