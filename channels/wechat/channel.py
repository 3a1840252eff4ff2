"""WeChat Official Account (公众号) channel for Rasa: ``WeChatInput`` paired with ``WeChatOutput``.

Served at ``/webhooks/wechat/webhook`` (GET: URL verification, POST: messages), configured under
``channels.wechat.WeChatInput`` in credentials.yml (token, app_id, app_secret, aes_key,
api_base_url, reply_timeout, redis_url from WECHAT_* / REDIS_URL).

Rasa refuses a credentials file that names an unset variable, so the variables must exist (empty is
fine). An empty token disables the channel (every request gets 403); an empty ``api_base_url`` means
https://api.weixin.qq.com; an empty ``redis_url`` means an in-memory store (de-duplication and the
access token are then private to the process).

The texts users see (welcome, unsupported message type, error) are phrases of knowledge/service.yml.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import unicodedata
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Set, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import resilience
from channels.wechat.api import DEFAULT_API_BASE_URL, WeChatApiClient, WeChatApiError
from channels.wechat.crypto import (
    AppIdMismatch,
    WeChatCrypto,
    WeChatCryptoError,
    check_signature,
    encrypt_reply,
    timestamp_is_fresh,
)
from channels.wechat.messages import (
    WeChatMessage,
    XMLError,
    build_text_reply,
    format_bot_messages,
    message_from_fields,
    parse_message,
    parse_xml,
    split_utf8,
    truncate_utf8,
    wechat_links,
)
from channels.wechat.storage import DEFAULT_MAX_SIZE, MemoryStore, RedisStore, SharedStore
from core.knowledge import knowledge

resilience.install()  # log redaction and the action-server timeout in the Rasa server process

logger = logging.getLogger(__name__)

DEFAULT_REPLY_TIMEOUT = 4.5  # seconds; WeChat waits 5 s for a passive reply
DEFAULT_REPLAY_WINDOW = 300  # seconds a request timestamp may differ from now
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_DEDUP_TTL = 60  # seconds; WeChat retries three times within ~15 s
DEDUP_KEY_PREFIX = "wechat:dedup:"  # + WeChatMessage.dedup_key
SUCCESS = "success"  # the body WeChat takes as "received, no reply"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

# Phrase keys in knowledge/service.yml.
WELCOME_PHRASE = "wechat_welcome"
UNSUPPORTED_PHRASE = "wechat_unsupported"
ERROR_PHRASE = "wechat_error"


def bilingual_phrase(key: str) -> str:
    """The Chinese line, then the English line, of a knowledge phrase.

    WeChat tells nothing about the user's language for a subscription or a picture, so both go.
    """
    kb = knowledge()
    return f"{kb.phrase(key, 'zh')}\n{kb.phrase(key, 'en')}"


def _number(value: Any, default: float) -> float:
    """A number from credentials (which may be an empty or numeric string)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return float(value)


# WeChat has no buttons: the bot's buttons become numbered lines, and a reply of just that number
# (full-width digits too) is taken as the button (its payload), for OFFER_TTL seconds.
OFFER_KEY_PREFIX = "wechat:offer:"  # + openid → JSON {"1": payload, ...} of the last reply
OFFER_TTL = 24 * 3600.0
SPLIT_DELAY = 1.0  # seconds before the rest of a long reply follows the passive reply


def chosen_number(content: str) -> Optional[str]:
    """ "3" for a reply that is just a number (1–99), else None."""
    text = unicodedata.normalize("NFKC", content).strip().rstrip(".。")
    return text if text.isdigit() and 0 < len(text) <= 2 else None


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


# ------------------------------------------------------------------------------- output


