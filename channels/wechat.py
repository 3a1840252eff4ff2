"""WeChat Official Account (公众号) input channel for Rasa.

Served at ``/webhooks/wechat/webhook`` (GET: URL verification, POST: messages). The
protocol itself (signatures, AES, XML, de-dup, API client) is in ``wechat_protocol``.

Configured under ``channels.wechat.WeChatInput`` in the project's credentials.yml (token,
app_id, app_secret, aes_key, api_base_url, reply_timeout, redis_url from WECHAT_* / REDIS_URL).

Rasa refuses a credentials file that names an unset variable, so the variables must
exist (empty is fine). An empty token disables the channel (every request gets 403);
an empty ``api_base_url`` means https://api.weixin.qq.com; an empty ``redis_url``
means in-memory de-duplication.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Set, Text

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.wechat_protocol import (
    DEFAULT_API_BASE_URL,
    DEFAULT_DEDUP_TTL,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_REPLY_TIMEOUT,
    ERROR_TEXT,
    SUCCESS,
    UNSUPPORTED_TEXT,
    WELCOME_TEXT,
    AppIdMismatch,
    MemoryDedup,
    RedisDedup,
    WeChatApiClient,
    WeChatApiError,
    WeChatCrypto,
    WeChatCryptoError,
    WeChatMessage,
    XMLError,
    build_text_reply,
    check_signature,
    encrypt_reply,
    format_bot_messages,
    message_from_fields,
    parse_message,
    parse_xml,
    timestamp_is_fresh,
    truncate_utf8,
)

logger = logging.getLogger(__name__)

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def _number(value: Any, default: float) -> float:
    """A number from credentials (which may be an empty or numeric string)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return float(value)


