"""The outbox: email and webhook actions are rows written in the saving transaction and
sent by the worker after commit, with retries and exponential back-off.

Claiming is a lease: a worker marks a batch as its own until `claimed_until`; on PostgreSQL
the claim skips rows another worker holds (FOR UPDATE SKIP LOCKED), so several workers never
take the same message. Each message is marked sent right after the far side accepted it
(the SMTP server's answer to DATA, the webhook receiver's 2xx): that is the smallest window
SMTP allows. A worker killed inside that window leaves a message that the next worker sends
again, with the same identity: every delivery carries one stable id derived from its
outbox row (webhooks: X-MetaCRM-Delivery; emails: the Message-ID header, the same on every
attempt), so a receiver drops the repeat. A message taken over from a worker whose lease
ran out is counted as `repeated` (possibly sent twice) in what `deliver` returns, and the
worker's log says so. After MAX_ATTEMPTS failures a message is `dead`: kept, visible,
retryable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import or_, select

from .errors import NotFound
from .runtime import Runtime
from .types import now_utc

MAX_ATTEMPTS = 6
BASE_DELAY = 30  # seconds; then 60, 120, 240, ...
LEASE = timedelta(minutes=2)
IN_FLIGHT = "!sending"  # appended to `claimed_by` while the message is being sent


@dataclass(frozen=True)
class Delivery:
    """How to send: SMTP settings and the webhook signing secret (from the environment)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "metacrm@localhost"
    smtp_starttls: bool = False
    webhook_secret: str = ""
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> Delivery:
        env = os.environ
        return cls(smtp_host=env.get("SMTP_HOST", "127.0.0.1"),
                   smtp_port=int(env.get("SMTP_PORT", "25")),
                   smtp_user=env.get("SMTP_USER") or None,
                   smtp_password=env.get("SMTP_PASSWORD") or None,
                   smtp_from=env.get("SMTP_FROM", "metacrm@localhost"),
                   smtp_starttls=env.get("SMTP_STARTTLS", "") in ("1", "true"),
                   webhook_secret=env.get("METACRM_WEBHOOK_SECRET")
                   or env.get("METACRM_SECRET_KEY", ""))


