"""Staff login of the web server (web/auth.py) and its command line (web/staff_users.py).

aiohttp's test client against `web.server.create_app` on a temporary SQLite operations database, with
a clock the tests move (idle and absolute expiry, lock-out) and cheap argon2id parameters (one test
checks the real ones).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

import web.server as server
import web.staff_users as staff_users
from core.knowledge import KnowledgeBase
from core.ops_store import engine_from_env
from tests.support import ROOT
from web.auth import (
    COOKIE_NAME,
    LOGIN_REFUSED,
    AuthSettings,
    StaffAuth,
    StaffStore,
    audit,
    safe_next,
    staff_user,
)

RASA_URL = "http://127.0.0.1:5005"
USER = "desk"
PASSWORD = "correct horse battery"
OTHER_PASSWORD = "another long passphrase"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)  # still argon2id
RANKING = [{"name": "ask_password", "confidence": 0.9}, {"name": "ask_how_to_activate", "confidence": 0.1}]


class FakeAgent:
    async def parse_message(self, message_data: str) -> dict[str, Any]:
        return {"text": message_data, "intent": RANKING[0], "intent_ranking": RANKING, "entities": []}


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return engine_from_env(f"sqlite:///{tmp_path / 'ops.sqlite3'}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(engine: Engine, clock: Clock) -> StaffAuth:
    return StaffAuth(engine=engine, settings=AuthSettings(), hasher=FAST_HASHER, clock=clock)


@pytest.fixture
def store(auth: StaffAuth) -> StaffStore:
    auth.store.add_user(USER, PASSWORD)
    return auth.store


async def handoff_stand_in(request: web.Request) -> web.Response:
    """What another engineer's handler does: read the staff user, write the audit log."""
    code = request.match_info["code"]
    audit(request, "handoff.open", code)
    return web.json_response({"staff": staff_user(request), "code": code})


def make_app(kb: KnowledgeBase, auth: StaffAuth) -> web.Application:
    app = server.create_app(rasa_url=RASA_URL, agent=FakeAgent(), kb=kb, staff_auth=auth)
    # Routes added after create_app, under the protected prefixes, as the review/handoff pages will be.
    app.router.add_get("/api/staff/stand-in/{code}", handoff_stand_in)
    app.router.add_get("/staff/stand-in", lambda request: web.Response(text="handoff page"))
    return app


@pytest.fixture
async def client(kb: KnowledgeBase, auth: StaffAuth, store: StaffStore) -> AsyncIterator[TestClient]:
    running = TestClient(TestServer(make_app(kb, auth)))
    await running.start_server()
    yield running
    await running.close()


def origin(client: TestClient) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def login(
    client: TestClient, username: str = USER, password: str = PASSWORD, **extra: Any
) -> tuple[int, dict[str, Any], Any]:
    headers = extra.pop("headers", {"Origin": origin(client)})
    response = await client.post(
        "/api/staff/login", json={"username": username, "password": password, **extra}, headers=headers
    )
    return response.status, await response.json(), response


async def logged_in(client: TestClient) -> dict[str, str]:
    """Log in; the CSRF header for state-changing requests."""
    status, data, _ = await login(client)
    assert status == 200, data
    return {"X-CSRF-Token": data["csrf"]}


def rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    path = engine.url.database
    assert path
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT * FROM {table}").fetchall()


# -- what is protected -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected_next"),
    [
        ("/staff", "/staff"),
        ("/staff/", "/staff/"),
        ("/staff/handoff", "/staff/handoff"),
        ("/staff/review?reason=fallback", "/staff/review?reason=fallback"),
        ("/staff/dashboard", "/staff/dashboard"),
    ],
)
async def test_a_staff_page_without_a_session_redirects_to_the_login(
    client: TestClient, path: str, expected_next: str
) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/staff/login?next=")
    assert safe_next(expected_next) == expected_next
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(location).query)["next"] == [expected_next]
    assert "Content-Security-Policy" in response.headers  # the security headers are on redirects too


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/staff/query"),
        ("GET", "/api/staff/session"),
        ("GET", "/api/staff/audit"),
        ("POST", "/api/staff/logout"),
        ("GET", "/api/staff/handoff/ABC123"),  # routes added later are covered by the prefix
        ("GET", "/api/staff/review"),
        ("POST", "/api/staff/review/assign"),
        ("GET", "/api/staff/dashboard"),
    ],
)
async def test_a_staff_api_without_a_session_is_401(client: TestClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"text": "怎么激活"})
    assert response.status == 401
    assert (await response.json())["error"] == "not logged in"


