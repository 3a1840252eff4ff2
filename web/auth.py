"""Staff accounts of the web server: login, sessions, CSRF, lock-out, and the audit log.

Every page under ``/staff`` and every API under ``/api/staff/`` needs a logged-in staff member, except
the login page and its API (`PUBLIC_PATHS`). `staff_middleware` enforces that by path prefix, so a
page or API added later under those prefixes is protected without any change here. For handlers:

    from web.auth import audit, staff_user

    async def open_handoff(request):
        user = staff_user(request)                  # the logged-in staff member's user name
        audit(request, "handoff.open", code)        # one line in audit_log, with that user name

Accounts are made with ``python -m web.staff_users add NAME`` (``make staff-user USER=NAME``); none
ships with the project. Passwords are kept as argon2id hashes. A session is a random token in an
HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256, with a CSRF token that every
state-changing request must echo in the ``X-CSRF-Token`` header. Five wrong passwords lock an account
for 15 minutes. The tables live in the operations database (`core.ops_store.engine_from_env`) on their
own `MetaData`; the audit log holds user names, actions and targets (e.g. a handoff code), a keyed
digest of the remote address, never a citizen's data.

Configuration (environment):

``STAFF_TRUST_PROXY``
    ``1`` behind a TLS-terminating reverse proxy: ``X-Forwarded-Proto: https`` makes the cookie
    Secure and the login's origin check expect https; ``X-Forwarded-For`` is the remote address.
    Leave unset when clients reach the server directly (they could send those headers themselves).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from core.ops_store import aware_utc, conversation_key, engine_from_env, now_utc

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

COOKIE_NAME = "staff_session"
CSRF_HEADER = "X-CSRF-Token"
STAFF_KEY = "staff"  # request[STAFF_KEY]: the logged-in user name
SESSION_REQUEST_KEY = "staff_session"  # request[SESSION_REQUEST_KEY]: the `StaffSession`
TRUST_PROXY_ENV = "STAFF_TRUST_PROXY"

LOGIN_PAGE = "/staff/login"
DEFAULT_NEXT = "/staff"
PAGE_PREFIX = "/staff"
API_PREFIX = "/api/staff/"
# Reachable without a session (the login page's script and style are under /static, open anyway).
PUBLIC_PATHS = frozenset({LOGIN_PAGE, "/api/staff/login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing is deliberately slow; do not hash megabytes
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
AUDIT_LIMIT = 200

# One message for a wrong password, an unknown user, a locked and a disabled account alike.
LOGIN_REFUSED = "用户名或密码错误，或账号已被暂时锁定。Wrong user name or password, or the account is locked."
NOT_LOGGED_IN = "not logged in"
CSRF_REFUSED = "missing or wrong X-CSRF-Token header; reload the page"
ORIGIN_REFUSED = "the login must come from this server's own login page"

metadata = MetaData()

users_table = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

sessions_table = Table(
    "staff_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token, never the token
    Column("username", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# A session with its account (a session of a removed account finds no user: refused).
_SESSION_USERS = sessions_table.outerjoin(users_table, users_table.c.username == sessions_table.c.username)

audit_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("remote", String(32), nullable=True),  # keyed digest of the address, never the address
)


def token_digest(token: str) -> str:
    """The session's key in the database: SHA-256 of the cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(name: str) -> str:
    """The stored form of a user name (lower case); ValueError when it is not a valid one."""
    name = name.strip().lower()
    if not USERNAME.fullmatch(name):
        raise ValueError("a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_password(password: str) -> None:
    """ValueError when the password is too short (or absurdly long)."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password must have at most {MAX_PASSWORD} characters")


def safe_next(value: object) -> str:
    """Where to go after the login: a path on this server, else the desk (no open redirect)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return DEFAULT_NEXT
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_NEXT  # browsers read "/\evil.example" as "//evil.example"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(LOGIN_PAGE) or parts.path.startswith("/api/"):
        return DEFAULT_NEXT
    return value


def is_staff_path(path: str) -> bool:
    """Whether a path belongs to the staff pages or APIs (protected unless in `PUBLIC_PATHS`)."""
    if path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/"):
        return True
    return path == API_PREFIX.rstrip("/") or path.startswith(API_PREFIX)


class UserExists(ValueError):
    """`add_user` for a name already taken."""


class NoSuchUser(LookupError):
    """A command for a user name that has no account."""


@dataclass(frozen=True)
class StaffUser:
    username: str
    created_at: datetime
    disabled: bool
    failed_count: int
    locked_until: datetime | None

    def locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or now_utc())


