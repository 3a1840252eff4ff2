"""WeChat Official Account (公众号) message protocol, free of Rasa and Sanic.

Everything here follows WeChat's published algorithms for the "server configuration"
(服务器配置) callback:

* URL and message signature: ``sha1("".join(sorted([token, timestamp, nonce])))``; in
  safe mode the message signature ``msg_signature`` also sorts in the ``Encrypt`` value.
* Safe mode (``encrypt_type=aes``): AES-256-CBC, key = base64(EncodingAESKey + "="),
  IV = first 16 bytes of the key, PKCS#7 padding to 32-byte blocks, plaintext =
  16 random bytes + 4-byte big-endian message length + message + AppID.
* Passive replies (被动回复) are XML; a plain text reply carries at most 2048 bytes.
* The customer-service message API (客服消息) sends a reply later, with an access token
  from ``/cgi-bin/token``.

Parsing uses ``defusedxml`` with DTDs forbidden, so XXE and entity expansion ("billion
laughs") are refused before any content is looked at.

Nothing in this module logs message content or OpenIDs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Union
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DefusedET
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_REPLY_TIMEOUT = 4.5  # seconds; WeChat waits 5 s for a passive reply
DEFAULT_REPLAY_WINDOW = 300  # seconds a request timestamp may differ from now
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_DEDUP_TTL = 60  # seconds; WeChat retries three times within ~15 s
DEFAULT_DEDUP_MAX_SIZE = 10_000
PASSIVE_TEXT_MAX_BYTES = 2048  # WeChat's limit on a passive text reply's Content
SUCCESS = "success"  # the body WeChat takes as "received, no reply"

WELCOME_TEXT = "您好，欢迎关注！请直接用文字提问。\n" "Hello and welcome! Please type your question as a text message."
UNSUPPORTED_TEXT = (
    "抱歉，目前只能理解文字消息，请用文字提问。\n"
    "Sorry, I can only understand text messages for now. Please type your question."
)
ERROR_TEXT = "抱歉，出了点问题，请稍后再试。\nSorry, something went wrong. Please try again later."


# --------------------------------------------------------------------------- signatures


def compute_signature(*parts: str) -> str:
    """SHA-1 hex digest of the lexicographically sorted concatenation of ``parts``.

    ``compute_signature(token, timestamp, nonce)`` is the URL signature (``signature``);
    ``compute_signature(token, timestamp, nonce, encrypt)`` is ``msg_signature``.
    """
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(
    token: str,
    signature: Optional[str],
    timestamp: Optional[str],
    nonce: Optional[str],
    *extra: str,
) -> bool:
    """True when ``signature`` is the signature of token, timestamp, nonce (+ extra).

    Anything missing or empty (including the token itself) fails. The comparison is
    constant-time.
    """
    if not token or not signature or not timestamp or not nonce:
        return False
    if any(not isinstance(part, str) for part in extra):
        return False
    expected = compute_signature(token, timestamp, nonce, *extra)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8"))


def timestamp_is_fresh(timestamp: Optional[str], window: float, now: Optional[float] = None) -> bool:
    """True when ``timestamp`` (Unix seconds, as sent) is within ``window`` s of now.

    A ``window`` of 0 or less turns the replay check off.
    """
    if window is None or window <= 0:
        return True
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= window


def make_nonce() -> str:
    """A random numeric nonce, as WeChat uses."""
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


# ----------------------------------------------------------------------------- crypto


class WeChatCryptoError(ValueError):
    """Ciphertext that does not decrypt to a well-formed WeChat message."""


class AppIdMismatch(WeChatCryptoError):
    """The decrypted message names another AppID than the configured one."""


class WeChatCrypto:
    """Safe-mode (``encrypt_type=aes``) message encryption and decryption.

    ``random_bytes(n)`` supplies the 16 random prefix bytes; tests inject a fixed one.
    """

    BLOCK_SIZE = 32  # WeChat pads PKCS#7 to 32-byte blocks, not AES's 16

    def __init__(
        self,
        encoding_aes_key: str,
        app_id: str,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        key_text = (encoding_aes_key or "").strip()
        if len(key_text) != 43:
            raise ValueError("EncodingAESKey must be 43 characters long")
        try:
            key = base64.b64decode(key_text + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey is not valid base64") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        if not app_id:
            raise ValueError("safe mode needs the AppID")
        self._key = key
        self._iv = key[:16]
        self._app_id = app_id.encode("utf-8")
        self._random_bytes = random_bytes

    @property
    def app_id(self) -> str:
        return self._app_id.decode("utf-8")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, message: str) -> str:
        """Encrypts ``message`` (usually reply XML); returns base64 text."""
        body = message.encode("utf-8")
        prefix = self._random_bytes(16)
        if len(prefix) != 16:
            raise ValueError("random_bytes(16) must return 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self._app_id
        pad = self.BLOCK_SIZE - len(plain) % self.BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        cipher_text = encryptor.update(plain) + encryptor.finalize()
        return base64.b64encode(cipher_text).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """Decrypts base64 ``encrypted``; checks padding, length and AppID.

        Raises ``AppIdMismatch`` for another account's message and
        ``WeChatCryptoError`` for anything malformed.
        """
        try:
            cipher_text = base64.b64decode("".join((encrypted or "").split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeChatCryptoError("Encrypt is not base64") from exc
        if not cipher_text or len(cipher_text) % 16:
            raise WeChatCryptoError("Encrypt has a bad length")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(cipher_text) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= self.BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise WeChatCryptoError("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise WeChatCryptoError("message too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeChatCryptoError("bad message length")
        body = plain[20 : 20 + length]
        app_id = plain[20 + length :]
        if not hmac.compare_digest(app_id, self._app_id):
            raise AppIdMismatch("message is for another AppID")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeChatCryptoError("message is not UTF-8") from exc


# -------------------------------------------------------------------------------- XML


class XMLError(ValueError):
    """Malformed XML, or XML with a DTD or entities (refused, never expanded)."""


def parse_xml(data: Union[bytes, str]) -> Dict[str, str]:
    """Parses a WeChat ``<xml>…</xml>`` document into {tag: text} of its children.

    DTDs, entities and external references are refused (``XMLError``).
    """
    try:
        root = DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError, TypeError) as exc:
        raise XMLError(f"unacceptable XML ({type(exc).__name__})") from exc
    if root.tag != "xml":
        raise XMLError("root element is not <xml>")
    fields: Dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in fields:
            fields[child.tag] = child.text or ""
    return fields


@dataclass(frozen=True)
class WeChatMessage:
    """One incoming message or event. Personal fields are kept out of ``repr``."""

    to_user: str = field(repr=False)  # the official account's original ID
    from_user: str = field(repr=False)  # the sender's OpenID
    create_time: int
    msg_type: str
    content: str = field(default="", repr=False)
    msg_id: str = ""
    event: str = ""
    event_key: str = field(default="", repr=False)

    @property
    def dedup_key(self) -> str:
        """A key that is the same for WeChat's retries of this message.

        WeChat retries with the same MsgId; events have none and are identified by
        FromUserName + CreateTime (+ Event). The key is hashed so that no OpenID ends
        up in a de-duplication store.
        """
        if self.msg_id:
            raw = f"msg:{self.msg_id}"
        else:
            raw = f"evt:{self.from_user}:{self.create_time}:{self.event}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def message_from_fields(fields: Mapping[str, str]) -> WeChatMessage:
    """Builds a ``WeChatMessage`` from ``parse_xml`` output; ``XMLError`` if incomplete."""
    to_user = (fields.get("ToUserName") or "").strip()
    from_user = (fields.get("FromUserName") or "").strip()
    msg_type = (fields.get("MsgType") or "").strip().lower()
    if not to_user or not from_user or not msg_type:
        raise XMLError("ToUserName, FromUserName and MsgType are required")
    create_time_text = (fields.get("CreateTime") or "0").strip()
    if not create_time_text.isdigit() or len(create_time_text) > 12:
        raise XMLError("CreateTime is not a number")
    return WeChatMessage(
        to_user=to_user,
        from_user=from_user,
        create_time=int(create_time_text),
        msg_type=msg_type,
        content=fields.get("Content") or "",
        msg_id=(fields.get("MsgId") or "").strip(),
        event=(fields.get("Event") or "").strip(),
        event_key=(fields.get("EventKey") or "").strip(),
    )


def parse_message(data: Union[bytes, str]) -> WeChatMessage:
    """Parses a plaintext message XML document."""
    return message_from_fields(parse_xml(data))


# Characters XML 1.0 does not allow, even inside CDATA.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def cdata(text: str) -> str:
    """``text`` as CDATA; a "]]>" inside is split over two sections, so it survives."""
    cleaned = _INVALID_XML_CHARS.sub("", str(text))
    return "<![CDATA[" + cleaned.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_text_reply(to_user: str, from_user: str, content: str, create_time: Optional[int] = None) -> str:
    """Passive text reply. ``to_user`` = the sender's OpenID, ``from_user`` = the account."""
    created = int(time.time() if create_time is None else create_time)
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content>"
        "</xml>"
    )


