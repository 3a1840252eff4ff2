"""tracker_store.lock_store.LiveRedisLockStore against a real Redis: a ticket of a server that stopped
is overtaken within seconds, a ticket of a live server (or one of Rasa's own store) is waited for
until it expires, and a conversation ID cannot name the store's own keys.

Needs Redis on 127.0.0.1:6379; skipped without it unless REQUIRE_REDIS is set (CI), then it fails.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Iterator

import pytest
import redis
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from tracker_store import lock_store
from tracker_store.lock_store import LiveRedisLockStore

DB = 4  # not the cluster's (1) nor the stores-down test's (3)


@pytest.fixture
def prefix(redis_up: None) -> Iterator[str]:
    """A key prefix of the test's own, its keys removed afterwards."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=DB, socket_timeout=2)
    name = "t" + uuid.uuid4().hex[:10]
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def store(prefix: str) -> LiveRedisLockStore:
    return LiveRedisLockStore(host="127.0.0.1", port=6379, db=DB, key_prefix=prefix)


async def held_until_taken(store: RedisLockStore, conversation: str, lifetime: float) -> float:
    """Take the lock as a second message would, and say after how many seconds it was acquired."""
    started = time.monotonic()
    async with store.lock(conversation, lock_lifetime=lifetime, wait_time_in_seconds=0.2):
        return time.monotonic() - started


def hold_without_release(store: RedisLockStore, conversation: str, lifetime: float) -> int:
    """A message being handled when its server died: a ticket issued, never cleaned up."""
    return store.issue_ticket(conversation, lifetime)


def test_a_ticket_of_a_server_that_stopped_is_overtaken_within_seconds(prefix: str, monkeypatch) -> None:
    monkeypatch.setattr(lock_store, "ALIVE_SECONDS", 1)
    monkeypatch.setattr(lock_store, "BEAT_SECONDS", 0.2)
    dying, survivor = store(prefix), store(prefix)
    hold_without_release(dying, "c1", lifetime=20)
    dying.stop()  # the server is killed: its heartbeat stops and its key expires
    waited = asyncio.run(held_until_taken(survivor, "c1", 20))
    assert waited < 4, waited  # not the 20 s the ticket had left
    survivor.stop()


def test_a_ticket_of_a_live_server_is_waited_for_until_it_is_done(prefix: str, monkeypatch) -> None:
    monkeypatch.setattr(lock_store, "ALIVE_SECONDS", 1)
    monkeypatch.setattr(lock_store, "BEAT_SECONDS", 0.2)
    busy, other = store(prefix), store(prefix)

    async def both() -> tuple[float, float]:
        first_in = asyncio.Event()

        async def first() -> float:
            async with busy.lock("c2", lock_lifetime=20, wait_time_in_seconds=0.2):
                first_in.set()
                await asyncio.sleep(2.5)  # a slow message on a live server: longer than ALIVE_SECONDS
                return time.monotonic()

        async def second() -> float:
            await first_in.wait()
            await held_until_taken(other, "c2", 20)
            return time.monotonic()

        return tuple(await asyncio.gather(first(), second()))  # type: ignore[return-value]

    first_done, second_in = asyncio.run(both())
    assert second_in >= first_done  # the live server's message finished before the next one started
    busy.stop()
    other.stop()


def test_a_ticket_of_rasas_own_store_expires_as_rasas_do(prefix: str, monkeypatch) -> None:
    monkeypatch.setattr(lock_store, "ALIVE_SECONDS", 1)
    plain = RedisLockStore(host="127.0.0.1", port=6379, db=DB, key_prefix=prefix)
    hold_without_release(plain, "c3", lifetime=2)
    live = store(prefix)
    waited = asyncio.run(held_until_taken(live, "c3", 20))
    assert 1.5 < waited < 4, waited  # no owner known: waited for the lifetime, not overtaken
    live.stop()


def test_an_old_owner_record_of_a_reused_ticket_number_is_ignored(prefix: str, monkeypatch) -> None:
    monkeypatch.setattr(lock_store, "ALIVE_SECONDS", 1)
    monkeypatch.setattr(lock_store, "BEAT_SECONDS", 0.2)
    gone, reader = store(prefix), store(prefix)
    number = hold_without_release(gone, "c4", lifetime=20)
    gone.stop()
    reader.delete_lock("c4")  # the lock is gone (deleted after its last ticket), the owner record is not
    plain = RedisLockStore(host="127.0.0.1", port=6379, db=DB, key_prefix=prefix)
    assert plain.issue_ticket("c4", 20) == number  # numbers start again: a live ticket, no record of its own
    time.sleep(1.3)  # the first owner's heartbeat has expired
    lock = reader.get_lock("c4")
    assert lock is not None and [t.number for t in lock.tickets] == [number]  # not taken for the dead one's
    reader.stop()


def test_conversation_ids_cannot_name_the_stores_own_keys(prefix: str) -> None:
    live = store(prefix)
    owner_key, alive_key = live._owner_key("c5", 0), live._alive_key(live.server_id)
    assert not owner_key.startswith(live.key_prefix) and not alive_key.startswith(live.key_prefix)
    assert live._owner_key("c5", 0).startswith(f"{prefix}:lockmeta:owner:")
    live.stop()


def test_created_from_endpoints_yml_as_rasa_does() -> None:
    config = EndpointConfig(
        url="127.0.0.1", type="tracker_store.lock_store.LiveRedisLockStore", port="6379", db="5", key_prefix="abc"
    )
    created = RedisLockStore.create(config)
    assert isinstance(created, LiveRedisLockStore)
    assert created.key_prefix == "abc:lock:" and created.red.connection_pool.connection_kwargs["db"] == 5
