"""One small key-value interface over interchangeable stores, shaped like wechatpy's ``session/``.

``SharedStore`` is what the channel needs from a store: ``get``, ``set`` with a TTL, ``claim``
(set-if-absent, the primitive behind both MsgId de-duplication and the access-token refresh lock)
and ``delete``. ``MemoryStore`` serves one process; ``RedisStore`` is shared by every worker process
and instance that points at the same Redis.

Values are short strings (a marker, an access token); keys carry no personal data (MsgIds are hashed
by ``WeChatMessage.dedup_key``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, Awaitable, Callable, List, Optional, Tuple

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 10_000  # keys a MemoryStore holds before it forgets the oldest


def _check_ttl(ttl: float) -> None:
    if ttl is None or ttl <= 0:
        raise ValueError("ttl must be positive")


class SharedStore(ABC):
    """Async key-value store with per-key expiry. Every ``ttl`` is in seconds and must be positive."""

    @abstractmethod
    async def get(self, key: str) -> Optional[str]:
        """The value stored under ``key``, or None when there is none (or it expired)."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float) -> None:
        """Stores ``value`` under ``key`` for ``ttl`` seconds, replacing any value there."""

    @abstractmethod
    async def claim(self, key: str, ttl: float) -> bool:
        """Set-if-absent: True when ``key`` was free (it is now taken for ``ttl`` s), else False."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Removes ``key`` (no error when it is absent)."""

    async def close(self) -> None:
        """Releases connections; the store is not used afterwards. Nothing to release by default."""
        return None


class MemoryStore(SharedStore):
    """In-process store with per-key TTL and a bounded number of keys.

    Expired keys are dropped lazily, on the next call. Past ``max_size`` keys the oldest written are
    forgotten (for de-duplication: a very old MsgId may be answered again rather than memory grow).
    ``clock`` is injectable for tests.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        if max_size is None or max_size <= 0:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self._clock = clock
        self._data: OrderedDict[str, Tuple[str, float]] = OrderedDict()  # key -> (value, expires at)
        # (expires at, sequence, key): keys have different TTLs, so write order is not expiry order.
        self._expiries: List[Tuple[float, int, str]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._data)

    def _purge(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, _, key = heapq.heappop(self._expiries)
            entry = self._data.get(key)
            # The key may have been rewritten with a later expiry since this heap entry was made.
            if entry is not None and entry[1] <= now:
                del self._data[key]

    def _put(self, key: str, value: str, ttl: float, now: float) -> None:
        expires = now + ttl
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        heapq.heappush(self._expiries, (expires, next(self._sequence), key))
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)
        # Entries of evicted or rewritten keys linger in the heap until they expire; rebuild it
        # before it outgrows the data it indexes.
        if len(self._expiries) > 2 * self.max_size + 64:
            self._expiries = [(exp, next(self._sequence), k) for k, (_, exp) in self._data.items()]
            heapq.heapify(self._expiries)

    def _get_nowait(self, key: str) -> Optional[str]:
        self._purge(self._clock())
        entry = self._data.get(key)
        return entry[0] if entry is not None else None

    def claim_nowait(self, key: str, ttl: float) -> bool:
        """``claim`` without the coroutine (the store never waits)."""
        _check_ttl(ttl)
        now = self._clock()
        self._purge(now)
        if key in self._data:
            return False
        self._put(key, "1", ttl, now)
        return True

    async def get(self, key: str) -> Optional[str]:
        """See ``SharedStore.get``."""
        return self._get_nowait(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """See ``SharedStore.set``."""
        _check_ttl(ttl)
        now = self._clock()
        self._purge(now)
        self._put(key, str(value), ttl, now)

    async def claim(self, key: str, ttl: float) -> bool:
        """See ``SharedStore.claim``."""
        return self.claim_nowait(key, ttl)

    async def delete(self, key: str) -> None:
        """See ``SharedStore.delete``."""
        self._data.pop(key, None)

    async def close(self) -> None:
        """Forgets everything."""
        self._data.clear()
        self._expiries.clear()


class RedisStore(SharedStore):
    """Store in Redis (``SET … PX`` / ``SET … NX PX``), shared by every process using the same Redis.

    ``client`` is a ``redis.asyncio.Redis`` (or anything with the same ``get``/``set``/``delete``).
    ``prefix`` goes in front of every key (tests use it to stay apart).

    If Redis cannot be reached the store fails open unless ``fail_open=False``: it behaves as an
    empty store that keeps nothing (``get`` → None, ``claim`` → True, ``set``/``delete`` do
    nothing), so a message is answered (at worst twice) and a token is fetched (at worst once per
    send) rather than the channel going silent.
    """

    def __init__(self, client: Any, prefix: str = "", fail_open: bool = True) -> None:
        self._client = client
        self.prefix = prefix
        self.fail_open = fail_open

    @classmethod
    def from_url(cls, url: str, prefix: str = "", fail_open: bool = True) -> RedisStore:
        """A store on a new ``redis.asyncio`` client for ``url`` (short timeouts: WeChat waits 5 s)."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        return cls(client, prefix=prefix, fail_open=fail_open)

    @staticmethod
    def _milliseconds(ttl: float) -> int:
        _check_ttl(ttl)
        return max(1, int(round(ttl * 1000)))

    async def _guard(self, operation: str, call: Awaitable[Any], fallback: Any) -> Any:
        try:
            return await call
        except Exception as exc:  # redis.RedisError, OSError, timeouts
            logger.warning("WeChat store: Redis unavailable for %s (%s)", operation, type(exc).__name__)
            if self.fail_open:
                return fallback
            raise

    async def get(self, key: str) -> Optional[str]:
        """See ``SharedStore.get``."""
        value = await self._guard("get", self._client.get(self.prefix + key), None)
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        """See ``SharedStore.set``."""
        milliseconds = self._milliseconds(ttl)
        await self._guard("set", self._client.set(self.prefix + key, str(value), px=milliseconds), None)

    async def claim(self, key: str, ttl: float) -> bool:
        """See ``SharedStore.claim``."""
        milliseconds = self._milliseconds(ttl)
        stored = await self._guard("claim", self._client.set(self.prefix + key, "1", nx=True, px=milliseconds), True)
        return bool(stored)

    async def delete(self, key: str) -> None:
        """See ``SharedStore.delete``."""
        await self._guard("delete", self._client.delete(self.prefix + key), None)

    async def close(self) -> None:
        """Closes the Redis client."""
        closer = getattr(self._client, "aclose", None) or self._client.close
        result = closer()
        if asyncio.iscoroutine(result):
            await result
