"""The engine put together: a runtime with every feature plugged into its save pipeline.

The core (records, the pipeline, queries, schema, access, the runtime) knows no feature; a
feature registers hooks for each model the runtime adopts (see `runtime.Feature`). This
module is the one place that names them all, and the way the CLI, the web app, tests and
benchmarks start a runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..metadata import AppModel
from . import approvals, duplicates, workflows
from .db import Database
from .runtime import Feature, Runtime
from .schema import Schema

# record-triggered workflow rules, then duplicate rules and approvals (validate hooks)
FEATURES: tuple[Feature, ...] = (workflows.install, duplicates.install,
                                 approvals.install)


def open_runtime(app_dir: str | Path, database_url: str, **options: Any) -> Runtime:
    """The app at `app_dir` with the Setup changes stored in the database."""
    return Runtime.open(app_dir, database_url, features=FEATURES, **options)


def new_runtime(model: AppModel, db: Database, schema: Schema | None = None,
                **options: Any) -> Runtime:
    """A runtime for a model already loaded (tests, tools)."""
    return Runtime(model, db, schema, features=FEATURES, **options)


__all__ = ["FEATURES", "new_runtime", "open_runtime"]
