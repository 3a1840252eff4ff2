"""The shared stores (channels.wechat.storage): one contract, met by MemoryStore and RedisStore.

De-duplication of MsgIds is ``claim`` on a store, so the de-dup tests are here too. The Redis tests
use the real Redis at 127.0.0.1:6379 (tests/channels/wechat/conftest.py: skipped when unreachable,
failed instead when REQUIRE_REDIS is set).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import RedisError

from channels.wechat.storage import DEFAULT_MAX_SIZE, MemoryStore, RedisStore, SharedStore
from tests.channels.wechat.conftest import REDIS_URL, FakeClock

# ------------------------------------------------------------------- the contract


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> SharedStore:
    """Each contract test runs once per store (Redis: skipped or failed as conftest.py says)."""
    if request.param == "memory":
        return MemoryStore()
    # Asked for only here, so an unreachable Redis skips the Redis half alone.
    client, prefix = request.getfixturevalue("redis_client")
    return RedisStore(client, prefix=prefix)  # redis_client closes the client and deletes the keys


@pytest.mark.asyncio
async def test_contract_get_of_a_missing_key_is_none(store: SharedStore) -> None:
    assert await store.get("absent") is None


@pytest.mark.asyncio
async def test_contract_set_then_get_and_overwrite(store: SharedStore) -> None:
    await store.set("k", "令牌-token", ttl=60)
    assert await store.get("k") == "令牌-token"
    await store.set("k", "second", ttl=60)
    assert await store.get("k") == "second"
    assert await store.get("other") is None


@pytest.mark.asyncio
async def test_contract_claim_twice_is_false(store: SharedStore) -> None:
    assert await store.claim("c", ttl=60) is True
    assert await store.claim("c", ttl=60) is False
    assert await store.claim("c", ttl=60) is False
    assert await store.claim("d", ttl=60) is True


@pytest.mark.asyncio
async def test_contract_claim_refuses_a_key_that_was_set(store: SharedStore) -> None:
    await store.set("taken", "value", ttl=60)
    assert await store.claim("taken", ttl=60) is False
    assert await store.get("taken") == "value"  # claim does not overwrite


@pytest.mark.asyncio
async def test_contract_delete_frees_the_key(store: SharedStore) -> None:
    await store.delete("never-there")  # no error
    assert await store.claim("lock", ttl=60) is True
    await store.delete("lock")
    assert await store.get("lock") is None
    assert await store.claim("lock", ttl=60) is True
    await store.set("v", "x", ttl=60)
    await store.delete("v")
    assert await store.get("v") is None


@pytest.mark.asyncio
async def test_contract_ttl_expiry(store: SharedStore) -> None:
    await store.set("short", "x", ttl=0.3)
    assert await store.claim("claimed", ttl=0.3) is True
    await store.set("long", "y", ttl=60)
    assert await store.get("short") == "x"
    await asyncio.sleep(0.5)
    assert await store.get("short") is None
    assert await store.claim("claimed", ttl=0.3) is True  # expired, so free again
    assert await store.get("long") == "y"


@pytest.mark.asyncio
async def test_contract_set_renews_the_ttl(store: SharedStore) -> None:
    await store.set("k", "a", ttl=0.3)
    await store.set("k", "b", ttl=60)
    await asyncio.sleep(0.5)
    assert await store.get("k") == "b"


@pytest.mark.parametrize("ttl", [0, -1])
@pytest.mark.asyncio
async def test_contract_ttl_must_be_positive(store: SharedStore, ttl: float) -> None:
    with pytest.raises(ValueError):
        await store.set("k", "v", ttl=ttl)
    with pytest.raises(ValueError):
        await store.claim("k", ttl=ttl)
    assert await store.get("k") is None


# ---------------------------------------------------------------------- de-dup (memory)


@pytest.mark.asyncio
async def test_memory_dedup_ttl(clock: FakeClock) -> None:
    dedup = MemoryStore(clock=clock)
    assert await dedup.claim("m1", 60) is True
    assert await dedup.claim("m1", 60) is False
    clock.now += 59.9
    assert await dedup.claim("m1", 60) is False
    assert await dedup.claim("m2", 60) is True
    clock.now += 0.2  # m1 expired, m2 not
    assert await dedup.claim("m1", 60) is True
    assert await dedup.claim("m2", 60) is False
    clock.now += 61
    assert len(dedup) == 2  # purged lazily on the next claim
    assert await dedup.claim("m3", 60) is True
    assert len(dedup) == 1


@pytest.mark.asyncio
async def test_memory_dedup_is_bounded(clock: FakeClock) -> None:
    dedup = MemoryStore(max_size=3, clock=clock)
    for key in "abcd":
        assert await dedup.claim(key, 60) is True
    assert len(dedup) == 3
    assert await dedup.claim("a", 60) is True  # the oldest was forgotten
    assert await dedup.claim("d", 60) is False


@pytest.mark.asyncio
async def test_memory_dedup_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        await MemoryStore().claim("k", ttl=0)
    with pytest.raises(ValueError):
        MemoryStore(max_size=0)


def test_memory_default_size_is_ten_thousand() -> None:
    assert DEFAULT_MAX_SIZE == 10_000
    assert MemoryStore().max_size == 10_000


@pytest.mark.asyncio
async def test_memory_mixed_ttls_expire_independently(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    await store.set("token", "T", ttl=7000)  # written first, lives longest
    for number in range(5):
        assert await store.claim(f"msg-{number}", 60) is True
    assert len(store) == 6
    clock.now += 61
    assert await store.get("token") == "T"
    assert len(store) == 1  # the short keys went, though a longer-lived one was written before them


@pytest.mark.asyncio
async def test_memory_bookkeeping_stays_bounded(clock: FakeClock) -> None:
    store = MemoryStore(max_size=10, clock=clock)
    for number in range(1000):
        await store.set("same", str(number), ttl=60)  # rewrites
        await store.claim(f"k{number}", ttl=60)  # evictions
    assert len(store) == 10
    assert len(store._expiries) <= 2 * 10 + 64 + 1
    assert await store.get("same") == "999"


# ----------------------------------------------------------------------- de-dup (Redis)


@pytest.mark.asyncio
async def test_redis_dedup_against_real_redis(redis_client: Any) -> None:
    client, prefix = redis_client
    dedup = RedisStore(client, prefix=prefix)
    assert await dedup.claim("msg-1", 60) is True
    assert await dedup.claim("msg-1", 60) is False
    assert await dedup.claim("msg-2", 60) is True
    ttl = await client.ttl(prefix + "msg-1")
    assert 0 < ttl <= 60
    # A second worker (another client on the same Redis) sees the same claims.
    other = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        assert await other.claim("msg-1", 60) is False
        assert await other.claim("msg-3", 60) is True
    finally:
        await other.close()
    assert await dedup.claim("msg-3", 60) is False


@pytest.mark.asyncio
async def test_redis_dedup_expires(redis_client: Any) -> None:
    client, prefix = redis_client
    dedup = RedisStore(client, prefix=prefix)
    assert await dedup.claim("short", 1) is True
    assert await dedup.claim("short", 1) is False
    await asyncio.sleep(1.3)
    assert await dedup.claim("short", 1) is True


@pytest.mark.asyncio
async def test_redis_dedup_fails_open_when_unreachable() -> None:
    # Port 9 (discard) on the loopback: nothing listens there.
    dedup = RedisStore.from_url("redis://127.0.0.1:9/0")
    try:
        assert await dedup.claim("x", 60) is True
    finally:
        await dedup.close()
    strict = RedisStore.from_url("redis://127.0.0.1:9/0", fail_open=False)
    try:
        with pytest.raises((RedisError, OSError)):
            await strict.claim("x", 60)
    finally:
        await strict.close()


@pytest.mark.asyncio
async def test_redis_unreachable_store_acts_empty() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:9/0")
    try:
        await store.set("k", "v", ttl=60)  # no error
        assert await store.get("k") is None
        await store.delete("k")
    finally:
        await store.close()
    strict = RedisStore.from_url("redis://127.0.0.1:9/0", fail_open=False)
    try:
        with pytest.raises((RedisError, OSError)):
            await strict.get("k")
        with pytest.raises((RedisError, OSError)):
            await strict.set("k", "v", ttl=60)
    finally:
        await strict.close()


@pytest.mark.asyncio
async def test_redis_store_keys_carry_the_prefix_and_a_ttl(redis_client: Any) -> None:
    client, prefix = redis_client
    store = RedisStore(client, prefix=prefix)
    await store.set("wechat:token:wxapp", "T", ttl=6900)
    assert await client.get(prefix + "wechat:token:wxapp") == b"T"
    assert 6890 < await client.ttl(prefix + "wechat:token:wxapp") <= 6900
