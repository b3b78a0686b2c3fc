"""MetaCRM's own tables (`mc_*`): users, teams, tokens, sessions, the audit trail, sequences,
Setup's metadata versions, notes and files, saved views, the outbox, workflow runs, imports,
segments. Every model has the same ones; schema.py adds the objects' tables beside them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from .types import ID, UtcDateTime


def system_tables(metadata: MetaData) -> dict[str, Table]:
    user = Table(
        "mc_user", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False, unique=True),
        Column("display_name", Text()),
        Column("email", Text()),
        Column("role", String(63), nullable=False),
        Column("password_hash", Text()),
        Column("is_active", Boolean(), nullable=False, default=True),
        Column("locale", String(10)),
        Column("failed_logins", Integer(), nullable=False, default=0),
        Column("locked_until", UtcDateTime()),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    team = Table(
        "mc_team", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("name", String(150), nullable=False, unique=True),
        Column("manager_id", BigInteger()),
    )
    team_member = Table(
        "mc_team_member", metadata,
        Column("team_id", BigInteger(), nullable=False),
        Column("user_id", BigInteger(), nullable=False, index=True),
        PrimaryKeyConstraint("team_id", "user_id"),
    )
    token = Table(
        "mc_token", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False, index=True),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("label", Text()),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("last_used_at", UtcDateTime()),
    )
    session = Table(  # a signed-in browser; the cookie holds the id, the table its hash
        "mc_session", metadata,
        Column("id", String(64), primary_key=True),
        Column("user_id", BigInteger(), nullable=False, index=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("last_seen_at", UtcDateTime(), nullable=False),
        Column("ended_at", UtcDateTime()),
        Column("address", String(64)),
        Column("agent", Text()),
    )
    sign_in_attempt = Table(  # sign-ins, for throttling (throttle.py)
        "mc_sign_in_attempt", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False),
        Column("address", String(64), nullable=False),
        Column("at", UtcDateTime(), nullable=False, index=True),
        Column("ok", Boolean(), nullable=False, default=False),
        Index("ix_mc_sign_in_attempt_username_at", "username", "at"),
        Index("ix_mc_sign_in_attempt_address_at", "address", "at"),
    )
    audit = Table(
        "mc_audit", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("action", String(20), nullable=False),
        Column("changes", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_audit_record", "object", "record_id"),
    )
    sequence = Table(
        "mc_sequence", metadata,
        Column("object", String(63), nullable=False),
        Column("field", String(63), nullable=False),
        Column("value", BigInteger(), nullable=False),
        PrimaryKeyConstraint("object", "field"),
    )
    field = Table(
        "mc_field", metadata,
        Column("object", String(63), nullable=False),
        Column("field", String(63), nullable=False),
        Column("kind", String(100), nullable=False),
        Column("signature", Text(), nullable=False),
        Column("status", String(20), nullable=False),
        Column("changed_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("object", "field"),
    )
    note = Table(
        "mc_note", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("body", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_note_record", "object", "record_id"),
    )
    file = Table(
        "mc_file", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("name", Text(), nullable=False),
        Column("content_type", String(100), nullable=False),
        Column("size", BigInteger(), nullable=False),
        Column("path", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_file_record", "object", "record_id"),
    )
    view = Table(
        "mc_view", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("name", Text(), nullable=False),
        Column("user_id", BigInteger(), nullable=False),
        Column("shared", Boolean(), nullable=False, default=False),
        Column("params", Text(), nullable=False),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_view_object", "object"),
    )
    outbox = Table(
        "mc_outbox", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("kind", String(20), nullable=False),  # email | webhook
        Column("payload", Text(), nullable=False),
        Column("status", String(20), nullable=False),  # pending | sent | dead
        Column("attempts", Integer(), nullable=False, default=0),
        Column("next_attempt_at", UtcDateTime(), nullable=False),
        Column("claimed_by", String(100)),
        Column("claimed_until", UtcDateTime()),
        Column("last_error", Text()),
        Column("workflow", String(63)),
        Column("object", String(63)),
        Column("record_id", BigInteger()),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime()),
        Index("ix_mc_outbox_due", "status", "next_attempt_at"),
    )
    run = Table(
        "mc_workflow_run", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("workflow", String(63), nullable=False),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger()),
        Column("trigger", String(20), nullable=False),  # created | updated | ... | schedule
        Column("status", String(20), nullable=False),  # done | failed
        Column("actions", Text(), nullable=False),  # JSON: what each action did
        Column("error", Text()),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
        Index("ix_mc_workflow_run_record", "object", "record_id"),
        Index("ix_mc_workflow_run_workflow", "workflow", "at"),
    )
    fired = Table(
        "mc_schedule_fired", metadata,
        Column("workflow", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("occurrence", Date(), nullable=False),
        Column("at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("workflow", "record_id", "occurrence"),
    )
    schedule_state = Table(
        "mc_schedule_state", metadata,
        Column("workflow", String(63), primary_key=True),
        Column("last_day", Date(), nullable=False),
    )
    switch = Table(
        "mc_workflow_switch", metadata,
        Column("workflow", String(63), primary_key=True),
        Column("active", Boolean(), nullable=False),
        Column("user_id", BigInteger()),
        Column("at", UtcDateTime(), nullable=False),
    )
    notification = Table(
        "mc_notification", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False),
        Column("message", Text(), nullable=False),
        Column("link", Text()),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("read_at", UtcDateTime()),
        Index("ix_mc_notification_user", "user_id", "read_at"),
    )
    versions = Table(  # the admin's metadata changes (Setup), one row per saved version
        "mc_metadata", metadata,
        Column("version", BigInteger(), primary_key=True, autoincrement=False),
        Column("documents", Text(), nullable=False),  # JSON: path -> YAML text
        Column("summary", Text(), nullable=False),
        Column("user_id", BigInteger()),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    imports = Table(  # an import of a file into an object: resumable, committed in batches
        "mc_import", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("filename", Text(), nullable=False),
        Column("path", Text(), nullable=False),  # the uploaded file, kept under var/imports
        Column("settings", Text(), nullable=False),  # JSON: mapping, key, dry_run
        Column("status", String(20), nullable=False),  # pending running done failed
        Column("total", Integer(), nullable=False, default=0),
        Column("done", Integer(), nullable=False, default=0),  # rows committed (resume here)
        Column("inserted", Integer(), nullable=False, default=0),
        Column("updated", Integer(), nullable=False, default=0),
        Column("rejected", Integer(), nullable=False, default=0),
        Column("message", Text()),
        Column("user_id", BigInteger()),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    )
    import_row = Table(  # a rejected row of an import, with the reason
        "mc_import_row", metadata,
        Column("import_id", BigInteger(), nullable=False),
        Column("row", Integer(), nullable=False),  # the row number in the file (1 = header)
        Column("reason", Text(), nullable=False),
        Column("data", Text(), nullable=False),  # JSON: the row as read
        PrimaryKeyConstraint("import_id", "row"),
    )
    import_template = Table(  # a column mapping saved for the next file of the same kind
        "mc_import_template", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("name", Text(), nullable=False),
        Column("settings", Text(), nullable=False),  # JSON: mapping and key
        Column("user_id", BigInteger()),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    segment = Table(  # a saved, filtered list of customers
        "mc_segment", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("name", Text(), nullable=False),
        Column("params", Text(), nullable=False),  # JSON: list-page filters {key: value}
        Column("shared", Boolean(), nullable=False, default=False),
        Column("user_id", BigInteger(), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        Index("ix_mc_segment_object", "object"),
    )
    campaign_segment = Table(  # a campaign's target list: one segment per campaign
        "mc_campaign_segment", metadata,
        Column("campaign_id", BigInteger(), primary_key=True, autoincrement=False),
        Column("segment_id", BigInteger(), nullable=False, index=True),
    )
    approval = Table(  # approvals: one row per step of a request (see approvals.py)
        "mc_approval", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("approval", String(63), nullable=False),
        Column("step", Integer(), nullable=False),
        Column("status", String(20), nullable=False),  # pending|approved|rejected|withdrawn
        Column("approvers", Text(), nullable=False),  # JSON: the user ids who may decide
        Column("submitted_by", BigInteger(), nullable=False),
        Column("submitted_at", UtcDateTime(), nullable=False),
        Column("decided_by", BigInteger()),
        Column("decided_at", UtcDateTime()),
        Column("comment", Text()),
        Index("ix_mc_approval_record", "object", "record_id"),
        Index("ix_mc_approval_status", "status"),
    )
    return {t.name: t for t in (user, team, team_member, token, session, sign_in_attempt, audit,
                                sequence, field,
                                note, file, view, outbox, run, fired, schedule_state, switch,
                                notification, versions, imports, import_row,
                                import_template, segment, campaign_segment, approval)}


__all__ = ["system_tables"]