def build_encrypted_reply(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope."""
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{int(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )


def encrypt_reply(
    crypto: WeChatCrypto,
    token: str,
    reply_xml: str,
    timestamp: Optional[str] = None,
    nonce: Optional[str] = None,
) -> str:
    """Encrypts ``reply_xml`` and wraps it, signed, in the safe-mode envelope."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or make_nonce()
    encrypted = crypto.encrypt(reply_xml)
    signature = compute_signature(token, timestamp, nonce, encrypted)
    return build_encrypted_reply(encrypted, signature, timestamp, nonce)


# ------------------------------------------------------------------------------- text


def truncate_utf8(text: str, max_bytes: int = PASSIVE_TEXT_MAX_BYTES, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, on a character boundary.

    When something is cut, ``ellipsis`` ends the result (still within the limit).
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    tail = ellipsis.encode("utf-8")
    if len(tail) > max_bytes:
        tail, ellipsis = b"", ""
    # A prefix of valid UTF-8 is valid except possibly for one partial last character,
    # which "ignore" drops.
    head = encoded[: max_bytes - len(tail)].decode("utf-8", errors="ignore")
    return head + ellipsis


def format_bot_messages(messages: Iterable[Mapping[str, Any]]) -> str:
    """Rasa bot messages (as collected) as one text.

    Messages are separated by blank lines; buttons become numbered lines with their
    title; an image or attachment URL stands on a line of its own.
    """
    parts = []
    for message in messages:
        lines = []
        text = message.get("text")
        if text and str(text).strip():
            lines.append(str(text).strip())
        buttons = message.get("buttons") or []
        titles = [
            str(button.get("title")).strip()
            for button in buttons
            if isinstance(button, Mapping) and str(button.get("title") or "").strip()
        ]
        lines.extend(f"{number}. {title}" for number, title in enumerate(titles, 1))
        for key in ("image", "attachment"):
            value = message.get(key)
            if isinstance(value, str) and value.strip():
                lines.append(value.strip())
        if lines:
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


# -------------------------------------------------------------------------- de-dup


class MemoryDedup:
    """In-process MsgId de-duplication with a TTL and a bounded size.

    ``await claim(key)`` is True the first time a key is seen within ``ttl`` seconds and
    False for repeats. Past ``max_size`` keys the oldest are forgotten.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_DEDUP_TTL,
        max_size: int = DEFAULT_DEDUP_MAX_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_size <= 0:
            raise ValueError("ttl and max_size must be positive")
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        # Every key gets the same TTL, so insertion order is expiry order.
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[key]

    def claim_nowait(self, key: str) -> bool:
        now = self._clock()
        self._purge(now)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self.ttl
        while len(self._expiry) > self.max_size:
            self._expiry.popitem(last=False)
        return True

    async def claim(self, key: str) -> bool:
        return self.claim_nowait(key)

    async def close(self) -> None:
        self._expiry.clear()


class RedisDedup:
    """MsgId de-duplication in Redis (``SET key 1 NX EX ttl``), shared by all workers.

    Same interface as ``MemoryDedup``. ``client`` is a ``redis.asyncio.Redis`` (or
    anything with the same ``set``). If Redis cannot be reached, ``claim`` fails open
    (returns True, so the message is answered, at worst twice) unless
    ``fail_open=False``.
    """

    def __init__(
        self,
        client: Any,
        ttl: float = DEFAULT_DEDUP_TTL,
        prefix: str = "wechat:dedup:",
        fail_open: bool = True,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._client = client
        self.ttl = max(1, int(round(ttl)))
        self.prefix = prefix
        self.fail_open = fail_open

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisDedup:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        return cls(client, **kwargs)

    async def claim(self, key: str) -> bool:
        try:
            stored = await self._client.set(self.prefix + key, "1", nx=True, ex=self.ttl)
        except Exception as exc:  # redis.RedisError, OSError, timeouts
            logger.warning("WeChat de-dup: Redis unavailable (%s)", type(exc).__name__)
            if self.fail_open:
                return True
            raise
        return bool(stored)

    async def close(self) -> None:
        closer = getattr(self._client, "aclose", None) or self._client.close
        result = closer()
        if asyncio.iscoroutine(result):
            await result


# ------------------------------------------------------------------ customer-service API


class WeChatApiError(RuntimeError):
    """A WeChat API call answered with an error code (the message names no secret)."""


class WeChatApiClient:
    """Access token (cached until shortly before expiry) and customer-service text.

    Uses aiohttp. The AppSecret and access token travel in query strings, so URLs are
    never logged.
    """

    TOKEN_ERRCODES = {40001, 40014, 42001}  # invalid / expired access token

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not app_id or not app_secret:
            raise ValueError("the customer-service API needs app_id and app_secret")
        self.app_id = app_id
        self._app_secret = app_secret
        self.api_base_url = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._token: Optional[str] = None
        self._token_expires_at = 0.0
        self._lock: Optional[asyncio.Lock] = None

    def _session(self) -> Any:
        import aiohttp

        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    def invalidate_token(self) -> None:
        self._token = None
        self._token_expires_at = 0.0

    async def get_access_token(self, force_refresh: bool = False) -> str:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not force_refresh and self._token and self._clock() < self._token_expires_at:
                return self._token
            params = {
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._app_secret,
            }
            async with self._session() as session:
                async with session.get(f"{self.api_base_url}/cgi-bin/token", params=params) as response:
                    data = await response.json(content_type=None)
            token = data.get("access_token") if isinstance(data, dict) else None
            if not token:
                code = data.get("errcode") if isinstance(data, dict) else None
                raise WeChatApiError(f"access token request failed (errcode={code})")
            expires_in = int(data.get("expires_in") or 7200)
            # Refresh a little early (5 minutes, or half the lifetime if it is short).
            self._token = token
            self._token_expires_at = self._clock() + expires_in - min(300, expires_in / 2)
            logger.debug("WeChat access token refreshed (expires in %s s)", expires_in)
            return token

    async def send_text(self, openid: str, content: str) -> None:
        """Sends a customer-service text message; retries once on a stale token."""
        payload = {
            "touser": openid,
            "msgtype": "text",
            "text": {"content": truncate_utf8(content)},
        }
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for attempt in range(2):
            token = await self.get_access_token(force_refresh=attempt > 0)
            async with self._session() as session:
                async with session.post(
                    f"{self.api_base_url}/cgi-bin/message/custom/send",
                    params={"access_token": token},
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                ) as response:
                    data = await response.json(content_type=None)
            code = data.get("errcode", 0) if isinstance(data, dict) else -1
            if code == 0:
                logger.debug("WeChat customer-service message sent (%d bytes)", len(body))
                return
            if code in self.TOKEN_ERRCODES and attempt == 0:
                self.invalidate_token()
                continue
            raise WeChatApiError(f"customer-service send failed (errcode={code})")
