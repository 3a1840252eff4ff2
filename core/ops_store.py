"""What a 12333 centre keeps about the assistant's work: feedback, the review queue, handoff codes.

Pure Python + SQLAlchemy 1.4 (SQLite or PostgreSQL), no Rasa imports. The action server writes
(feedback, questions to review, handoff codes); the web server reads them for the staff pages and
records what staff assigned. Nothing here ever holds an ID number, a name or a raw sender ID:
every text passes `redact_id_numbers` on the way in (the callers never pass what a person typed
into the lookup form), and conversations are known only by a keyed digest of the sender ID.

Configuration (environment):

``OPS_DB_URL``
    SQLAlchemy URL. Default: SQLite file ``var/ops.sqlite3`` in the project root.
``OPS_SECRET``
    Key of the sender-ID digest; falls back to ``CARD_REGISTRY_SECRET``, then to a public
    development key (set one in production).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from core.identity import redact_id_numbers

URL_ENV = "OPS_DB_URL"
SECRET_ENV = "OPS_SECRET"
DEV_SECRET = "development-only-ops-secret"
DEFAULT_SQLITE_PATH = Path(__file__).resolve().parent.parent / "var" / "ops.sqlite3"

RATINGS = ("up", "down")
# why a question is queued: not understood, 👎, a handoff, or "I meant: …" tapped (another topic)
FALLBACK_REASON = "fallback"
RUNNER_UP_REASON = "runner_up"
REASONS = (FALLBACK_REASON, "thumbs_down", "handoff", RUNNER_UP_REASON)
OUT_OF_SCOPE = "out_of_scope"
NEEDS_NEW_ANSWER = "needs_new_answer"
HANDOFF_TTL = timedelta(hours=24)
# No 0/O, 1/I/L, 5/S, 2/Z: read out over the phone, a code must not be misheard.
CODE_ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 6
MAX_TEXT = 1000

metadata = MetaData()

feedback_table = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("conversation", String(64), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("rating", String(8), nullable=False),
    Column("topics", Text, nullable=False),  # JSON list of intents answered
    Column("entry", String(200), nullable=True),  # the knowledge entry the answer came from
    Column("region", String(64), nullable=True),
    Column("language", String(8), nullable=True),
    Column("question", Text, nullable=True),  # redacted
    Column("comment", Text, nullable=True),  # redacted
)

review_table = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("conversation", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("text", Text, nullable=False),  # redacted
    Column("language", String(8), nullable=True),
    Column("guess", String(64), nullable=True),
    Column("guess_confidence", Float, nullable=True),
    Column("label", String(64), nullable=True),  # an intent, out_of_scope or needs_new_answer
    Column("assigned_by", String(64), nullable=True),
    Column("assigned_at", DateTime(timezone=True), nullable=True),
)

handoff_table = Table(
    "handoffs",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("conversation", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("language", String(8), nullable=True),
    Column("region", String(64), nullable=True),
    Column("identity_verified", Boolean, nullable=False, default=False),
    Column("summary", Text, nullable=False),  # JSON: topics, answers, questions (redacted)
)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def aware_utc(value: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes for timezone=True columns; they were stored in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def clean(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """The form a citizen's text is kept in: ID numbers masked, capped, stripped."""
    if text is None:
        return None
    return redact_id_numbers(str(text)).strip()[:limit]


def conversation_key(sender_id: str, secret: str | None = None) -> str:
    """A keyed digest of the sender ID: groups a conversation's records without keeping its ID
    (a WeChat openid or a phone-linked ID is personal data)."""
    key = secret or os.environ.get(SECRET_ENV) or os.environ.get("CARD_REGISTRY_SECRET") or DEV_SECRET
    return hmac.new(key.encode(), sender_id.encode(), sha256).hexdigest()[:32]


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What a staff member typed, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def engine_from_env(url: str | None = None) -> Engine:
    """The operations database: `url`, else OPS_DB_URL, else SQLite under var/."""
    url = url or os.environ.get(URL_ENV)
    if not url:
        DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 10})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection: Any, _record: Any) -> None:  # two processes write this file
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


