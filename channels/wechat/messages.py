"""WeChat message XML in and out, and the text of replies.

Incoming XML is parsed with ``defusedxml`` with DTDs forbidden, so XXE and entity expansion
("billion laughs") are refused before any content is looked at. Passive replies (被动回复) are XML; a
plain text reply carries at most ``PASSIVE_TEXT_MAX_BYTES`` bytes.

Free of Rasa and Sanic; nothing here logs message content or OpenIDs.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

PASSIVE_TEXT_MAX_BYTES = 2048  # WeChat's limit on a passive text reply's Content

# ------------------------------------------------------------------------------ parsing


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

        WeChat retries with the same MsgId; events have none and are identified by FromUserName +
        CreateTime (+ Event). The key is hashed so that no OpenID ends up in a de-duplication store.
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


# ----------------------------------------------------------------------------- replies

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
    """The safe-mode reply envelope (``crypto.encrypt_reply`` fills it in)."""
    return (
        "<xml>"
        f"<Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{int(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce>"
        "</xml>"
    )


# -------------------------------------------------------------------------------- text


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
    # A prefix of valid UTF-8 is valid except possibly for one partial last character, which
    # "ignore" drops.
    head = encoded[: max_bytes - len(tail)].decode("utf-8", errors="ignore")
    return head + ellipsis


def format_bot_messages(messages: Iterable[Mapping[str, Any]]) -> str:
    """Rasa bot messages (as collected) as one text.

    Messages are separated by blank lines; buttons become numbered lines with their title; an image
    or attachment URL stands on a line of its own.
    """
    parts: List[str] = []
    for message in messages:
        lines: List[str] = []
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


def split_utf8(text: str, max_bytes: int = PASSIVE_TEXT_MAX_BYTES) -> List[str]:
    """``text`` as parts of at most ``max_bytes`` UTF-8 bytes each, cut between paragraphs where
    possible, else between lines, else on a character boundary: nothing is lost."""
    if not text:
        return []
    if len(text.encode("utf-8")) <= max_bytes:
        return [text]
    parts: List[str] = []
    current = ""
    for separator, pieces in (("\n\n", text.split("\n\n")),):
        for piece in pieces:
            candidate = f"{current}{separator}{piece}" if current else piece
            if len(candidate.encode("utf-8")) <= max_bytes:
                current = candidate
                continue
            if current:
                parts.append(current)
                current = ""
            if len(piece.encode("utf-8")) <= max_bytes:
                current = piece
                continue
            for line in piece.split("\n"):
                candidate = f"{current}\n{line}" if current else line
                if len(candidate.encode("utf-8")) <= max_bytes:
                    current = candidate
                    continue
                if current:
                    parts.append(current)
                while len(line.encode("utf-8")) > max_bytes:
                    head = line.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
                    parts.append(head)
                    line = line[len(head) :]
                current = line
    if current:
        parts.append(current)
    return parts


_MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s\"'<>]+)\)")


def wechat_links(text: str) -> str:
    """The answers' short labelled links, `[label](url)`, as the <a> links WeChat text messages show."""
    return _MARKDOWN_LINK.sub(lambda m: f'<a href="{m.group(2)}">{html.escape(m.group(1), quote=False)}</a>', text)
