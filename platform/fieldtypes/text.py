"""Text types: text, textarea, email, phone, url, and file. Phones are stored in
E.164 (+84912345678) and shown as dialled at home (0912345678)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from .base import (
    NO_NUL,
    Cell,
    Field,
    FieldType,
    Formatter,
    Invalid,
    Resolve,
    Shown,
    Submitted,
    blank_or,
    define,
    esc,
    scalar,
)

DEFAULT_REGION = "VN"  # the home region of phone numbers written without +country


def parse_text(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    if isinstance(raw, bool):
        raise Invalid("invalid", "expected text, not true or false")
    text = str(raw).strip() if fdef.type != "textarea" else str(raw).strip("\n\r ")
    if "\x00" in text:
        raise Invalid("invalid", "text must not contain NUL characters")
    return text


def _stripped(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    return str(raw).strip()


def _textarea_filter(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    return raw if isinstance(raw, str) else str(raw).strip()


# what Python's str.strip() takes away: a required text needs one character that is not it
SPACE = "\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a" \
        "\\u2028\\u2029\\u202f\\u205f\\u3000"
NOT_BLANK = f"^[^\\u0000]*[^\\u0000{SPACE}][^\\u0000]*$"


def _text_constraints(fdef: Field) -> dict[str, Any]:
    return {"pattern": NOT_BLANK if fdef.required else NO_NUL}


TEXT_SCHEMA = scalar({"type": "string"}, _text_constraints)


def _whole_as_text(fdef: Field, raw: Any, resolve: Resolve) -> Any:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))  # spreadsheets keep phone numbers and codes as numbers
    return raw


TEXT = define("text", "text", "max_length", searchable=True, formula_result=True,
              free_text=True, fuzzy=True, bulk=True,
              parse=parse_text, filter=_stripped, schema=TEXT_SCHEMA,
              sheet=_whole_as_text)
TEXTAREA = define("textarea", "text", "max_length", sortable=False, searchable=True,
                  may_be_unique=False, fuzzy=True,
                  parse=parse_text, filter=_textarea_filter, widget="textarea",
                  schema=TEXT_SCHEMA)

# --- email -------------------------------------------------------------------------------------

_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z]{2,63}$")


def _email(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    text = parse_text(fdef, raw, tz)
    lowered = text.lower()
    if len(lowered) <= 254 and _PLAIN_EMAIL.match(lowered) and len(lowered.split("@")[0]) <= 64:
        return lowered  # the common case, without the full parser's cost
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid("invalid_email", f"'{text}' is not a valid email address ({exc})",
                      value=text) from exc


def _email_filter(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    return str(raw).strip().lower()


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


# the API document's promise: a plain address (what `_email` takes at once), not at a
# special-use domain (RFC 6761: .test, .local, ...) where nothing can be delivered
EMAIL = ("^(?!.*[@.](" + "|".join(_any_case(d) for d in SPECIAL_USE_DOMAIN_NAMES) + ")$)"
         "[A-Za-z0-9_%+-]{1,30}(\\.[A-Za-z0-9_%+-]{1,30}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]"
         "{0,20}[A-Za-z0-9])?\\.){1,3}[A-Za-z]{2,10}$")


def _email_cell(fdef: Field, shown: Shown) -> Cell:
    return blank_or(lambda v: f'<a href="mailto:{esc(v)}">{esc(v)}</a>')


EMAIL_TYPE = define(
    "email", "text", "max_length", searchable=True, looks="email", parse=_email,
    filter=_email_filter,
    cell=_email_cell, widget="email",
    schema=scalar({"type": "string", "format": "email", "maxLength": 254},
                  lambda fdef: {"pattern": EMAIL}))

# --- phone -------------------------------------------------------------------------------------


def normalize_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number ('0912 345 678' -> '+84912345678'), None if not valid."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_phone(e164: str, region: str = DEFAULT_REGION) -> str:
    """'+84912345678' -> '0912345678' (digits only, as dialled at home)."""
    if region == "VN" and e164.startswith("+84") and e164[3:].isdigit():
        return "0" + e164[3:]  # the common case, without parsing
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in national if c.isdigit())


def _phone(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    text = parse_text(fdef, raw, tz)
    normalized = normalize_phone(text)
    if normalized is None:
        raise Invalid("invalid_phone", f"'{text}' is not a valid phone number", value=text)
    return normalized


def _phone_filter(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    text = str(raw).strip()
    return normalize_phone(text) or text


def _phone_cell(fdef: Field, shown: Shown) -> Cell:
    return blank_or(lambda v: f'<a href="tel:{esc(v)}">'
                              f'{esc(national_phone(v) if v.startswith("+84") else v)}</a>')


# the API document's promise: mobile numbers of the Vietnamese plan (DEFAULT_REGION)
PHONE = "^(\\+84|0)(9[0-8]|3[2-9]|8[1-8]|7[06-9]|5[689])[0-9]{7}$"

PHONE_TYPE = define(
    "phone", "text", "max_length", searchable=True, looks="phone", parse=_phone,
    filter=_phone_filter,
    cell=_phone_cell, widget="tel", sheet=_whole_as_text, spoken=national_phone,
    schema=scalar({"type": "string", "description": "a phone number; sent in any usual form "
                                                    "(0912 345 678), read back as E.164"},
                  lambda fdef: {"pattern": PHONE}))

# --- url ---------------------------------------------------------------------------------------


def _url(fdef: Field, raw: Any, tz: ZoneInfo) -> str:
    text = parse_text(fdef, raw, tz)
    candidate = text if "://" in text else f"https://{text}"
    parts = urlsplit(candidate)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in candidate or \
            "." not in parts.netloc:
        raise Invalid("invalid_url", f"'{text}' is not a web address (http:// or https://)",
                      value=text)
    return candidate


def _url_cell(fdef: Field, shown: Shown) -> Cell:
    return blank_or(lambda v: f'<a href="{esc(v)}" rel="noopener noreferrer" '
                              f'target="_blank">{esc(v)}</a>')


URL = "^https?://[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?(?:\\.[A-Za-z0-9]" \
      "(?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?)+(?:/[A-Za-z0-9._~%/-]*)?$"

URL_TYPE = define(
    "url", "text", "max_length", searchable=True, parse=_url, filter=_stripped,
    cell=_url_cell, widget="url",
    schema=scalar({"type": "string", "format": "uri"},
                  lambda fdef: {"format": "uri", "pattern": URL, "maxLength": 200}))

# --- file --------------------------------------------------------------------------------------


def file_id(value: Any) -> int | None:
    """The id of a file field's value ("file:12"), or None for any other text."""
    text = str(value)
    digits = text[5:]
    return int(digits) if text.startswith("file:") and digits.isascii() and digits.isdigit() \
        else None


def _file_cell(fdef: Field, shown: Shown) -> Cell:
    files = shown.files

    def stored_file(value: Any) -> str:
        stored = file_id(value)
        if stored is None:
            return esc(str(value))
        return f'<a href="/files/{stored}">{esc(files.get(stored) or f"#{stored}")}</a>'
    return blank_or(stored_file)


def _read_upload(fdef: Field, form: Submitted, fmt: Formatter
                 ) -> tuple[Any, dict[str, Any]] | None:
    return None  # the upload is stored apart, by the attachments' own route


FILE = define("file", "text", "accept max_size", sortable=False, importable=False,
              may_be_unique=False,
              parse=parse_text, filter=_stripped, cell=_file_cell, widget="file", refers="file",
              read=_read_upload, schema=TEXT_SCHEMA)

TYPES: tuple[FieldType, ...] = (TEXT, TEXTAREA, EMAIL_TYPE, PHONE_TYPE, URL_TYPE, FILE)
