"""Fixtures of the WeChat channel tests: a fake clock, and the real Redis at 127.0.0.1:6379.

The Redis fixtures skip when Redis cannot be reached, unless REQUIRE_REDIS is set, in which case
they fail. REDIS_TEST_URL only exists to check that skip/fail path against a closed port.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, AsyncIterator, Tuple

import pytest
import pytest_asyncio

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[Tuple[Any, str]]:
    """A client on the real Redis and a key prefix of this test's own (its keys are deleted after)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        await client.close()
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS is set but Redis at {REDIS_URL} is unreachable: {exc!r}")
        pytest.skip(f"Redis at {REDIS_URL} unreachable ({type(exc).__name__})")
    prefix = f"test:wechat:{uuid.uuid4().hex}:"
    yield client, prefix
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.close()
