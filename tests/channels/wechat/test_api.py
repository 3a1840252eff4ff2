"""The customer-service API client (channels.wechat.api) against a local stand-in for WeChat's API.

The access token lives in a SharedStore: clients on one store (memory, or the real Redis at
127.0.0.1:6379, see conftest.py) share one token, fetch it once, and drop it on a token errcode.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, List

import pytest
import pytest_asyncio
from aiohttp import web

from channels.wechat.api import TOKEN_KEY_PREFIX, WeChatApiClient, WeChatApiError
from channels.wechat.storage import MemoryStore, RedisStore
from tests.channels.wechat.conftest import REDIS_URL, FakeClock


class ApiStandIn:
    """Local stand-in for /cgi-bin/token (tokens T1, T2, …) and /cgi-bin/message/custom/send."""

    def __init__(self) -> None:
        self.token_calls = 0
        self.send_calls: List[Dict[str, Any]] = []
        self.reject_first_send_with: int = 0
        self.reject_sends_with: int = 0  # every send
        self.token_answer: Dict[str, Any] = {}
        self.token_delay = 0.0  # seconds the token endpoint takes, to make refreshes overlap
        self.base = ""
        self.runner: Any = None

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        number = self.token_calls
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_answer:
            return web.json_response(self.token_answer)
        return web.json_response({"access_token": f"T{number}", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.send_calls.append(
            {
                "token": request.query.get("access_token"),
                "json": await request.json(),
                "raw": body,
            }
        )
        if self.reject_sends_with:
            return web.json_response({"errcode": self.reject_sends_with, "errmsg": "x"})
        if self.reject_first_send_with and len(self.send_calls) == 1:
            return web.json_response({"errcode": self.reject_first_send_with, "errmsg": "x"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest_asyncio.fixture
async def api() -> AsyncIterator[ApiStandIn]:
    stand_in = ApiStandIn()
    app = web.Application()
    app.router.add_get("/cgi-bin/token", stand_in.token)
    app.router.add_post("/cgi-bin/message/custom/send", stand_in.send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stand_in.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield stand_in
    await runner.cleanup()


# ----------------------------------------------------------------- one client


@pytest.mark.asyncio
async def test_api_client_caches_token_until_expiry(api: ApiStandIn, clock: FakeClock) -> None:
    client = WeChatApiClient("wxapp", "secret", api.base + "/", clock=clock)
    await client.send_text("oUser", "一")
    await client.send_text("oUser", "二")
    assert api.token_calls == 1
    assert [c["token"] for c in api.send_calls] == ["T1", "T1"]
    assert api.send_calls[0]["json"] == {
        "touser": "oUser",
        "msgtype": "text",
        "text": {"content": "一"},
    }
    assert "一".encode() in api.send_calls[0]["raw"]  # UTF-8, not \\u escapes
    clock.now += 7200 - 300 - 1
    await client.send_text("oUser", "三")
    assert api.token_calls == 1
    clock.now += 2  # within 5 minutes of expiry: refreshed early
    await client.send_text("oUser", "四")
    assert api.token_calls == 2
    assert api.send_calls[-1]["token"] == "T2"


@pytest.mark.asyncio
async def test_api_client_refreshes_stale_token_once(api: ApiStandIn) -> None:
    api.reject_first_send_with = 40001
    client = WeChatApiClient("wxapp", "secret", api.base)
    await client.send_text("oUser", "hi")
    assert [c["token"] for c in api.send_calls] == ["T1", "T2"]


@pytest.mark.asyncio
async def test_api_client_errors_do_not_leak_secret(api: ApiStandIn) -> None:
    api.token_answer = {"errcode": 40125, "errmsg": "invalid appsecret"}
    client = WeChatApiClient("wxapp", "very-secret-value", api.base)
    with pytest.raises(WeChatApiError) as info:
        await client.send_text("oUser", "hi")
    assert "40125" in str(info.value)
    assert "very-secret-value" not in str(info.value)
    assert api.send_calls == []


@pytest.mark.asyncio
async def test_api_client_send_error_raises(api: ApiStandIn) -> None:
    api.reject_first_send_with = 45015  # "response out of time limit"
    client = WeChatApiClient("wxapp", "secret", api.base)
    with pytest.raises(WeChatApiError, match="45015"):
        await client.send_text("oUser", "hi")


def test_api_client_needs_credentials() -> None:
    with pytest.raises(ValueError):
        WeChatApiClient("", "secret")


@pytest.mark.asyncio
async def test_api_client_send_error_does_not_leak_token(api: ApiStandIn) -> None:
    api.reject_first_send_with = 45015
    client = WeChatApiClient("wxapp", "very-secret-value", api.base)
    with pytest.raises(WeChatApiError) as info:
        await client.send_text("oUser", "hi")
    assert api.send_calls[0]["token"] == "T1"
    assert "T1" not in str(info.value)
    assert "very-secret-value" not in str(info.value)


@pytest.mark.asyncio
async def test_api_client_transport_error_names_no_secret() -> None:
    # Port 9 on the loopback: connection refused. aiohttp's error would quote the URL, secret and all.
    client = WeChatApiClient("wxapp", "very-secret-value", "http://127.0.0.1:9", timeout=2)
    with pytest.raises(WeChatApiError) as info:
        await client.send_text("oUser", "hi")
    assert "very-secret-value" not in str(info.value)
    assert "access token request failed" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.asyncio
async def test_token_is_cached_in_the_store_per_app_id(api: ApiStandIn) -> None:
    store = MemoryStore()
    client = WeChatApiClient("wxapp", "secret", api.base, store=store)
    assert await client.get_access_token() == "T1"
    assert client.token_key == TOKEN_KEY_PREFIX + "wxapp"
    assert await store.get(TOKEN_KEY_PREFIX + "wxapp") == "T1"
    assert await store.get(client.lock_key) is None  # the refresh lock was released
    other_app = WeChatApiClient("wxother", "secret", api.base, store=store)
    assert await other_app.get_access_token() == "T2"  # another AppID, another token
    assert await client.get_access_token() == "T1"
    assert api.token_calls == 2


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
@pytest.mark.asyncio
async def test_token_errcode_drops_the_cache_and_retries_once(api: ApiStandIn, errcode: int) -> None:
    api.reject_first_send_with = errcode
    store = MemoryStore()
    first = WeChatApiClient("wxapp", "secret", api.base, store=store)
    second = WeChatApiClient("wxapp", "secret", api.base, store=store)
    await first.send_text("oUser", "hi")
    assert [c["token"] for c in api.send_calls] == ["T1", "T2"]
    assert await store.get(first.token_key) == "T2"  # the fresh token replaced the dropped one
    await second.send_text("oUser", "again")
    assert [c["token"] for c in api.send_calls] == ["T1", "T2", "T2"]
    assert api.token_calls == 2


@pytest.mark.asyncio
async def test_token_errcode_twice_is_an_error(api: ApiStandIn) -> None:
    api.reject_sends_with = 40001
    client = WeChatApiClient("wxapp", "secret", api.base)
    with pytest.raises(WeChatApiError, match="40001"):
        await client.send_text("oUser", "hi")
    assert [c["token"] for c in api.send_calls] == ["T1", "T2"]  # retried once, not more
    assert api.token_calls == 2


@pytest.mark.asyncio
async def test_invalidate_keeps_a_token_someone_already_renewed(api: ApiStandIn) -> None:
    store = MemoryStore()
    client = WeChatApiClient("wxapp", "secret", api.base, store=store)
    await store.set(client.token_key, "T-new", ttl=100)
    await client.invalidate_token("T-old")
    assert await store.get(client.token_key) == "T-new"
    await client.invalidate_token("T-new")
    assert await store.get(client.token_key) is None


@pytest.mark.asyncio
async def test_force_refresh_fetches_a_new_token(api: ApiStandIn) -> None:
    client = WeChatApiClient("wxapp", "secret", api.base)
    assert await client.get_access_token() == "T1"
    assert await client.get_access_token(force_refresh=True) == "T2"
    assert await client.get_access_token() == "T2"


# ---------------------------------------------------------- clients sharing a store


@pytest.mark.asyncio
async def test_two_clients_sharing_a_store_fetch_the_token_once(api: ApiStandIn) -> None:
    api.token_delay = 0.2  # both clients miss the cache before either has stored a token
    store = MemoryStore()
    first = WeChatApiClient("wxapp", "secret", api.base, store=store)
    second = WeChatApiClient("wxapp", "secret", api.base, store=store)
    await asyncio.gather(
        first.send_text("oA", "1"),
        second.send_text("oB", "2"),
        first.send_text("oC", "3"),
        second.send_text("oD", "4"),
    )
    assert api.token_calls == 1
    assert [c["token"] for c in api.send_calls] == ["T1"] * 4
    await second.send_text("oE", "5")
    assert api.token_calls == 1


@pytest.mark.asyncio
async def test_waits_for_another_process_refresh(api: ApiStandIn) -> None:
    store = MemoryStore()
    client = WeChatApiClient("wxapp", "secret", api.base, store=store)
    assert await store.claim(client.lock_key, ttl=10)  # another process is refreshing
    waiting = asyncio.ensure_future(client.get_access_token())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await store.set(client.token_key, "FROM-OTHER", ttl=100)  # …and has stored its token
    assert await asyncio.wait_for(waiting, timeout=2) == "FROM-OTHER"
    assert api.token_calls == 0


@pytest.mark.asyncio
async def test_fetches_itself_when_the_other_refresh_is_late(api: ApiStandIn) -> None:
    store = MemoryStore()
    client = WeChatApiClient("wxapp", "secret", api.base, store=store, lock_wait=0.3)
    assert await store.claim(client.lock_key, ttl=10)  # held by a process that never finishes
    assert await asyncio.wait_for(client.get_access_token(), timeout=3) == "T1"
    assert api.token_calls == 1
    assert await store.get(client.token_key) == "T1"


@pytest.mark.asyncio
async def test_token_shared_through_redis(api: ApiStandIn, redis_client: Any) -> None:
    client, prefix = redis_client
    api.token_delay = 0.2
    # Two clients built from the same redis_url, as two worker processes would build them.
    store_a = RedisStore.from_url(REDIS_URL, prefix=prefix)
    store_b = RedisStore.from_url(REDIS_URL, prefix=prefix)
    first = WeChatApiClient("wxapp", "secret", api.base, store=store_a)
    second = WeChatApiClient("wxapp", "secret", api.base, store=store_b)
    try:
        await asyncio.gather(first.send_text("oA", "1"), second.send_text("oB", "2"))
        await second.send_text("oC", "3")
        assert api.token_calls == 1
        assert [c["token"] for c in api.send_calls] == ["T1"] * 3
        assert await client.get(prefix + TOKEN_KEY_PREFIX + "wxapp") == b"T1"
        # expires_in 7200 minus the 300 s margin
        assert 6890 < await client.ttl(prefix + TOKEN_KEY_PREFIX + "wxapp") <= 6900
        assert await client.get(prefix + first.lock_key) is None
        # An invalid token reported to one process is dropped for both.
        api.reject_first_send_with, api.send_calls = 40001, []
        await first.send_text("oA", "4")
        await second.send_text("oB", "5")
        assert [c["token"] for c in api.send_calls] == ["T1", "T2", "T2"]
        assert api.token_calls == 2
    finally:
        await store_a.close()
        await store_b.close()


@pytest.mark.asyncio
async def test_unreachable_redis_still_sends(api: ApiStandIn) -> None:
    store = RedisStore.from_url("redis://127.0.0.1:9/0")  # fails open: acts as an empty store
    client = WeChatApiClient("wxapp", "secret", api.base, store=store)
    try:
        await client.send_text("oUser", "hi")
    finally:
        await store.close()
    assert [c["token"] for c in api.send_calls] == ["T1"]