async def test_an_encoded_path_is_protected_too(client: TestClient) -> None:
    response = await client.get("/%73taff", allow_redirects=False)
    assert response.status == 303


@pytest.mark.parametrize(
    "path",
    ["/", "/api/regions", "/config.json", "/health", "/static/staff.css", "/static/staff-login.js", "/staff/login"],
)
async def test_citizen_pages_and_the_login_page_stay_open(client: TestClient, path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 200


async def test_no_account_ships_and_the_login_page_says_how_to_make_one(kb: KnowledgeBase, auth: StaffAuth) -> None:
    assert auth.store.users() == []
    running = TestClient(TestServer(make_app(kb, auth)))
    await running.start_server()
    try:
        assert await (await running.get("/api/staff/login")).json() == {"accounts": False, "username": None}
        page = await (await running.get("/staff/login")).text()
        assert "make staff-user USER=" in page
        status, data, _ = await login(running, "admin", "admin")
        assert status == 401 and data["error"] == LOGIN_REFUSED
    finally:
        await running.close()


# -- logging in --------------------------------------------------------------------------------------


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: TestClient) -> None:
    wrong = await login(client, USER, "not the right password")
    unknown = await login(client, "nobody", PASSWORD)
    for status, data, response in (wrong, unknown):
        assert status == 401 and data == {"error": LOGIN_REFUSED}
        assert COOKIE_NAME not in response.cookies
    assert (await client.get("/api/staff/session")).status == 401


async def test_the_right_password_sets_a_strict_httponly_session_cookie(client: TestClient, engine: Engine) -> None:
    status, data, response = await login(client, "Desk ", PASSWORD)  # the name is case-insensitive
    assert status == 200 and data["username"] == USER and data["next"] == "/staff"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    token = response.cookies[COOKIE_NAME].value
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    # The database knows the session by the token's SHA-256 only.
    (session,) = rows(engine, "staff_sessions")
    assert session[0] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in session)

    info = await (await client.get("/api/staff/session")).json()
    assert info["username"] == USER and info["csrf"] == data["csrf"]
    assert (await client.get("/staff")).status == 200


async def test_behind_a_tls_proxy_the_cookie_is_secure(kb: KnowledgeBase, engine: Engine, clock: Clock) -> None:
    auth = StaffAuth(engine=engine, settings=AuthSettings(trust_proxy=True), hasher=FAST_HASHER, clock=clock)
    auth.store.add_user(USER, PASSWORD)
    running = TestClient(TestServer(make_app(kb, auth)))
    await running.start_server()
    try:
        host = f"{running.server.host}:{running.server.port}"
        headers = {"Origin": f"https://{host}", "X-Forwarded-Proto": "https"}
        status, _, response = await login(running, headers=headers)
        assert status == 200
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        await running.close()


async def test_forwarded_proto_is_ignored_without_the_setting(client: TestClient) -> None:
    headers = {"Origin": origin(client), "X-Forwarded-Proto": "https"}
    status, _, response = await login(client, headers=headers)
    assert status == 200 and "Secure" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/staff/login"}],
)
async def test_a_cross_origin_login_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    status, data, _ = await login(client, headers=headers)
    assert status == 403 and "error" in data


async def test_a_same_origin_referer_is_enough_for_the_login(client: TestClient) -> None:
    status, _, _ = await login(client, headers={"Referer": f"{origin(client)}/staff/login?next=/staff"})
    assert status == 200


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("/staff/review?reason=fallback", "/staff/review?reason=fallback"),
        ("https://evil.example/staff", "/staff"),
        ("//evil.example/staff", "/staff"),
        ("/\\evil.example", "/staff"),
        ("javascript:alert(1)", "/staff"),
        ("/staff/login?next=/staff", "/staff"),
        ("staff", "/staff"),
        (None, "/staff"),
        (42, "/staff"),
    ],
)
async def test_next_is_a_local_path_or_the_desk(client: TestClient, asked: Any, used: str) -> None:
    status, data, _ = await login(client, next=asked)
    assert status == 200 and data["next"] == used


# -- lock-out ----------------------------------------------------------------------------------------


async def test_five_wrong_passwords_lock_the_account_for_15_minutes(
    client: TestClient, store: StaffStore, clock: Clock
) -> None:
    for _ in range(5):
        assert (await login(client, USER, "wrong password!!"))[0] == 401
    user = store.user(USER)
    assert user is not None and user.locked(clock())
    status, data, response = await login(client)  # the right password, refused with the same message
    assert status == 401 and data == {"error": LOGIN_REFUSED} and COOKIE_NAME not in response.cookies
    clock.advance(minutes=14)
    assert (await login(client))[0] == 401
    clock.advance(minutes=1, seconds=1)
    assert (await login(client))[0] == 200
    user = store.user(USER)
    assert user is not None and user.failed_count == 0 and user.locked_until is None