def signature(secret: str, body: bytes) -> str:
    """The X-MetaCRM-Signature of a webhook body: sha256=<hex HMAC-SHA256 with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def claim(rt: Runtime, worker: str, limit: int, now: datetime) -> list[dict[str, Any]]:
    outbox = rt.schema.system["mc_outbox"]
    free = or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)
    ids = (select(outbox.c.id, outbox.c.claimed_by)
           .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now, free)
           .order_by(outbox.c.id).limit(limit).with_for_update(skip_locked=True))
    with rt.db.write() as conn:
        previous = dict(conn.execute(ids).all())  # id -> the worker that had it, if any
        chosen = list(previous)
        if not chosen:
            return []
        # a row another worker was sending when its lease ran out (killed, or stuck) may
        # have been sent already: it is taken over, and counted as possibly repeated
        taken_over = {i for i, by in previous.items() if (by or "").endswith(IN_FLIGHT)}
        conn.execute(outbox.update().where(outbox.c.id.in_(chosen)).values(
            claimed_by=worker, claimed_until=now + LEASE))
        rows = conn.execute(select(outbox).where(outbox.c.id.in_(chosen))
                            .order_by(outbox.c.id)).mappings().all()
    return [{**r, "taken_over": r["id"] in taken_over} for r in rows]


def message_id_of(delivery: Delivery, row: dict[str, Any]) -> str:
    """The Message-ID of an outbox email: the same on every attempt (the row's id and the
    moment it was queued, at the sender's domain), so a repeat is recognisable."""
    domain = delivery.smtp_from.rpartition("@")[2].strip("> ") or "metacrm.local"
    created = row["created_at"]
    stamp = created.strftime("%Y%m%d%H%M%S") if isinstance(created, datetime) else "0"
    return f"<metacrm.outbox.{row['id']}.{stamp}@{domain}>"


def send_email(delivery: Delivery, row: dict[str, Any], payload: dict[str, Any]) -> None:
    message = EmailMessage()
    message["From"] = delivery.smtp_from
    message["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        message["Cc"] = ", ".join(payload["cc"])
    message["Subject"] = payload["subject"]
    message["Message-ID"] = message_id_of(delivery, row)
    message["X-MetaCRM-Delivery"] = str(row["id"])
    message.set_content(payload["body"])
    with smtplib.SMTP(delivery.smtp_host, delivery.smtp_port,
                      timeout=delivery.timeout) as smtp:
        if delivery.smtp_starttls:
            smtp.starttls()
        if delivery.smtp_user:
            smtp.login(delivery.smtp_user, delivery.smtp_password or "")
        smtp.send_message(message)


def send_webhook(delivery: Delivery, client: httpx.Client, message_id: int,
                 payload: dict[str, Any]) -> None:
    body = json.dumps(payload["body"], ensure_ascii=False, default=str).encode()
    response = client.request(payload.get("method", "POST"), payload["url"], content=body,
                              headers={"Content-Type": "application/json",
                                       "X-MetaCRM-Delivery": str(message_id),
                                       "X-MetaCRM-Signature": signature(
                                           delivery.webhook_secret, body)},
                              timeout=delivery.timeout)
    if response.status_code >= 300:
        raise RuntimeError(f"the receiver answered {response.status_code}")


def deliver(rt: Runtime, worker: str, delivery: Delivery, *, limit: int = 100,
            now: datetime | None = None,
            on_takeover: Callable[[list[int]], None] | None = None) -> dict[str, int]:
    """Send one batch of due messages; {sent, failed, dead, repeated, lost}. `on_takeover`
    is told at once (before sending) the ids of messages a stopped worker was sending, which
    may therefore arrive twice. `lost`: messages another worker took over while this one
    was slow (its lease ran out); each is sent, or left, once by whoever holds it."""
    now = now or now_utc()
    batch = claim(rt, worker, limit, now)
    taken = [row["id"] for row in batch if row["taken_over"]]
    if taken and on_takeover is not None:
        on_takeover(taken)
    return send_claimed(rt, worker, delivery, batch, now=now)


def send_claimed(rt: Runtime, worker: str, delivery: Delivery, batch: list[dict[str, Any]],
                 *, now: datetime) -> dict[str, int]:
    """Send the messages `worker` claimed, one by one, each marked in flight first and
    sent after; a message whose lease another worker has taken meanwhile is left to it."""
    outbox = rt.schema.system["mc_outbox"]
    counts = {"sent": 0, "failed": 0, "dead": 0, "repeated": 0, "lost": 0}
    if not batch:
        return counts
    with httpx.Client() as client:
        for row in batch:
            payload = json.loads(row["payload"])
            flying = worker + IN_FLIGHT
            with rt.db.write() as conn:  # this one is on its way (see `claim`)
                ours = conn.execute(outbox.update().where(
                    outbox.c.id == row["id"], outbox.c.claimed_by == worker,
                    outbox.c.status == "pending").values(
                    claimed_by=flying, claimed_until=now_utc() + LEASE)).rowcount
            if not ours:  # our lease ran out and another worker took the message: theirs
                counts["lost"] += 1
                continue
            try:
                if row["kind"] == "email":
                    send_email(delivery, row, payload)
                else:
                    send_webhook(delivery, client, row["id"], payload)
            except Exception as exc:  # any failure of the far side: retry later
                attempts = row["attempts"] + 1
                dead = attempts >= MAX_ATTEMPTS
                delay = timedelta(seconds=BASE_DELAY * 2 ** (attempts - 1))
                with rt.db.write() as conn:
                    conn.execute(outbox.update().where(
                        outbox.c.id == row["id"], outbox.c.claimed_by == flying).values(
                        attempts=attempts, status="dead" if dead else "pending",
                        last_error=f"{type(exc).__name__}: {exc}"[:2000],
                        next_attempt_at=now + delay, claimed_by=None,
                        claimed_until=None))
                counts["dead" if dead else "failed"] += 1
                continue
            with rt.db.write() as conn:
                marked = conn.execute(outbox.update().where(
                    outbox.c.id == row["id"], outbox.c.claimed_by == flying).values(
                    status="sent", sent_at=now_utc(), attempts=row["attempts"] + 1,
                    claimed_by=worker, claimed_until=None)).rowcount
            if not marked:  # sent, but another worker took it meanwhile: it may go twice
                counts["lost"] += 1
                continue
            counts["sent"] += 1
            if row["taken_over"]:
                counts["repeated"] += 1
    return counts


def retry(rt: Runtime, message_id: int) -> None:
    """Put a failed or dead message back in the queue, due now."""
    outbox = rt.schema.system["mc_outbox"]
    with rt.db.write() as conn:
        done = conn.execute(outbox.update().where(
            outbox.c.id == message_id, outbox.c.status.in_(("pending", "dead"))
        ).values(status="pending", next_attempt_at=now_utc(), claimed_by=None,
                 claimed_until=None))
    if done.rowcount != 1:
        raise NotFound(f"no failed message {message_id} in the outbox")


def messages(rt: Runtime, *, status: str | None = None, limit: int = 100
             ) -> list[dict[str, Any]]:
    outbox = rt.schema.system["mc_outbox"]
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status:
        query = query.where(outbox.c.status == status)
    with rt.db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
