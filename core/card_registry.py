"""Registry of social security cards, looked up by identity number and name.

Pure Python + SQLAlchemy 1.4 (works on SQLite and PostgreSQL), no Rasa
imports. Neither the identity number nor the name is ever stored: both are
kept only as HMAC-SHA256 digests keyed with a secret, so a copy of the
database does not reveal who holds which card, and the digests cannot be
recomputed from a list of candidate numbers without the secret.

Configuration (environment):

``CARD_REGISTRY_URL``
    SQLAlchemy URL. Default: SQLite file ``var/card_registry.sqlite3`` in the
    project root.
``CARD_REGISTRY_SECRET``
    HMAC key. Falls back to :data:`DEV_SECRET`, which is public (it is in this
    file) and MUST be overridden in production: with it anyone can test
    whether a given person is in the registry.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from hashlib import sha256
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from core.identity import validate_id_number

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "DEV_SECRET",
    "CardRecord",
    "CardRegistry",
    "CardStatus",
    "CardUpsert",
    "LookupKind",
    "LookupResult",
    "RegistryConfigError",
    "RegistrySecret",
    "hash_id_number",
    "hash_name",
    "normalize_name",
    "registry_secret",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "card_registry.sqlite3"

URL_ENV = "CARD_REGISTRY_URL"
SECRET_ENV = "CARD_REGISTRY_SECRET"

# Development-only HMAC key. It is public, so it protects nothing: set
# CARD_REGISTRY_SECRET in every deployed environment (and re-import the
# registry when changing it, since every stored digest depends on it).
DEV_SECRET = "dev-only-card-registry-secret-do-not-use-in-production"

# Seconds to wait for a PostgreSQL connection before reporting "unavailable";
# the assistant must answer the user rather than hang.
_PG_CONNECT_TIMEOUT = 5

# Rows per IN (...) query during upsert, well under every backend's
# bound-parameter limit.
_UPSERT_CHUNK = 500


class RegistryConfigError(Exception):
    """The registry is misconfigured (bad URL, empty secret, missing driver)."""


class CardStatus(str, enum.Enum):
    """Life-cycle state of a card, stored as its string value."""

    APPLICATION_RECEIVED = "application_received"
    IN_PRODUCTION = "in_production"
    READY_FOR_COLLECTION = "ready_for_collection"
    ISSUED_NOT_ACTIVATED = "issued_not_activated"
    # Social security function enabled, bank (financial) function not activated.
    SOCIAL_ENABLED = "social_enabled"
    # Bank function activated, social security function not enabled.
    BANK_ACTIVATED = "bank_activated"
    FULLY_ACTIVE = "fully_active"
    REPORTED_LOST = "reported_lost"
    CANCELLED = "cancelled"


class LookupKind(str, enum.Enum):
    """What a lookup found; see :class:`LookupResult`."""

    FOUND = "found"
    NO_MATCH = "no_match"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class CardRecord:
    """What the assistant may tell a verified holder. Holds no ID and no name."""

    status: CardStatus
    issuing_city: str
    applied_on: date
    produced_on: date | None
    # Date by which the holder must take the next step: collect the card
    # (ready_for_collection) or activate it (issued_not_activated).
    activation_deadline: date | None
    collection_outlet: str | None
    updated_at: datetime


@dataclass(frozen=True)
class LookupResult:
    """Result of :meth:`CardRegistry.lookup`.

    ``card`` is set only for ``FOUND``. A wrong name and an unknown identity
    number both give the same ``NO_MATCH`` value (they compare equal), so a
    caller cannot use the lookup to learn whether a number is registered.
    """

    kind: LookupKind
    card: CardRecord | None = None


_NO_MATCH = LookupResult(LookupKind.NO_MATCH)
_UNAVAILABLE = LookupResult(LookupKind.UNAVAILABLE)


@dataclass(frozen=True)
class CardUpsert:
    """One card to write; :meth:`CardRegistry.upsert` hashes its ID and name."""

    id_number: str
    name: str
    status: CardStatus
    issuing_city: str
    applied_on: date
    produced_on: date | None = None
    activation_deadline: date | None = None
    collection_outlet: str | None = None


class RegistrySecret(NamedTuple):
    """The HMAC key and whether it is the public development default."""

    value: str
    is_default: bool


def registry_secret() -> RegistrySecret:
    """Return the HMAC key from ``CARD_REGISTRY_SECRET``, else :data:`DEV_SECRET`.

    An empty or blank variable is an error rather than a silent fallback,
    because it usually means a deployment template failed to fill it in.
    """
    value = os.environ.get(SECRET_ENV)
    if value is None:
        return RegistrySecret(DEV_SECRET, is_default=True)
    if not value.strip():
        raise RegistryConfigError(f"{SECRET_ENV} is set but empty")
    return RegistrySecret(value, is_default=False)


def normalize_name(name: str) -> str:
    """Return the form of a name that is hashed: NFKC, no whitespace or commas, case-folded.

    Case-folding lets "JOHN SMITH" (as on a passport) match "John Smith";
    it does not change Chinese characters. Commas go too, so "SMITH, JOHN"
    (surname, given names, as foreign names are often printed on cards)
    matches "SMITH JOHN"; Chinese names never contain one. The word order is
    kept: "JOHN SMITH" does not match "SMITH JOHN".
    """
    return "".join(unicodedata.normalize("NFKC", name).replace(",", " ").split()).casefold()


def _hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), sha256).hexdigest()


def hash_id_number(normalized_id: str, secret: str) -> str:
    """HMAC-SHA256 hex digest of an already normalised identity number."""
    return _hmac_hex(secret, normalized_id)


def hash_name(name: str, secret: str) -> str:
    """HMAC-SHA256 hex digest of :func:`normalize_name` of ``name``."""
    return _hmac_hex(secret, normalize_name(name))


def _build_cards_table(metadata: MetaData) -> Table:
    statuses = ", ".join(f"'{status.value}'" for status in CardStatus)
    return Table(
        "cards",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("id_hash", String(64), nullable=False, unique=True, index=True),
        Column("name_hash", String(64), nullable=False),
        Column("status", String(32), nullable=False),
        Column("issuing_city", String(64), nullable=False),
        Column("applied_on", Date, nullable=False),
        Column("produced_on", Date, nullable=True),
        Column("activation_deadline", Date, nullable=True),
        Column("collection_outlet", Text, nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        # A CHECK rather than a native ENUM: adding a status then needs no
        # PostgreSQL type migration, and SQLite enforces it too.
        CheckConstraint(f"status IN ({statuses})", name="cards_status_known"),
    )


def _build_attempts_table(metadata: MetaData) -> Table:
    # Lookup attempts per conversation, for the lock-out and the hourly limit. Kept server-side so a
    # conversation cannot wipe them by restarting; the conversation id is stored as a keyed hash.
    return Table(
        "lookup_attempts",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("conversation_hash", String(64), nullable=False, index=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("verified", Boolean, nullable=False),
    )


@dataclass(frozen=True)
class Attempt:
    """One lookup attempt of a conversation: when, and whether the holder was verified."""

    at: datetime
    verified: bool


class CardRegistry:
    """Access to the ``cards`` table.

    No connection is made until the first call that needs one. ``schema``
    places the table in a PostgreSQL schema (used by tests to isolate runs).
    ``secret`` overrides :func:`registry_secret` (tests, key rotation tools).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        secret: str | None = None,
        schema: str | None = None,
    ) -> None:
        raw_url = url or os.environ.get(URL_ENV) or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        try:
            self._url = make_url(raw_url)
            # Resolves the dialect name only (no driver import, no connection),
            # so a typo such as "postgress://" fails here, at startup.
            self._url.get_dialect()
        except (ArgumentError, ValueError) as exc:
            # Don't echo the URL: it may contain a password.
            raise RegistryConfigError(f"invalid registry URL ({exc.__class__.__name__})") from None
        self._uses_default_path = not url and not os.environ.get(URL_ENV)

        if secret is None:
            resolved = registry_secret()
            if resolved.is_default:
                logger.warning("%s is not set: using the public development secret", SECRET_ENV)
            secret = resolved.value
        elif not secret.strip():
            raise RegistryConfigError("registry secret must not be empty")
        self._secret = secret

        self._metadata = MetaData(schema=schema)
        self._cards = _build_cards_table(self._metadata)
        self._attempts = _build_attempts_table(self._metadata)
        self._schema_ready = False
        self._engine: Engine | None = None
        # Actions may run lookups in worker threads; build only one engine.
        self._engine_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created on first use."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        connect_args: dict[str, object] = {}
        backend = self._url.get_backend_name()
        if backend == "sqlite" and self._uses_default_path:
            DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql":
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT
        try:
            return create_engine(
                self._url,
                future=True,
                # Survive a database restart between chat turns.
                pool_pre_ping=True,
                connect_args=connect_args,
            )
        except ImportError as exc:
            raise RegistryConfigError(f"database driver for {backend!r} is not installed: {exc.name}") from exc

    @property
    def cards_table(self) -> Table:
        """The ``cards`` table object (for tests and maintenance scripts)."""
        return self._cards

    def dispose(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()

    def ensure_schema(self) -> None:
        """Create the tables once per registry object (the first call that succeeds); raises like
        :meth:`create_schema` while the database is unreachable, so a later call tries again."""
        if not self._schema_ready:
            self.create_schema()
            self._schema_ready = True

    def create_schema(self) -> None:
        """Create the ``cards`` table and its index if they do not exist."""
        self._metadata.create_all(self.engine)

    def hash_id_number(self, normalized_id: str) -> str:
        """Digest of a normalised identity number under this registry's secret."""
        return hash_id_number(normalized_id, self._secret)

    def hash_name(self, name: str) -> str:
        """Digest of a name under this registry's secret."""
        return hash_name(name, self._secret)

    def lookup(self, id_number: str, name: str) -> LookupResult:
        """Find the card for ``id_number`` if ``name`` matches its holder.

        Returns ``FOUND`` with a :class:`CardRecord`; ``NO_MATCH`` when the
        number is unknown, the name differs, or the number is not a valid
        identity number; ``UNAVAILABLE`` when the database cannot be reached
        or queried. Never raises.
        """
        check = validate_id_number(id_number)
        # Hash the name even for invalid input so every path costs about the same.
        name_digest = self.hash_name(name)
        if not check.ok or check.normalized is None:
            return _NO_MATCH
        return self.lookup_digests(self.hash_id_number(check.normalized), name_digest)

    def lookup_digests(self, id_digest: str, name_digest: str) -> LookupResult:
        """:meth:`lookup` by digests, for callers that never keep the raw number or name
        (the assistant's form hashes them as soon as they arrive). Never raises."""
        cards = self._cards
        query = select(
            cards.c.name_hash,
            cards.c.status,
            cards.c.issuing_city,
            cards.c.applied_on,
            cards.c.produced_on,
            cards.c.activation_deadline,
            cards.c.collection_outlet,
            cards.c.updated_at,
        ).where(cards.c.id_hash == id_digest)
        try:
            with self.engine.connect() as connection:
                row = connection.execute(query).first()
        except (SQLAlchemyError, RegistryConfigError) as exc:
            # Log the class only: driver messages can echo query parameters.
            logger.error("card registry unavailable: %s", exc.__class__.__name__)
            return _UNAVAILABLE

        # Compare against a dummy when the number is unknown so timing does
        # not reveal whether it is registered.
        stored_digest = row.name_hash if row is not None else "0" * 64
        if not hmac.compare_digest(stored_digest, name_digest) or row is None:
            return _NO_MATCH
        return LookupResult(
            LookupKind.FOUND,
            CardRecord(
                status=CardStatus(row.status),
                issuing_city=row.issuing_city,
                applied_on=row.applied_on,
                produced_on=row.produced_on,
                activation_deadline=row.activation_deadline,
                collection_outlet=row.collection_outlet,
                updated_at=_as_utc(row.updated_at),
            ),
        )

    def conversation_digest(self, conversation_id: str) -> str:
        """Keyed hash of a conversation id (sender ids can be phone numbers or OpenIDs)."""
        return _hmac_hex(self._secret, "conversation:" + conversation_id)

    def record_attempt(self, conversation_id: str, verified: bool, at: datetime | None = None) -> bool:
        """Log a lookup attempt; False when the database cannot be reached (never raises)."""
        row = {
            "conversation_hash": self.conversation_digest(conversation_id),
            "at": at or datetime.now(timezone.utc),
            "verified": verified,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(self._attempts.insert().values(**row))
        except (SQLAlchemyError, RegistryConfigError) as exc:
            logger.error("card registry unavailable: %s", exc.__class__.__name__)
            return False
        return True

    def attempts_since(self, conversation_id: str, since: datetime) -> list[Attempt] | None:
        """The conversation's attempts since `since`, oldest first; None when unreachable."""
        attempts = self._attempts
        query = (
            select(attempts.c.at, attempts.c.verified)
            .where(attempts.c.conversation_hash == self.conversation_digest(conversation_id))
            .where(attempts.c.at >= since)
            .order_by(attempts.c.at)
        )
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except (SQLAlchemyError, RegistryConfigError) as exc:
            logger.error("card registry unavailable: %s", exc.__class__.__name__)
            return None
        return [Attempt(_as_utc(row.at), bool(row.verified)) for row in rows]

    def upsert(self, records: Iterable[CardUpsert]) -> int:
        """Insert or update cards, keyed by identity number, in one transaction.

        Every identity number must be valid and every name non-blank
        (``ValueError`` otherwise, before anything is written). If the same
        number appears twice, the later record wins. Returns the number of
        distinct cards written. Database errors propagate: this is an
        administrative operation.
        """
        now = datetime.now(timezone.utc)
        rows_by_hash: dict[str, dict[str, object]] = {}
        for position, record in enumerate(records):
            check = validate_id_number(record.id_number)
            if not check.ok or check.normalized is None:
                raise ValueError(f"record {position}: invalid identity number ({check.problem})")
            if not normalize_name(record.name):
                raise ValueError(f"record {position}: empty name")
            id_digest = self.hash_id_number(check.normalized)
            rows_by_hash[id_digest] = {
                "id_hash": id_digest,
                "name_hash": self.hash_name(record.name),
                "status": CardStatus(record.status).value,
                "issuing_city": record.issuing_city,
                "applied_on": record.applied_on,
                "produced_on": record.produced_on,
                "activation_deadline": record.activation_deadline,
                "collection_outlet": record.collection_outlet,
                "updated_at": now,
            }

        cards = self._cards
        digests = list(rows_by_hash)
        # Portable select-then-write instead of dialect-specific ON CONFLICT;
        # the transaction makes the whole batch all-or-nothing.
        with self.engine.begin() as connection:
            existing: set[str] = set()
            for start in range(0, len(digests), _UPSERT_CHUNK):
                chunk = digests[start : start + _UPSERT_CHUNK]
                existing.update(connection.execute(select(cards.c.id_hash).where(cards.c.id_hash.in_(chunk))).scalars())
            to_insert = [row for digest, row in rows_by_hash.items() if digest not in existing]
            to_update = [row for digest, row in rows_by_hash.items() if digest in existing]
            if to_insert:
                connection.execute(cards.insert(), to_insert)
            for row in to_update:
                values = {key: value for key, value in row.items() if key != "id_hash"}
                connection.execute(cards.update().where(cards.c.id_hash == row["id_hash"]).values(**values))
        return len(rows_by_hash)


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