class _RedactWeChatQuery(logging.Filter):
    """Drops query strings (they carry ``openid``) from Sanic access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_line = getattr(record, "request", None)
        if isinstance(request_line, str) and "/wechat/webhook?" in request_line:
            record.request = request_line.split("?", 1)[0] + "?…"
        return True


def _install_access_log_filter() -> None:
    access_logger = logging.getLogger("sanic.access")
    if not any(isinstance(f, _RedactWeChatQuery) for f in access_logger.filters):
        access_logger.addFilter(_RedactWeChatQuery())


class WeChatInput(InputChannel):
    """WeChat Official Account webhook (plaintext and safe mode).

    Text messages go to the bot; the passive reply carries the bot's answer when it
    comes within ``reply_timeout`` seconds, otherwise the reply is ``success`` and the
    answer follows through the customer-service message API. Retries of a message
    (same MsgId, or FromUserName + CreateTime for events) are answered once; a repeat
    gets ``success`` (no reply text is stored anywhere).
    """

    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> WeChatInput:
        """Builds the channel from credentials.yml's ``channels.wechat.WeChatInput``.

        Keys: ``token``, ``app_id``, ``app_secret``, ``aes_key``, ``api_base_url``,
        ``reply_timeout``, ``redis_url``; optional ``replay_window`` (s, default 300),
        ``max_body_bytes`` (default 65536), ``dedup_ttl`` (s, default 60).

        Disabled unless a token is set: with ``token`` empty or missing (e.g.
        ``token: ${WECHAT_TOKEN}`` with ``WECHAT_TOKEN=""``), nothing else is read or
        validated and the webhook answers every GET and POST with 403. Rasa's ``${VAR}``
        substitution fails on an unset variable, so export the variables empty rather
        than leaving them unset.
        """
        credentials = credentials or {}
        return cls(
            token=credentials.get("token") or "",
            app_id=credentials.get("app_id") or "",
            app_secret=credentials.get("app_secret") or "",
            aes_key=credentials.get("aes_key") or "",
            api_base_url=credentials.get("api_base_url") or "",
            reply_timeout=_number(credentials.get("reply_timeout"), DEFAULT_REPLY_TIMEOUT),
            redis_url=credentials.get("redis_url") or "",
            replay_window=_number(credentials.get("replay_window"), DEFAULT_REPLAY_WINDOW),
            max_body_bytes=int(_number(credentials.get("max_body_bytes"), DEFAULT_MAX_BODY_BYTES)),
            dedup_ttl=_number(credentials.get("dedup_ttl"), DEFAULT_DEDUP_TTL),
        )

    def __init__(
        self,
        token: Text = "",
        app_id: Text = "",
        app_secret: Text = "",
        aes_key: Text = "",
        api_base_url: Text = "",
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        redis_url: Text = "",
        replay_window: float = DEFAULT_REPLAY_WINDOW,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        dedup_ttl: float = DEFAULT_DEDUP_TTL,
        dedup: Any = None,
        api_client: Optional[WeChatApiClient] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = str(token or "").strip()
        self.enabled = bool(self.token)
        self.app_id = str(app_id or "").strip()
        self.reply_timeout = float(reply_timeout)
        self.replay_window = float(replay_window)
        self.max_body_bytes = int(max_body_bytes)
        self._clock = clock
        self._background: Set[asyncio.Task] = set()
        self.crypto: Optional[WeChatCrypto] = None
        self.dedup: Any = dedup
        self.api_client = api_client
        if not self.enabled:
            logger.info("WeChat channel disabled (no token); the webhook answers 403")
            return
        if self.reply_timeout >= 5:
            logger.warning("WeChat reply_timeout %.1fs is not below WeChat's 5 s", reply_timeout)
        aes_key = str(aes_key or "").strip()
        if aes_key:
            self.crypto = WeChatCrypto(aes_key, self.app_id)
        if self.dedup is None:
            redis_url = str(redis_url or "").strip()
            if redis_url:
                self.dedup = RedisDedup.from_url(redis_url, ttl=dedup_ttl)
            else:
                self.dedup = MemoryDedup(ttl=dedup_ttl)
        if self.api_client is None and self.app_id and app_secret:
            self.api_client = WeChatApiClient(
                self.app_id,
                str(app_secret).strip(),
                str(api_base_url or "").strip() or DEFAULT_API_BASE_URL,
            )
        logger.info(
            "WeChat channel enabled (safe mode %s, de-dup %s, customer-service API %s)",
            "available" if self.crypto else "off",
            type(self.dedup).__name__,
            "on" if self.api_client else "off",
        )

    @property
    def background_tasks(self) -> Set[asyncio.Task]:
        """Late replies still being computed or sent."""
        return self._background

    # ---------------------------------------------------------------- request checks

    def _authentic(self, request: Request) -> bool:
        args = request.args
        timestamp = args.get("timestamp")
        return check_signature(self.token, args.get("signature"), timestamp, args.get("nonce")) and timestamp_is_fresh(
            timestamp, self.replay_window, self._clock()
        )

    @staticmethod
    def _forbidden() -> HTTPResponse:
        return response.text("forbidden", status=403, content_type=TEXT_CONTENT_TYPE)

    @staticmethod
    def _bad_request() -> HTTPResponse:
        return response.text("bad request", status=400, content_type=TEXT_CONTENT_TYPE)

    # ---------------------------------------------------------------------- replies

    async def _answer(
        self,
        message: WeChatMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> Optional[Text]:
        """The passive reply text, or None for ``success``."""
        if message.msg_type == "text":
            if not message.content.strip():
                return None
            return await self._run_bot(message, on_new_message)
        if message.msg_type == "event":
            return WELCOME_TEXT if message.event.lower() == "subscribe" else None
        return UNSUPPORTED_TEXT

    async def _run_bot(
        self,
        message: WeChatMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> Optional[Text]:
        collector = CollectingOutputChannel()
        user_message = UserMessage(
            text=message.content,
            output_channel=collector,
            sender_id=message.from_user,
            input_channel=self.name(),
            message_id=message.msg_id or None,
        )
        logger.debug("WeChat text message (%d chars) to the bot", len(message.content))
        task = asyncio.ensure_future(on_new_message(user_message))
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self.reply_timeout)
        except asyncio.TimeoutError:
            logger.info(
                "WeChat: bot slower than %.1fs; the answer follows via the " "customer-service API",
                self.reply_timeout,
            )
            late = asyncio.ensure_future(self._deliver_late(task, collector, message.from_user))
            self._background.add(late)
            late.add_done_callback(self._background.discard)
            return None
        except Exception as exc:
            logger.error(
                "WeChat: the bot failed (%s)",
                type(exc).__name__,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            return ERROR_TEXT
        return format_bot_messages(collector.messages) or None

    async def _deliver_late(
        self,
        task: asyncio.Future[Any],
        collector: CollectingOutputChannel,
        openid: Text,
    ) -> None:
        try:
            await task
            text = format_bot_messages(collector.messages)
        except Exception as exc:
            logger.error("WeChat: the bot failed late (%s)", type(exc).__name__)
            text = ERROR_TEXT
        if not text:
            return
        if self.api_client is None:
            logger.warning("WeChat: late answer dropped (app_id/app_secret not set)")
            return
        try:
            await self.api_client.send_text(openid, text)
        except WeChatApiError as exc:
            logger.error("WeChat: %s", exc)
        except Exception as exc:  # aiohttp errors may quote URLs with secrets
            logger.error("WeChat: customer-service send failed (%s)", type(exc).__name__)

    # -------------------------------------------------------------------- blueprint

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        _install_access_log_filter()
        wechat_webhook = Blueprint("wechat_webhook")

        @wechat_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.enabled})

        @wechat_webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.enabled or not self._authentic(request):
                return self._forbidden()
            echostr = request.args.get("echostr")
            if echostr is None:
                return self._bad_request()
            return response.text(echostr, content_type=TEXT_CONTENT_TYPE)

        @wechat_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled or not self._authentic(request):
                return self._forbidden()
            body = request.body or b""
            if len(body) > self.max_body_bytes:
                return response.text("payload too large", status=413)
            args = request.args
            safe_mode = (args.get("encrypt_type") or "raw").lower() == "aes"
            try:
                fields = parse_xml(body)
                if safe_mode:
                    encrypted = fields.get("Encrypt") or ""
                    if self.crypto is None or not encrypted:
                        return self._bad_request()
                    if not check_signature(
                        self.token,
                        args.get("msg_signature"),
                        args.get("timestamp"),
                        args.get("nonce"),
                        encrypted,
                    ):
                        return self._forbidden()
                    message = parse_message(self.crypto.decrypt(encrypted))
                else:
                    message = message_from_fields(fields)
            except AppIdMismatch:
                logger.warning("WeChat: message for another AppID refused")
                return self._forbidden()
            except (XMLError, WeChatCryptoError) as exc:
                logger.info("WeChat: request refused (%s)", exc)
                return self._bad_request()

            if not await self.dedup.claim(message.dedup_key):
                logger.debug("WeChat: repeated delivery answered with success")
                return response.text(SUCCESS, content_type=TEXT_CONTENT_TYPE)

            answer = await self._answer(message, on_new_message)
            if not answer:
                return response.text(SUCCESS, content_type=TEXT_CONTENT_TYPE)
            reply = build_text_reply(
                to_user=message.from_user,
                from_user=message.to_user,
                content=truncate_utf8(answer),
                create_time=int(self._clock()),
            )
            if safe_mode:
                reply = encrypt_reply(self.crypto, self.token, reply, timestamp=str(int(self._clock())))
            return response.text(reply, content_type=XML_CONTENT_TYPE)

        return wechat_webhook
