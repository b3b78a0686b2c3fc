"""Languages: interface text from message catalogs, labels from metadata, numbers, money
and dates in the user's language (Babel).

Catalogs are YAML files in `messages/`, one per language (`vi.yaml`, and `vi-<part>.yaml`
for the messages of one part of the interface), mapping the English text to its
translation; English needs no catalog. `{name}` placeholders are filled after translation:

    t = translator("vi")
    t("Save")                          -> "Lưu"
    t("{count} records", count=3)      -> "3 bản ghi"
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..engine.formats import LANGUAGES, Formats

__all__ = ["LANGUAGES", "Formats", "catalog", "error_text", "translator"]


@cache
def catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    out: dict[str, str] = {}
    folder = resources.files(__package__).joinpath("messages")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):  # vi.yaml, vi-setup.yaml, ...
        if item.name == f"{language}.yaml" or (item.name.startswith(language + "-")
                                               and item.name.endswith(".yaml")):
            out.update(yaml.safe_load(item.read_text(encoding="utf-8")) or {})
    return out


def translator(language: str) -> Callable[..., str]:
    messages = catalog(language if language in LANGUAGES else "en")

    def translate(text: str, **params: Any) -> str:
        result = messages.get(text, text)
        return result.format(**params) if params else result

    return translate


def error_text(t: Callable[..., str], language: str, code: str, message: str,
               params: dict[str, Any] | None, label: str) -> str:
    """A field error in the user's language: the catalog's text for its code when there is
    one, else the record service's own (English) message."""
    key = f"error.{code}"
    if language != "en" and key in catalog(language):
        try:
            return t(key, label=label, **(params or {}))
        except (KeyError, IndexError):
            return message
    return message