@dataclass(frozen=True)
class StaffSession:
    username: str
    csrf: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    username: str | None
    action: str
    target: str | None
    remote: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "username": self.username,
            "action": self.action,
            "target": self.target,
            "remote": self.remote,
        }


@dataclass(frozen=True)
class AuthSettings:
    """Session lifetimes, lock-out, and whether a reverse proxy's X-Forwarded-* headers are believed."""

    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    trust_proxy: bool = False
    # A session's last_seen is written at most this often (not on every request).
    touch_interval: timedelta = timedelta(seconds=15)

    @classmethod
    def from_env(cls) -> AuthSettings:
        return cls(trust_proxy=os.environ.get(TRUST_PROXY_ENV, "").strip().lower() in ("1", "true", "yes"))


class StaffStore:
    """Accounts, sessions and the audit log on one SQLAlchemy engine (tables made on first use)."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        settings: AuthSettings | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine or engine_from_env()
        self.settings = settings or AuthSettings()
        self.hasher = hasher or PasswordHasher()  # argon2id, the library's (RFC 9106) parameters
        self._ready = False
        self._lock = threading.Lock()
        self._dummy_hash: str | None = None

    def _tables(self) -> Engine:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    metadata.create_all(self.engine)
                    self._ready = True
        return self.engine

    def _dummy(self) -> str:
        # An unknown user's password is checked against this, so the answer takes as long as for a real one.
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # -- accounts ------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, now: datetime | None = None) -> str:
        """A new account; returns the stored user name. ValueError for a bad name or password, UserExists."""
        name = normalise_username(username)
        check_password(password)
        try:
            with self._tables().begin() as connection:
                connection.execute(
                    insert(users_table).values(
                        username=name,
                        password_hash=self.hasher.hash(password),
                        created_at=now or now_utc(),
                        disabled=False,
                        failed_count=0,
                        locked_until=None,
                    )
                )
        except IntegrityError:
            raise UserExists(f"the user {name!r} exists already (change the password with passwd)") from None
        return name

    def _update_user(self, username: str, **values: Any) -> str:
        name = username.strip().lower()
        with self._tables().begin() as connection:
            result = connection.execute(update(users_table).where(users_table.c.username == name).values(**values))
            if not result.rowcount:
                raise NoSuchUser(f"no staff user {name!r}")
        return name

    def set_password(self, username: str, password: str) -> None:
        """A new password; also unlocks the account and ends its sessions."""
        check_password(password)
        name = self._update_user(username, password_hash=self.hasher.hash(password), failed_count=0, locked_until=None)
        self.end_sessions(name)

    def disable(self, username: str) -> None:
        """The account can no longer log in; its sessions end now."""
        self.end_sessions(self._update_user(username, disabled=True))

    def enable(self, username: str) -> None:
        self._update_user(username, disabled=False, failed_count=0, locked_until=None)

    def unlock(self, username: str) -> None:
        """Lift a lock-out (and forget the failed attempts)."""
        self._update_user(username, failed_count=0, locked_until=None)

    def user(self, username: str) -> StaffUser | None:
        with self._tables().connect() as connection:
            row = (
                connection.execute(select(users_table).where(users_table.c.username == username.strip().lower()))
                .mappings()
                .first()
            )
        return None if row is None else _user(row)

    def users(self) -> list[StaffUser]:
        with self._tables().connect() as connection:
            rows = connection.execute(select(users_table).order_by(users_table.c.username)).mappings().all()
        return [_user(row) for row in rows]

    def has_users(self) -> bool:
        with self._tables().connect() as connection:
            return bool(connection.execute(select(func.count()).select_from(users_table)).scalar())

    def password_hash(self, username: str) -> str | None:
        """The stored hash (for tests and audits of the storage format)."""
        with self._tables().connect() as connection:
            return connection.execute(
                select(users_table.c.password_hash).where(users_table.c.username == username.strip().lower())
            ).scalar()

    def authenticate(self, username: str, password: str, now: datetime | None = None) -> tuple[str | None, str]:
        """(the user name, "ok") when the password is right and the account usable; else (None, why):
        why is "unknown", "wrong", "locked" (this attempt locked it or it was locked) or "disabled".
        Only the log and the audit may see why: the person logging in gets one message for all."""
        now = now or now_utc()
        try:
            name = normalise_username(username)
        except ValueError:
            name = None
        if name is None or len(password) > MAX_PASSWORD:
            self._verify(self._dummy(), password[:MAX_PASSWORD])
            return None, "unknown"
        with self._tables().begin() as connection:
            row = (
                connection.execute(select(users_table).where(users_table.c.username == name).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                self._verify(self._dummy(), password)
                return None, "unknown"
            right = self._verify(row["password_hash"], password)
            locked_until = aware_utc(row["locked_until"])
            if row["disabled"]:
                return None, "disabled"
            if locked_until is not None and locked_until > now:
                return None, "locked"  # even the right password: wait, or `unlock`
            if not right:
                # A lock that has run out starts the count afresh.
                failures = (0 if locked_until is not None else row["failed_count"]) + 1
                lock = failures >= self.settings.max_failures
                connection.execute(
                    update(users_table)
                    .where(users_table.c.id == row["id"])
                    .values(failed_count=failures, locked_until=now + self.settings.lockout if lock else None)
                )
                return None, "locked" if lock else "wrong"
            values: dict[str, Any] = {"failed_count": 0, "locked_until": None}
            if self.hasher.check_needs_rehash(row["password_hash"]):
                values["password_hash"] = self.hasher.hash(password)
            connection.execute(update(users_table).where(users_table.c.id == row["id"]).values(**values))
            return name, "ok"

    # -- sessions ------------------------------------------------------------------------------

    def create_session(self, username: str, now: datetime | None = None) -> tuple[str, StaffSession]:
        """A new session: (the cookie's token — shown once, never stored — and the session)."""
        now = now or now_utc()
        token = secrets.token_urlsafe(32)
        session = StaffSession(
            username=username,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            expires_at=now + self.settings.absolute_timeout,
        )
        with self._tables().begin() as connection:
            # Sessions that ran out are removed on the way.
            connection.execute(
                delete(sessions_table).where(
                    or_(
                        sessions_table.c.expires_at <= now,
                        sessions_table.c.last_seen <= now - self.settings.idle_timeout,
                    )
                )
            )
            connection.execute(
                insert(sessions_table).values(
                    id=token_digest(token),
                    username=session.username,
                    csrf=session.csrf,
                    created_at=session.created_at,
                    last_seen=session.last_seen,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def session(self, token: str, now: datetime | None = None) -> StaffSession | None:
        """The live session of a cookie's token (its last_seen moved on), or None: unknown, idle too
        long, past its absolute expiry, or its account disabled or gone (then it is deleted)."""
        if not token or len(token) > 200:
            return None
        now = now or now_utc()
        key = token_digest(token)
        with self._tables().connect() as connection:
            row = (
                connection.execute(
                    select(sessions_table, users_table.c.disabled)
                    .select_from(_SESSION_USERS)
                    .where(sessions_table.c.id == key)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        last_seen: datetime = aware_utc(row["last_seen"])  # type: ignore[assignment]
        expires_at: datetime = aware_utc(row["expires_at"])  # type: ignore[assignment]
        if row["disabled"] is not False or now >= expires_at or now - last_seen >= self.settings.idle_timeout:
            self._delete_session(key)
            return None
        if now - last_seen >= self.settings.touch_interval:
            with self._tables().begin() as connection:
                connection.execute(update(sessions_table).where(sessions_table.c.id == key).values(last_seen=now))
            last_seen = now
        return StaffSession(
            username=row["username"],
            csrf=row["csrf"],
            created_at=aware_utc(row["created_at"]),  # type: ignore[arg-type]
            last_seen=last_seen,
            expires_at=expires_at,
        )

    def _delete_session(self, key: str) -> None:
        with self._tables().begin() as connection:
            connection.execute(delete(sessions_table).where(sessions_table.c.id == key))

    def end_session(self, token: str) -> None:
        """Logout: the session is deleted here, so its cookie is worthless even if kept."""
        self._delete_session(token_digest(token))

    def end_sessions(self, username: str) -> int:
        with self._tables().begin() as connection:
            result = connection.execute(delete(sessions_table).where(sessions_table.c.username == username))
            return int(result.rowcount or 0)

    def session_count(self, username: str | None = None) -> int:
        query = select(func.count()).select_from(sessions_table)
        if username is not None:
            query = query.where(sessions_table.c.username == username)
        with self._tables().connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    # -- audit log -----------------------------------------------------------------------------

    def record(
        self,
        username: str | None,
        action: str,
        target: str | None = None,
        remote: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """One audit-log line. `target` names what was acted on (a code, an item id), never a citizen's text."""
        with self._tables().begin() as connection:
            connection.execute(
                insert(audit_table).values(
                    at=now or now_utc(),
                    username=None if username is None else username[:64],
                    action=action[:64],
                    target=None if target is None else str(target)[:200],
                    remote=remote,
                )
            )

    def audit_entries(self, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        """Newest first."""
        with self._tables().connect() as connection:
            rows = (
                connection.execute(select(audit_table).order_by(audit_table.c.id.desc()).limit(limit)).mappings().all()
            )
        return [
            AuditEntry(
                at=aware_utc(row["at"]),  # type: ignore[arg-type]
                username=row["username"],
                action=row["action"],
                target=row["target"],
                remote=row["remote"],
            )
            for row in rows
        ]


def _user(row: Any) -> StaffUser:
    return StaffUser(
        username=row["username"],
        created_at=aware_utc(row["created_at"]),  # type: ignore[arg-type]
        disabled=bool(row["disabled"]),
        failed_count=int(row["failed_count"] or 0),
        locked_until=aware_utc(row["locked_until"]),
    )


@dataclass
class StaffAuth:
    """What the web server needs: the store, the settings, and a clock (tests move it)."""

    engine: Engine | None = None
    settings: AuthSettings = field(default_factory=AuthSettings.from_env)
    hasher: PasswordHasher | None = None
    clock: Callable[[], datetime] = now_utc

    def __post_init__(self) -> None:
        self.store = StaffStore(self.engine, settings=self.settings, hasher=self.hasher)


AUTH_KEY = web.AppKey("staff_auth", StaffAuth)


# -- request helpers -------------------------------------------------------------------------------


def staff_user(request: web.Request) -> str:
    """The logged-in staff member's user name (set by `staff_middleware` on every staff request)."""
    return str(request[STAFF_KEY])


def is_https(request: web.Request, settings: AuthSettings) -> bool:
    """The request reached us over https, directly or (with `trust_proxy`) through a TLS proxy."""
    if request.secure:
        return True
    if settings.trust_proxy:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def remote_digest(request: web.Request, settings: AuthSettings) -> str | None:
    """A keyed digest of the client's address (the address itself is personal data)."""
    address = request.remote
    if settings.trust_proxy and request.headers.get("X-Forwarded-For"):
        address = request.headers["X-Forwarded-For"].split(",")[0].strip()
    return conversation_key(f"staff-remote:{address}")[:16] if address else None


def audit(request: web.Request, action: str, target: str | None = None) -> None:
    """Write one audit-log line for the logged-in staff member of `request`, e.g.
    ``audit(request, "handoff.open", code)``. `target` identifies what was acted on; never pass a
    citizen's text or personal data."""
    auth = request.app[AUTH_KEY]
    username = request.get(STAFF_KEY)
    auth.store.record(
        None if username is None else str(username),
        action,
        target,
        remote_digest(request, auth.settings),
        auth.clock(),
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _same_origin(request: web.Request, settings: AuthSettings) -> bool:
    """The request's Origin (else Referer) is this server, as the browser sees it."""
    claimed = request.headers.get("Origin")
    if not claimed or claimed == "null":
        referer = request.headers.get("Referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        claimed = f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if is_https(request, settings) else "http"
    return hmac.compare_digest(claimed.lower().rstrip("/"), f"{scheme}://{request.host}".lower())


# -- middleware ------------------------------------------------------------------------------------


@web.middleware
async def staff_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Staff pages and APIs need a live session; state-changing staff requests its CSRF token."""
    path = request.path
    if not is_staff_path(path) or path in PUBLIC_PATHS:
        return await handler(request)
    auth = request.app[AUTH_KEY]
    session = auth.store.session(request.cookies.get(COOKIE_NAME, ""), auth.clock())
    if session is None:
        if path.startswith(API_PREFIX) or request.method not in ("GET", "HEAD"):
            return _error(401, NOT_LOGGED_IN, login=LOGIN_PAGE)
        raise web.HTTPSeeOther(location=f"{LOGIN_PAGE}?next={quote(safe_next(request.path_qs), safe='')}")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            return _error(403, CSRF_REFUSED)
    request[STAFF_KEY] = session.username
    request[SESSION_REQUEST_KEY] = session
    return await handler(request)


# -- handlers --------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.FileResponse:
    """The login form (static; its script is /static/staff-login.js)."""
    return web.FileResponse(STATIC_DIR / "staff-login.html")


async def login_status(request: web.Request) -> web.Response:
    """For the login page: whether any account exists (else it says how to make one), and who is logged in."""
    auth = request.app[AUTH_KEY]
    session = auth.store.session(request.cookies.get(COOKIE_NAME, ""), auth.clock())
    return web.json_response({"accounts": auth.store.has_users(), "username": session.username if session else None})


async def login(request: web.Request) -> web.Response:
    """POST {username, password, next?} → 200 {username, csrf, next} and the session cookie; 401 for
    any refusal (one message: the person does not learn whether the user exists or is locked)."""
    auth = request.app[AUTH_KEY]
    if not _same_origin(request, auth.settings):
        return _error(403, ORIGIN_REFUSED)
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'the body must be JSON: {"username": "...", "password": "..."}')
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return _error(400, "'username' and 'password' must be non-empty strings")
    now = auth.clock()
    loop = asyncio.get_running_loop()
    # argon2 takes tens of milliseconds of CPU: not on the event loop.
    name, why = await loop.run_in_executor(None, auth.store.authenticate, username, password, now)
    remote = remote_digest(request, auth.settings)
    if name is None:
        known = None if why == "unknown" else username.strip().lower()
        auth.store.record(known, f"login.{why}", None, remote, now)
        logger.info("staff login refused (%s)", why)
        return _error(401, LOGIN_REFUSED)
    old = request.cookies.get(COOKIE_NAME)
    if old:
        auth.store.end_session(old)
    token, session = auth.store.create_session(name, now)
    auth.store.record(name, "login", None, remote, now)
    response = web.json_response({"username": name, "csrf": session.csrf, "next": safe_next(body.get("next"))})
    response.set_cookie(
        COOKIE_NAME,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request, auth.settings),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """POST (with the CSRF header): the session is deleted server-side and the cookie cleared."""
    auth = request.app[AUTH_KEY]
    audit(request, "logout")
    auth.store.end_session(request.cookies.get(COOKIE_NAME, ""))
    response = web.json_response({"ok": True, "login": LOGIN_PAGE})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


async def session_info(request: web.Request) -> web.Response:
    """{username, csrf, expires_at, idle_seconds} for the pages' scripts."""
    session: StaffSession = request[SESSION_REQUEST_KEY]
    auth = request.app[AUTH_KEY]
    return web.json_response(
        {
            "username": session.username,
            "csrf": session.csrf,
            "expires_at": session.expires_at.isoformat(),
            "idle_seconds": int(auth.settings.idle_timeout.total_seconds()),
        }
    )


async def audit_log(request: web.Request) -> web.Response:
    """The last 200 audit-log entries, newest first."""
    auth = request.app[AUTH_KEY]
    return web.json_response({"entries": [entry.as_json() for entry in auth.store.audit_entries(AUDIT_LIMIT)]})


def setup_staff_auth(app: web.Application, auth: StaffAuth | Engine | None = None) -> StaffAuth:
    """Protect /staff… and /api/staff/… of `app` and add the login, logout, session and audit routes.
    `auth` may be a `StaffAuth`, an engine (tests: a temporary SQLite file), or None: OPS_DB_URL."""
    if not isinstance(auth, StaffAuth):
        auth = StaffAuth(engine=auth)
    app[AUTH_KEY] = auth
    app.middlewares.append(staff_middleware)
    app.router.add_get(LOGIN_PAGE, login_page)
    app.router.add_get("/api/staff/login", login_status)
    app.router.add_post("/api/staff/login", login)
    app.router.add_post("/api/staff/logout", logout)
    app.router.add_get("/api/staff/session", session_info)
    app.router.add_get("/api/staff/audit", audit_log)
    return auth
