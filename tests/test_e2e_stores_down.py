"""PostgreSQL (the tracker store) or Redis (the lock store) going down after the assistant started,
over REST with the real servers: within seconds the "service is busy" phrase in the person's
language, nothing already stored lost, the conversation going on with what it knew once the store is
back, and no typed ID number in any log or store meanwhile.

A TCP forwarder (tests/tcp_proxy.py) stands between the servers and the store, so the test can take
the store away without touching the machine's own PostgreSQL or Redis. Needs both; skipped without
them unless REQUIRE_POSTGRES / REQUIRE_REDIS is set (CI), then they fail.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from core.knowledge import KnowledgeBase
from tests.support import Stack, new_sender, required, start_stack, stop_stack, texts
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e
PG_ADMIN_URL = os.environ.get("FAULTS_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RAW_ID = "11010519491231002X"
BUSY_WITHIN = 6.0  # seconds: the issue asks for a reply within 5 s; one second of slack for this machine


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards)."""
    name = f"faults_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        if required("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES is set but PostgreSQL is unreachable: {error}")
        pytest.skip("PostgreSQL is not reachable (set REQUIRE_POSTGRES=1 to make this fail)")
    yield name
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def user_texts(url: str, sender: str) -> list[str]:
    """The user messages stored for `sender`, in order, read straight from PostgreSQL."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"),
                {"s": sender},
            ).all()
    finally:
        engine.dispose()
    return [json.loads(row[0]).get("text") for row in rows]


def timed(stack: Stack, text: str, sender: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = texts(stack.say(text, sender))
    return reply, time.monotonic() - started


def everything_logged(stack: Stack) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in stack.workdir.glob("*.log"))


def test_postgres_down_after_start(tmp_path: Path, pg_database: str, kb: KnowledgeBase) -> None:
    direct_url = str(make_url(PG_ADMIN_URL).set(database=pg_database))
    proxy = TcpProxy("127.0.0.1", make_url(PG_ADMIN_URL).port or 5432).start()
    through_proxy = str(make_url(direct_url).set(host="127.0.0.1", port=proxy.port))
    stack = start_stack(tmp_path / "stack", {"TRACKER_STORE_URL": through_proxy})
    try:
        sender = new_sender()
        stack.say("我在上海", sender)
        first = texts(stack.say("社保卡在哪里激活", sender))
        assert "上海" in first
        before = user_texts(direct_url, sender)
        assert before == ["我在上海", "社保卡在哪里激活"]

        proxy.stop()
        reply, seconds = timed(stack, "激活要带什么证件", sender)
        assert reply == kb.phrase("service_busy", "zh") and seconds < BUSY_WITHIN, (reply, seconds)
        reply, seconds = timed(stack, "What do I need to bring?", new_sender())
        assert reply == kb.phrase("service_busy", "en") and seconds < BUSY_WITHIN, (reply, seconds)
        # a lookup started before the outage: the ID typed during it is refused, and never written anywhere
        looker = new_sender()
        proxy.start()
        assert texts(stack.say("查询我的社保卡状态", looker)) == kb.phrase("ask_id_number", "zh")
        proxy.stop()
        reply, seconds = timed(stack, RAW_ID, looker)
        assert reply == kb.phrase("service_busy", "zh") and seconds < BUSY_WITHIN

        proxy.start()
        assert user_texts(direct_url, sender)[:2] == before  # nothing stored was lost
        again = texts(stack.say("社保卡在哪里激活", sender))
        assert "上海" in again  # the region said before the outage is still known
        # the lookup goes on where it was: the form asks for the name after the ID
        assert texts(stack.say(RAW_ID, looker)) == kb.phrase("ask_holder_name", "zh")
        assert RAW_ID not in everything_logged(stack)
        assert RAW_ID not in "\n".join(t or "" for t in user_texts(direct_url, looker))
    finally:
        proxy.stop()
        stop_stack(stack)


def test_redis_lock_store_down_after_start(tmp_path: Path, redis_up: None, kb: KnowledgeBase) -> None:
    proxy = TcpProxy(REDIS_HOST, REDIS_PORT).start()
    lock_store = (
        f"lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: {proxy.port}\n  db: 3\n"
        f"  key_prefix: faults{uuid.uuid4().hex[:8]}\n"
    )
    stack = start_stack(tmp_path / "stack", extra_endpoints=lock_store)
    try:
        sender = new_sender()
        stack.say("I'm in Shanghai", sender)
        assert "Shanghai" in texts(stack.say("Where do I activate my card?", sender))
        proxy.stop()
        reply, seconds = timed(stack, "Is there a fee?", sender)
        assert reply == kb.phrase("service_busy", "en") and seconds < BUSY_WITHIN, (reply, seconds)
        reply, seconds = timed(stack, "激活收费吗", new_sender())
        assert reply == kb.phrase("service_busy", "zh") and seconds < BUSY_WITHIN, (reply, seconds)
        proxy.start()
        again = texts(stack.say("Where do I activate my card?", sender))
        assert "Shanghai" in again
        # the lock store going down in the middle of a lookup: the ID typed then is in no log line
        looker = new_sender()
        assert texts(stack.say("查询我的社保卡状态", looker)) == kb.phrase("ask_id_number", "zh")
        proxy.stop()
        assert texts(stack.say(RAW_ID, looker)) == kb.phrase("service_busy", "zh")
        proxy.start()
        assert texts(stack.say(RAW_ID, looker)) == kb.phrase("ask_holder_name", "zh")
        assert RAW_ID not in everything_logged(stack)
        assert RAW_ID.encode() not in (stack.workdir / "tracker.sqlite3").read_bytes()
    finally:
        proxy.stop()
        stop_stack(stack)
