"""The engine's errors. Each carries structured fields and the HTTP status that fits it;
the web layer has one handler that turns them into pages or JSON.

    CrmError                 status 400
    ├── BadRequest           400  a filter, sort or parameter that makes no sense
    ├── Unauthorized         401  no known user
    │   └── LoginRequired    401  (web/auth.py) a screen without a signed-in user: sign in
    ├── PermissionDenied     403  the user may not do this
    │   └── CsrfFailed       403  (web/auth.py) a form without this session's token
    ├── NotFound             404  no such object or record (or one the user may not see)
    ├── Conflict             409  the record changed since it was read (row version)
    ├── PossibleDuplicates   409  a duplicate rule warns; the form asks before saving
    ├── WorkflowLoop         409  rules set each other off too deep; the save is refused
    ├── PayloadTooLarge      413  a request body past the limit of its kind
    ├── VersionRequired      428  an API change without the row version it starts from
    ├── ValidationFailed     422  field errors: {field: [FieldError, ...]}
    ├── WorkflowFailed       422  a rule's action failed; the save is refused
    └── SchemaChangeRefused  409  a metadata change that could lose data

Inside the engine only (never shown as they are): coerce.Invalid (a value that is not of its
field's type; the pipeline turns it into a FieldError) and pipeline.FormulaFailed (a formula
that cannot be computed for a record: blank, logged, shown on the record's page). The
metadata language has its own: MetadataError, ExpressionError, EvalError, EditError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .types import jsonable


@dataclass(frozen=True)
class FieldError:
    """One problem with one field's value. `code` is stable; `message` is for people."""

    code: str
    message: str
    params: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """`params` (the limit, the value, the other record, ...) go along for programs to
        read: plain JSON, dates as ISO text and decimals as text."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.params:
            out["params"] = {k: _plain(v) for k, v in self.params.items()}
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    value = jsonable(value)
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


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


class Locked(Conflict):
    """The record is awaiting an approval: nobody changes it until it is decided."""

    code = "awaiting_approval"


class PayloadTooLarge(CrmError):
    status = 413
    code = "payload_too_large"


class VersionRequired(CrmError):
    """A PATCH or DELETE over the API must say which row version it changes: without one,
    a second writer would silently overwrite the first."""

    status = 428
    code = "version_required"


class SchemaChangeRefused(CrmError):
    """A metadata change (or a purge) refused, changing nothing. `refusals` holds each
    (object, field, reason): sync.Refusal values, or one for the object and field named."""

    status = 409
    code = "schema_change_refused"

    def __init__(self, message: str, *, refusals: Sequence[Any] = (), obj: str | None = None,
                 field: str | None = None):
        self.refusals = list(refusals) or [Refusal(obj or "", field, message)]
        super().__init__(message, refused=[
            {"object": r.object, "field": r.field, "reason": r.reason} for r in self.refusals])


@dataclass(frozen=True)
class Refusal:
    """Why one object or field cannot change as asked."""

    object: str
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"refused         {self.reason}"


class PossibleDuplicates(CrmError):
    """A warn rule matched and the caller asked to be told before saving. `matches` are
    duplicates.Match values (id, title, fields; id None for a record the user may not read)."""

    status = 409
    code = "possible_duplicates"

    def __init__(self, matches: Sequence[Any]):
        self.matches = list(matches)
        super().__init__("this record looks like " + ", ".join(
            f"#{m.id} {m.title}" if m.id is not None else "a record you may not read"
            for m in self.matches[:5]), duplicates=[
            {"id": m.id, "title": m.title, "fields": list(m.fields)} for m in self.matches])


@dataclass(frozen=True)
class RunLog:
    """The run-log entry of a rule that refused a save: written once the save's transaction
    has rolled back, so it outlives it."""

    workflow: str
    object: str
    record_id: Any
    trigger: str


class WorkflowError(CrmError):
    """A rule refused the save; `run_log` is its entry in the run log."""

    def __init__(self, message: str, *, run_log: RunLog | None = None, **details: Any):
        super().__init__(message, **details)
        self.run_log = run_log


class WorkflowLoop(WorkflowError):
    status = 409
    code = "workflow_loop"


class WorkflowFailed(WorkflowError):
    status = 422
    code = "workflow_failed"


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
