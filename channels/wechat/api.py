"""The customer-service message API (客服消息) client, with an access token shared through a store.

WeChat gives out one valid access token per AppID at a time: every ``/cgi-bin/token`` call issues a
new one (the previous stays valid for about five minutes). So several worker processes that each
fetched their own would keep replacing each other's. Here the token lives in a ``SharedStore``
(Redis when ``redis_url`` is configured, memory otherwise) under a key per AppID, with a TTL a little
shorter than ``expires_in``; a refresh is guarded by a short ``claim`` lock so that one process
fetches while the others wait briefly and read what it stored.

The AppSecret and the access token travel in query strings: URLs are never logged, and no error
message here contains either (aiohttp's exceptions, which may quote the URL, are not chained).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable, Dict, Mapping, Optional

from channels.wechat.messages import truncate_utf8
from channels.wechat.storage import MemoryStore, SharedStore

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
TOKEN_KEY_PREFIX = "wechat:token:"  # + AppID: the cached access token
TOKEN_LOCK_KEY_PREFIX = "wechat:token-lock:"  # + AppID: held while one process refreshes it


class WeChatApiError(RuntimeError):
    """A WeChat API call failed or answered with an error code (the message names no secret)."""


class WeChatApiClient:
    """Access token (cached in ``store`` until shortly before expiry) and customer-service text.

    ``store`` defaults to a private ``MemoryStore`` (on ``clock``); pass the channel's store so that
    every process and instance on the same Redis shares one token. Uses aiohttp.
    """

    TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access token

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        store: Optional[SharedStore] = None,
        lock_wait: float = 3.0,
        poll_interval: float = 0.05,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("the customer-service API needs app_id and app_secret")
        self.app_id = app_id
        self._app_secret = app_secret
        self.api_base_url = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self.timeout = timeout
        # The token cache needs only a couple of keys when it is private to this client.
        self.store: SharedStore = store if store is not None else MemoryStore(max_size=16, clock=clock)
        self.lock_wait = lock_wait
        self.poll_interval = poll_interval
        # Outlives one token request (bounded by ``timeout``), so the lock never lapses mid-refresh,
        # yet frees itself soon if its holder dies.
        self.lock_ttl = timeout + 5.0
        self.token_key = TOKEN_KEY_PREFIX + app_id
        self.lock_key = TOKEN_LOCK_KEY_PREFIX + app_id
        self._local_lock: Optional[asyncio.Lock] = None

    def _session(self) -> Any:
        import aiohttp

        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def _call(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        """One API request; its JSON answer. Transport errors become a ``WeChatApiError``."""
        import aiohttp

        try:
            async with self._session() as session:
                async with session.request(method, self.api_base_url + path, **kwargs) as response:
                    return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            # "from None": the original may quote the URL, and with it the secret or the token.
            raise WeChatApiError(f"{what} failed ({type(exc).__name__})") from None

    async def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._app_secret}
        data = await self._call("access token request", "GET", "/cgi-bin/token", params=params)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token or not isinstance(token, str):
            code = data.get("errcode") if isinstance(data, dict) else None
            raise WeChatApiError(f"access token request failed (errcode={code})")
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        expires_in = max(expires_in, 2)
        # Refresh a little early (5 minutes, or half the lifetime if it is short).
        await self.store.set(self.token_key, token, expires_in - min(300, expires_in / 2))
        logger.debug("WeChat access token refreshed (expires in %s s)", expires_in)
        return token

    async def get_access_token(self, force_refresh: bool = False) -> str:
        """The shared access token, fetched (by one process at a time) when none is cached.

        ``force_refresh`` drops the cached token first.
        """
        if force_refresh:
            await self.invalidate_token()
        token = await self.store.get(self.token_key)
        if token:
            return token
        # Coroutines of this process queue here, so only one of them contends for the shared lock.
        if self._local_lock is None:
            self._local_lock = asyncio.Lock()
        async with self._local_lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.lock_wait
            while not await self.store.claim(self.lock_key, self.lock_ttl):
                # Another process is fetching: wait briefly, then use what it stored.
                await asyncio.sleep(self.poll_interval)
                token = await self.store.get(self.token_key)
                if token:
                    return token
                if loop.time() >= deadline:
                    logger.warning("WeChat: access token refresh by another process is late; fetching here")
                    return await self._fetch_token()
            try:
                # Someone may have stored a token between our read and our claim.
                token = await self.store.get(self.token_key)
                return token or await self._fetch_token()
            finally:
                await self.store.delete(self.lock_key)

    async def invalidate_token(self, token: Optional[str] = None) -> None:
        """Drops the cached token; with ``token``, only if that is still the one cached.

        The compare and the delete are two steps, so another process's fresh token may rarely be
        dropped too; it then costs one more fetch, nothing worse.
        """
        if token is not None and await self.store.get(self.token_key) != token:
            return
        await self.store.delete(self.token_key)

    async def send_text(self, openid: str, content: str) -> None:
        """Sends a customer-service text message.

        On an invalid or expired token (errcode 40001, 40014, 42001) the cached token is dropped and
        the send retried once with a fresh one.
        """
        payload = {"touser": openid, "msgtype": "text", "text": {"content": truncate_utf8(content)}}
        await self._send(payload)

    async def _send(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers: Dict[str, str] = {"Content-Type": "application/json; charset=utf-8"}
        for attempt in range(2):
            token = await self.get_access_token()
            data = await self._call(
                "customer-service send",
                "POST",
                "/cgi-bin/message/custom/send",
                params={"access_token": token},
                data=body,
                headers=headers,
            )
            code = data.get("errcode", 0) if isinstance(data, dict) else -1
            if code == 0:
                logger.debug("WeChat customer-service message sent (%d bytes)", len(body))
                return
            if code in self.TOKEN_ERRCODES and attempt == 0:
                await self.invalidate_token(token)
                continue
            raise WeChatApiError(f"customer-service send failed (errcode={code})")