@dataclass(frozen=True)
class Feedback:
    id: int
    created_at: datetime
    channel: str
    rating: str
    topics: list[str]
    entry: str | None
    region: str | None
    language: str | None
    question: str | None
    comment: str | None


@dataclass(frozen=True)
class ReviewItem:
    id: int
    created_at: datetime
    channel: str
    reason: str
    text: str
    language: str | None
    guess: str | None
    guess_confidence: float | None
    label: str | None
    assigned_by: str | None
    assigned_at: datetime | None


@dataclass(frozen=True)
class Handoff:
    code: str
    created_at: datetime
    expires_at: datetime
    channel: str
    language: str | None
    region: str | None
    identity_verified: bool
    summary: dict[str, Any] = field(default_factory=dict)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or now_utc()) >= self.expires_at


class OpsStore:
    """Feedback, review items and handoff codes on one SQLAlchemy engine (tables made on first use)."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or engine_from_env()
        self._ready = False
        self._lock = threading.Lock()

    def _tables(self) -> Engine:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    metadata.create_all(self.engine)
                    self._ready = True
        return self.engine

    # -- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self,
        *,
        sender_id: str,
        channel: str,
        rating: str,
        topics: Iterable[str],
        entry: str | None = None,
        region: str | None = None,
        language: str | None = None,
        question: str | None = None,
        at: datetime | None = None,
    ) -> int:
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        with self._tables().begin() as connection:
            result = connection.execute(
                insert(feedback_table).values(
                    created_at=at or now_utc(),
                    conversation=conversation_key(sender_id),
                    channel=channel[:32],
                    rating=rating,
                    topics=json.dumps(list(topics)),
                    entry=entry,
                    region=region,
                    language=language,
                    question=clean(question),
                )
            )
            return int(result.inserted_primary_key[0])

    def add_comment(self, sender_id: str, comment: str) -> bool:
        """Attach "what was missing" to this conversation's latest 👎; False if there is none."""
        key = conversation_key(sender_id)
        with self._tables().begin() as connection:
            latest = connection.execute(
                select(feedback_table.c.id)
                .where(feedback_table.c.conversation == key, feedback_table.c.rating == "down")
                .order_by(feedback_table.c.id.desc())
                .limit(1)
            ).scalar()
            if latest is None:
                return False
            connection.execute(
                update(feedback_table).where(feedback_table.c.id == latest).values(comment=clean(comment))
            )
            return True

    def feedback(self, since: datetime | None = None, limit: int = 1000) -> list[Feedback]:
        query = select(feedback_table).order_by(feedback_table.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(feedback_table.c.created_at >= since)
        with self._tables().connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            Feedback(
                id=row["id"],
                created_at=aware_utc(row["created_at"]),  # type: ignore[arg-type]
                channel=row["channel"],
                rating=row["rating"],
                topics=json.loads(row["topics"] or "[]"),
                entry=row["entry"],
                region=row["region"],
                language=row["language"],
                question=row["question"],
                comment=row["comment"],
            )
            for row in rows
        ]

    # -- review queue --------------------------------------------------------------------------

    def add_review_item(
        self,
        *,
        sender_id: str,
        channel: str,
        reason: str,
        text: str,
        language: str | None = None,
        guess: str | None = None,
        guess_confidence: float | None = None,
        at: datetime | None = None,
    ) -> int | None:
        """Queue a question for review; None when there is no text left to review."""
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, not {reason!r}")
        text = clean(text) or ""
        if not text:
            return None
        with self._tables().begin() as connection:
            result = connection.execute(
                insert(review_table).values(
                    created_at=at or now_utc(),
                    conversation=conversation_key(sender_id),
                    channel=channel[:32],
                    reason=reason,
                    text=text,
                    language=language,
                    guess=guess,
                    guess_confidence=None if guess_confidence is None else round(float(guess_confidence), 4),
                )
            )
            return int(result.inserted_primary_key[0])

    def review_items(self, *, assigned: bool | None = None, limit: int = 500) -> list[ReviewItem]:
        """Newest first; `assigned` False = still to review, True = done, None = all."""
        query = select(review_table).order_by(review_table.c.created_at.desc(), review_table.c.id.desc()).limit(limit)
        if assigned is True:
            query = query.where(review_table.c.label.is_not(None))
        elif assigned is False:
            query = query.where(review_table.c.label.is_(None))
        with self._tables().connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            ReviewItem(
                id=row["id"],
                created_at=aware_utc(row["created_at"]),  # type: ignore[arg-type]
                channel=row["channel"],
                reason=row["reason"],
                text=row["text"],
                language=row["language"],
                guess=row["guess"],
                guess_confidence=row["guess_confidence"],
                label=row["label"],
                assigned_by=row["assigned_by"],
                assigned_at=aware_utc(row["assigned_at"]),
            )
            for row in rows
        ]

    def assign(self, item_ids: Iterable[int], label: str, staff: str, at: datetime | None = None) -> int:
        """Give items their right topic (or out_of_scope / needs_new_answer); returns how many."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return 0
        with self._tables().begin() as connection:
            result = connection.execute(
                update(review_table)
                .where(review_table.c.id.in_(ids))
                .values(label=label, assigned_by=staff[:64], assigned_at=at or now_utc())
            )
            return int(result.rowcount or 0)

    # -- handoff codes -------------------------------------------------------------------------

    def create_handoff(
        self,
        *,
        sender_id: str,
        channel: str,
        summary: dict[str, Any],
        language: str | None = None,
        region: str | None = None,
        identity_verified: bool = False,
        at: datetime | None = None,
        ttl: timedelta = HANDOFF_TTL,
    ) -> str:
        """A new short code for this conversation's redacted summary, valid for `ttl`."""
        created = at or now_utc()
        payload = json.dumps(_clean_summary(summary), ensure_ascii=False)
        self.purge_expired_handoffs(created)  # codes long expired are deleted as new ones are made
        for _ in range(20):
            code = new_code()
            try:
                with self._tables().begin() as connection:
                    connection.execute(
                        insert(handoff_table).values(
                            code=code,
                            created_at=created,
                            expires_at=created + ttl,
                            conversation=conversation_key(sender_id),
                            channel=channel[:32],
                            language=language,
                            region=region,
                            identity_verified=bool(identity_verified),
                            summary=payload,
                        )
                    )
                return code
            except IntegrityError:
                continue  # the same code twice: draw again
        raise RuntimeError("could not draw an unused handoff code")

    def handoff(self, code: str) -> Handoff | None:
        """The handoff of this code (expired ones too: the caller decides), or None."""
        with self._tables().connect() as connection:
            row = (
                connection.execute(select(handoff_table).where(handoff_table.c.code == normalise_code(code)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Handoff(
            code=row["code"],
            created_at=aware_utc(row["created_at"]),  # type: ignore[arg-type]
            expires_at=aware_utc(row["expires_at"]),  # type: ignore[arg-type]
            channel=row["channel"],
            language=row["language"],
            region=row["region"],
            identity_verified=bool(row["identity_verified"]),
            summary=json.loads(row["summary"]),
        )

    def handoffs_since(self, since: datetime) -> list[tuple[datetime, str]]:
        """(created_at, channel) of every handoff since `since`, for the dashboard."""
        with self._tables().connect() as connection:
            rows = connection.execute(
                select(handoff_table.c.created_at, handoff_table.c.channel).where(handoff_table.c.created_at >= since)
            ).all()
        return [(aware_utc(at), channel) for at, channel in rows]  # type: ignore[misc]

    def purge_expired_handoffs(self, now: datetime | None = None, keep: timedelta = timedelta(days=7)) -> int:
        """Delete codes that expired more than `keep` ago."""
        with self._tables().begin() as connection:
            result = connection.execute(
                handoff_table.delete().where(handoff_table.c.expires_at < (now or now_utc()) - keep)
            )
            return int(result.rowcount or 0)

    def count(self, table: str) -> int:
        chosen = {"feedback": feedback_table, "review_items": review_table, "handoffs": handoff_table}[table]
        with self._tables().connect() as connection:
            return int(connection.execute(select(func.count()).select_from(chosen)).scalar() or 0)


def _clean_summary(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value, limit=4000)
    if isinstance(value, list):
        return [_clean_summary(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean_summary(item) for key, item in value.items()}
    return value
