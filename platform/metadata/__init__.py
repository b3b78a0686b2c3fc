"""Metadata: YAML app folders -> one validated, merged, frozen :class:`AppModel`.

    from metacrm.metadata import load
    model = load("apps/default_crm")
"""

from __future__ import annotations

from .loader import load
from .model import AppModel, FieldDef, Label, Layout, ObjectDef, Role, Workflow
from .problems import MetadataError, Problem

__all__ = ["AppModel", "FieldDef", "Label", "Layout", "MetadataError", "ObjectDef", "Problem",
           "Role", "Workflow", "load"]