class WeChatOutput(CollectingOutputChannel):
    """Where the bot's messages to a WeChat user go: the passive reply, or the customer-service API.

    While a passive reply is still possible (``passive=True``) messages are collected; the channel
    then takes them as the reply (``take_passive_reply``). Once the passive window has closed
    (``close_passive_window``, or ``passive=False`` from the start, as ``get_output_channel`` gives
    it to Rasa) what was collected and everything after is sent through the customer-service API.
    Every ``send_*`` method ends in ``_persist_message``, so they all take this one path.

    One bot utterance (text with buttons, an image…) becomes one WeChat message. Sends keep their
    order. A failed send is logged (without secrets) and not raised, so that a WeChat outage does
    not break the conversation's processing. ``messages`` keeps everything the bot said, as Rasa's
    collecting channels do.
    """

    @classmethod
    def name(cls) -> Text:
        """Rasa's name for the channel (also what ``channel:`` response variations match)."""
        return "wechat"

    def __init__(self, api_client: Optional[WeChatApiClient], passive: bool = False) -> None:
        super().__init__()
        self.api_client = api_client
        self._passive = passive
        self._collected: List[Dict[Text, Any]] = []  # for the passive reply, not yet delivered
        self._utterance: Optional[List[Dict[Text, Any]]] = None
        self._last_send: Optional[asyncio.Future[Any]] = None
        self.offers: Dict[Text, Text] = {}  # number → payload of the buttons this reply showed

    @property
    def passive(self) -> bool:
        """True while messages are being collected for the passive reply."""
        return self._passive

    # ---------------------------------------------------------- the passive window

    def take_passive_reply(self) -> Text:
        """Closes the passive window and returns what was collected, as one text for the reply —
        at most one passive reply's worth (2,048 bytes, whole paragraphs): the rest follows through
        the customer-service API, so nothing is cut."""
        self._passive = False
        collected, self._collected = self._collected, []
        first, *rest = split_utf8(format_bot_messages(collected)) or [""]
        if rest and collected:
            recipient = collected[0].get("recipient_id", "")
            for part in rest:
                self._enqueue(recipient, part, delay=SPLIT_DELAY)
        return first

    def close_passive_window(self) -> Optional[asyncio.Future[Any]]:
        """Closes the passive window; sends what was collected via the API.

        Returns the send (None when nothing was collected). Later messages queue behind it.
        """
        self._passive = False
        collected, self._collected = self._collected, []
        if not collected:
            return None
        return self._enqueue(collected[0]["recipient_id"], format_bot_messages(collected))

    # -------------------------------------------------------------- Rasa's send path

    @contextlib.asynccontextmanager
    async def _one_message(self, recipient_id: Text) -> AsyncIterator[None]:
        """Gathers the parts Rasa sends for one utterance, to deliver them as one message."""
        if self._utterance is not None:  # already inside one (send_response → send_text_message)
            yield
            return
        self._utterance = []
        try:
            yield
            parts = self._utterance
        finally:
            self._utterance = None
        await self._deliver(recipient_id, parts)

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Sends one bot utterance (Rasa's entry point), as one WeChat message."""
        async with self._one_message(recipient_id):
            await super().send_response(recipient_id, message)

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """Buttons as numbered lines under the text, numbered on through the whole reply; the
        channel maps the person's number back to the button (``offers``)."""
        lines = [text] if text else []
        for button in buttons:
            title, payload = str(button.get("title") or "").strip(), button.get("payload")
            if not title or not isinstance(payload, str):
                continue
            number = str(len(self.offers) + 1)
            self.offers[number] = payload
            lines.append(f"{number}. {title}")
        await self.send_text_message(recipient_id, "\n".join(lines))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Sends a text; its paragraphs stay together in one WeChat message."""
        async with self._one_message(recipient_id):
            await super().send_text_message(recipient_id, wechat_links(text), **kwargs)

    async def _persist_message(self, message: Dict[Text, Any]) -> None:
        self.messages.append(message)
        if self._utterance is not None:
            self._utterance.append(message)
        else:
            await self._deliver(message.get("recipient_id", ""), [message])

    async def _deliver(self, recipient_id: Text, parts: List[Dict[Text, Any]]) -> None:
        if not parts:
            return
        if self._passive:
            self._collected.extend(parts)
            return
        text = format_bot_messages(parts)
        if text:
            await self._enqueue(recipient_id, text)

    # --------------------------------------------------------- customer-service API

    def _enqueue(self, recipient_id: Text, text: Text, delay: float = 0.0) -> asyncio.Future[Any]:
        # Chained, so the flush at window close and the bot's later messages arrive in order; a
        # text longer than one message goes as several.
        send: Optional[asyncio.Future[Any]] = None
        for part in split_utf8(text) or [""]:
            previous = self._last_send
            send = asyncio.ensure_future(self._send_after(previous, recipient_id, part, delay))
            self._last_send = send
            delay = 0.0
        assert send is not None
        return send

    async def _send_after(
        self, previous: Optional[asyncio.Future[Any]], recipient_id: Text, text: Text, delay: float = 0.0
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        if delay:
            await asyncio.sleep(delay)  # after the passive reply it follows
        if self.api_client is None:
            logger.warning("WeChat: message dropped (app_id/app_secret not set for the customer-service API)")
            return
        try:
            await self.api_client.send_text(recipient_id, text)
        except WeChatApiError as exc:
            logger.error("WeChat: %s", exc)
        except Exception as exc:  # anything else may quote URLs with secrets: log its type only
            logger.error("WeChat: customer-service send failed (%s)", type(exc).__name__)


# -------------------------------------------------------------------------------- input


class WeChatInput(InputChannel):
    """WeChat Official Account webhook (plaintext and safe mode).

    Text messages go to the bot with a ``WeChatOutput``: the passive reply carries the bot's answer
    when it comes within ``reply_timeout`` seconds, otherwise the reply is ``success`` and the
    answer follows through the customer-service message API. Retries of a message (same MsgId, or
    FromUserName + CreateTime for events) are answered once; a repeat gets ``success`` (no reply
    text is stored anywhere).
    """

    @classmethod
    def name(cls) -> Text:
        """The URL prefix and the input channel's name in trackers."""
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> WeChatInput:
        """Builds the channel from credentials.yml's ``channels.wechat.WeChatInput``.

        Keys: ``token``, ``app_id``, ``app_secret``, ``aes_key``, ``api_base_url``,
        ``reply_timeout``, ``redis_url``; optional ``replay_window`` (s, default 300),
        ``max_body_bytes`` (default 65536), ``dedup_ttl`` (s, default 60).

        Disabled unless a token is set: with ``token`` empty or missing (e.g.
        ``token: ${WECHAT_TOKEN}`` with ``WECHAT_TOKEN=""``), nothing else is read or validated and
        the webhook answers every GET and POST with 403. Rasa's ``${VAR}`` substitution fails on an
        unset variable, so export the variables empty rather than leaving them unset.
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
        store: Optional[SharedStore] = None,
        api_client: Optional[WeChatApiClient] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = str(token or "").strip()
        self.enabled = bool(self.token)
        self.app_id = str(app_id or "").strip()
        self.reply_timeout = float(reply_timeout)
        self.replay_window = float(replay_window)
        self.max_body_bytes = int(max_body_bytes)
        self.dedup_ttl = float(dedup_ttl)
        self._clock = clock
        self._background: Set[asyncio.Future[Any]] = set()
        self.crypto: Optional[WeChatCrypto] = None
        self.store: Optional[SharedStore] = store
        self.api_client = api_client
        self.welcome_text = self.unsupported_text = self.error_text = ""
        if not self.enabled:
            logger.info("WeChat channel disabled (no token); the webhook answers 403")
            return
        if self.reply_timeout >= 5:
            logger.warning("WeChat reply_timeout %.1fs is not below WeChat's 5 s", reply_timeout)
        if self.dedup_ttl <= 0:
            raise ValueError("dedup_ttl must be positive")
        # Read now, so a missing phrase stops start-up instead of failing a user's first message.
        self.welcome_text = bilingual_phrase(WELCOME_PHRASE)
        self.unsupported_text = bilingual_phrase(UNSUPPORTED_PHRASE)
        self.error_text = bilingual_phrase(ERROR_PHRASE)
        aes_key = str(aes_key or "").strip()
        if aes_key:
            self.crypto = WeChatCrypto(aes_key, self.app_id)
        # One store for de-duplication and the access token: on Redis it is shared by every process
        # and instance using it. (In memory a flood of MsgIds may evict the token: one more fetch.)
        redis_url = str(redis_url or "").strip()
        if self.store is None:
            self.store = RedisStore.from_url(redis_url) if redis_url else MemoryStore(max_size=DEFAULT_MAX_SIZE)
        if self.api_client is None and self.app_id and app_secret:
            self.api_client = WeChatApiClient(
                self.app_id,
                str(app_secret).strip(),
                str(api_base_url or "").strip() or DEFAULT_API_BASE_URL,
                store=self.store,
            )
        logger.info(
            "WeChat channel enabled (safe mode %s, store %s, customer-service API %s)",
            "available" if self.crypto else "off",
            type(self.store).__name__,
            "on" if self.api_client else "off",
        )

    @property
    def background_tasks(self) -> Set[asyncio.Future[Any]]:
        """Late answers still being computed or sent."""
        return self._background

    def _keep(self, task: Optional[asyncio.Future[Any]]) -> None:
        # Held here so that the event loop does not lose a task nobody awaits.
        if task is not None:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def get_output_channel(self) -> WeChatOutput:
        """An output that sends through the customer-service API (for Rasa's trigger_intent etc.)."""
        return WeChatOutput(self.api_client, passive=False)

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
            return self.welcome_text if message.event.lower() == "subscribe" else None
        return self.unsupported_text

    async def _run_bot(
        self,
        message: WeChatMessage,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> Optional[Text]:
        output = WeChatOutput(self.api_client, passive=True)
        user_message = UserMessage(
            text=await self._offered_payload(message) or message.content,
            output_channel=output,
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
                "WeChat: bot slower than %.1fs; the answer follows via the customer-service API",
                self.reply_timeout,
            )
            self._keep(output.close_passive_window())
            self._keep(asyncio.ensure_future(self._finish_late(task, output, message.from_user)))
            return None
        except Exception as exc:
            output.take_passive_reply()  # what the bot said before it failed is not sent
            logger.error(
                "WeChat: the bot failed (%s)",
                type(exc).__name__,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            return self.error_text
        await self._remember_offers(message.from_user, output)
        return output.take_passive_reply() or None

    async def _offered_payload(self, message: WeChatMessage) -> Optional[Text]:
        """The payload of the numbered line the person answered with, if their last reply offered it."""
        number = chosen_number(message.content)
        if number is None or self.store is None:
            return None
        offered = await self.store.get(OFFER_KEY_PREFIX + message.from_user)
        try:
            payload = json.loads(offered).get(number) if offered else None
        except ValueError:
            return None
        return payload if isinstance(payload, str) else None

    async def _remember_offers(self, openid: Text, output: WeChatOutput) -> None:
        """What the numbers of this reply mean, for the person's next message (none: forgotten)."""
        if self.store is None:
            return
        if output.offers:
            await self.store.set(OFFER_KEY_PREFIX + openid, json.dumps(output.offers, ensure_ascii=False), OFFER_TTL)
        else:
            await self.store.delete(OFFER_KEY_PREFIX + openid)

    async def _finish_late(self, task: asyncio.Future[Any], output: WeChatOutput, openid: Text) -> None:
        """Waits for a bot past the passive window; its messages go out through ``output`` as sent."""
        try:
            await task
        except Exception as exc:
            logger.error("WeChat: the bot failed late (%s)", type(exc).__name__)
            await output.send_text_message(openid, self.error_text)
            return
        await self._remember_offers(openid, output)

    # -------------------------------------------------------------------- blueprint

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook's routes, as Rasa mounts them under ``/webhooks/wechat/``."""
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
            crypto = self.crypto
            try:
                fields = parse_xml(body)
                if safe_mode:
                    encrypted = fields.get("Encrypt") or ""
                    if crypto is None or not encrypted:
                        return self._bad_request()
                    if not check_signature(
                        self.token,
                        args.get("msg_signature"),
                        args.get("timestamp"),
                        args.get("nonce"),
                        encrypted,
                    ):
                        return self._forbidden()
                    message = parse_message(crypto.decrypt(encrypted))
                else:
                    message = message_from_fields(fields)
            except AppIdMismatch:
                logger.warning("WeChat: message for another AppID refused")
                return self._forbidden()
            except (XMLError, WeChatCryptoError) as exc:
                logger.info("WeChat: request refused (%s)", exc)
                return self._bad_request()

            store = self.store
            if store is None:  # cannot happen: every enabled channel has a store
                return self._forbidden()
            if not await store.claim(DEDUP_KEY_PREFIX + message.dedup_key, self.dedup_ttl):
                logger.debug("WeChat: repeated delivery answered with success")
                return response.text(SUCCESS, content_type=TEXT_CONTENT_TYPE)

            answer = await self._answer(message, on_new_message)
            if not answer:
                return response.text(SUCCESS, content_type=TEXT_CONTENT_TYPE)
            reply = build_text_reply(
                to_user=message.from_user,
                from_user=message.to_user,
                content=truncate_utf8(answer),  # within the limit already (take_passive_reply splits)
                create_time=int(self._clock()),
            )
            if safe_mode and crypto is not None:  # (a safe-mode request without crypto got 400 above)
                reply = encrypt_reply(crypto, self.token, reply, timestamp=str(int(self._clock())))
            return response.text(reply, content_type=XML_CONTENT_TYPE)

        return wechat_webhook