async def test_a_success_resets_the_count(client: TestClient, store: StaffStore) -> None:
    for _ in range(4):
        await login(client, USER, "wrong password!!")
    assert (await login(client))[0] == 200
    for _ in range(4):
        await login(client, USER, "wrong password!!")
    assert (await login(client))[0] == 200  # 4 + 4 failures, never 5 in a row


async def test_unlock_from_the_command_line(client: TestClient, engine: Engine, store: StaffStore) -> None:
    for _ in range(5):
        await login(client, USER, "wrong password!!")
    assert (await login(client))[0] == 401
    assert staff_users.main(["unlock", USER], engine=engine) == 0
    assert (await login(client))[0] == 200


# -- CSRF --------------------------------------------------------------------------------------------


async def test_state_changing_requests_need_the_csrf_token(client: TestClient) -> None:
    csrf = await logged_in(client)
    body = {"text": "社保卡密码忘了"}
    assert (await client.post("/api/staff/query", json=body)).status == 403
    forged = await client.post("/api/staff/query", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert forged.status == 403 and "error" in await forged.json()
    response = await client.post("/api/staff/query", json=body, headers=csrf)
    assert response.status == 200
    assert [t["intent"] for t in (await response.json())["topics"]] == ["ask_password", "ask_how_to_activate"]
    # A logout without the token is refused too, and the session lives on.
    assert (await client.post("/api/staff/logout")).status == 403
    assert (await client.get("/api/staff/session")).status == 200


async def test_another_sessions_token_does_not_fit(client: TestClient, kb: KnowledgeBase, auth: StaffAuth) -> None:
    other = TestClient(TestServer(make_app(kb, auth)))
    await other.start_server()
    try:
        other_csrf = await logged_in(other)
        await logged_in(client)
        response = await client.post("/api/staff/query", json={"text": "怎么激活"}, headers=other_csrf)
        assert response.status == 403
    finally:
        await other.close()


# -- logout and expiry -------------------------------------------------------------------------------


async def test_logout_deletes_the_session_on_the_server(client: TestClient, store: StaffStore) -> None:
    status, data, response = await login(client)
    token = response.cookies[COOKIE_NAME].value
    assert store.session_count(USER) == 1
    out = await client.post("/api/staff/logout", headers={"X-CSRF-Token": data["csrf"]})
    assert out.status == 200
    assert store.session_count(USER) == 0
    client.session.cookie_jar.clear()
    replayed = await client.get("/api/staff/session", headers={"Cookie": f"{COOKIE_NAME}={token}"})
    assert replayed.status == 401  # a kept copy of the cookie is worthless
    page = await client.get("/staff", headers={"Cookie": f"{COOKIE_NAME}={token}"}, allow_redirects=False)
    assert page.status == 303


async def test_a_session_idle_for_30_minutes_ends(client: TestClient, clock: Clock, store: StaffStore) -> None:
    await logged_in(client)
    clock.advance(minutes=29)
    assert (await client.get("/api/staff/session")).status == 200  # activity moves last_seen on
    clock.advance(minutes=29)
    assert (await client.get("/api/staff/session")).status == 200
    clock.advance(minutes=30, seconds=1)
    assert (await client.get("/api/staff/session")).status == 401
    assert (await client.get("/staff", allow_redirects=False)).status == 303
    assert store.session_count() == 0  # the expired session was deleted


async def test_a_session_ends_after_12_hours_however_active(client: TestClient, clock: Clock) -> None:
    await logged_in(client)
    for _ in range(12 * 3 - 1):
        clock.advance(minutes=20)
        assert (await client.get("/api/staff/session")).status == 200
    clock.advance(minutes=20)
    assert (await client.get("/api/staff/session")).status == 401


async def test_disabling_an_account_ends_its_sessions(client: TestClient, engine: Engine) -> None:
    await logged_in(client)
    assert staff_users.main(["disable", USER], engine=engine) == 0
    assert (await client.get("/api/staff/session")).status == 401
    assert (await login(client))[0] == 401
    assert staff_users.main(["enable", USER], engine=engine) == 0
    assert (await login(client))[0] == 200


# -- handlers of other pages, and the audit log -----------------------------------------------------


async def test_handlers_get_the_user_and_write_the_audit_log(client: TestClient, engine: Engine) -> None:
    await login(client, USER, "wrong password!!")
    await login(client, "nobody", "wrong password!!")
    csrf = await logged_in(client)
    response = await client.get("/api/staff/stand-in/K7P3QX")
    assert await response.json() == {"staff": USER, "code": "K7P3QX"}
    assert (await client.get("/staff/stand-in")).status == 200
    entries = (await (await client.get("/api/staff/audit")).json())["entries"]
    assert [(e["username"], e["action"], e["target"]) for e in entries] == [
        (USER, "handoff.open", "K7P3QX"),
        (USER, "login", None),
        (None, "login.unknown", None),
        (USER, "login.wrong", None),
    ]
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{16}", entry["remote"])  # a keyed digest, not 127.0.0.1
    await client.post("/api/staff/logout", headers=csrf)
    logged = rows(engine, "audit_log")
    assert logged[-1][3] == "logout" and logged[-1][2] == USER
    dump = repr(logged)
    assert "127.0.0.1" not in dump and PASSWORD not in dump and "wrong password" not in dump


async def test_the_audit_log_shows_the_last_200(client: TestClient, store: StaffStore) -> None:
    for number in range(205):
        store.record(USER, "handoff.open", f"CODE{number}")
    await logged_in(client)
    entries = (await (await client.get("/api/staff/audit")).json())["entries"]
    assert len(entries) == 200 and entries[0]["action"] == "login"


# -- storage and the command line ------------------------------------------------------------------


def test_the_password_is_kept_as_an_argon2id_hash(tmp_path: Path) -> None:
    engine = engine_from_env(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    store = StaffStore(engine)  # the library's default parameters, as the server uses
    store.add_user(USER, PASSWORD)
    stored = store.password_hash(USER)
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert store.authenticate(USER, PASSWORD) == (USER, "ok")
    engine.dispose()
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert PASSWORD.encode() not in raw


def test_cli_add_and_passwd_read_staff_password(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = StaffStore(engine, hasher=FAST_HASHER)
    monkeypatch.setenv("STAFF_PASSWORD", PASSWORD)
    assert staff_users.main(["add", "Alice"], engine=engine) == 0
    assert store.authenticate("alice", PASSWORD)[0] == "alice"
    assert staff_users.main(["add", "alice"], engine=engine) == 2  # exists
    monkeypatch.setenv("STAFF_PASSWORD", OTHER_PASSWORD)
    assert staff_users.main(["passwd", "alice"], engine=engine) == 0
    assert store.authenticate("alice", PASSWORD)[0] is None
    assert store.authenticate("alice", OTHER_PASSWORD)[0] == "alice"
    assert staff_users.main(["passwd", "nobody"], engine=engine) == 1
    monkeypatch.setenv("STAFF_PASSWORD", "short")
    assert staff_users.main(["add", "bob"], engine=engine) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert store.user("bob") is None
    assert staff_users.main(["add", "bad name!"], engine=engine) == 2
    capsys.readouterr()
    assert staff_users.main(["list"], engine=engine) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "active" in listing and PASSWORD not in listing
    actions = [(entry.username, entry.action, entry.target) for entry in store.audit_entries()]
    assert actions == [("cli", "user.passwd", "alice"), ("cli", "user.add", "alice")]


def test_cli_asks_for_the_password_twice(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAFF_PASSWORD", raising=False)
    answers = iter([PASSWORD, OTHER_PASSWORD])
    monkeypatch.setattr(staff_users.getpass, "getpass", lambda prompt="": next(answers))
    assert staff_users.main(["add", "carol"], engine=engine) == 2  # the two differ
    answers = iter([PASSWORD, PASSWORD])
    assert staff_users.main(["add", "carol"], engine=engine) == 0
    assert StaffStore(engine).user("carol") is not None


def test_cli_as_a_program_with_ops_db_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OPS_DB_URL": url, "STAFF_PASSWORD": PASSWORD}
    done = subprocess.run(
        [sys.executable, "-m", "web.staff_users", "add", "dora"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert StaffStore(engine_from_env(url), hasher=FAST_HASHER).authenticate("dora", PASSWORD)[0] == "dora"


def test_the_login_page_has_no_inline_script_or_style() -> None:
    for page in ("staff-login.html", "staff.html"):
        text = (server.STATIC_DIR / page).read_text(encoding="utf-8")
        assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", text))
        assert re.search(r"<script\b[^>]*>\s*[^\s<]", text) is None
        assert "<style" not in text and " style=" not in text and "https://" not in text
    assert '<nav id="staff-nav"' in (server.STATIC_DIR / "staff.html").read_text(encoding="utf-8")
    assert 'src="/static/staffnav.js"' in (server.STATIC_DIR / "staff.html").read_text(encoding="utf-8")
