"""WeChat message XML and reply text (channels.wechat.messages): parsing with defusedxml, replies, text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from channels.wechat.messages import (
    PASSIVE_TEXT_MAX_BYTES,
    XMLError,
    build_encrypted_reply,
    build_text_reply,
    cdata,
    format_bot_messages,
    parse_message,
    parse_xml,
    truncate_utf8,
)

# ------------------------------------------------------------------------- XML


TEXT_XML = (
    "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
    "<FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1348831860</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content>"
    "<MsgId>1234567890123456</MsgId></xml>"
)


def test_parse_text_message() -> None:
    message = parse_message(TEXT_XML.encode("utf-8"))
    assert (message.to_user, message.from_user) == ("gh_account", "oUser")
    assert message.create_time == 1348831860
    assert message.msg_type == "text"
    assert message.content == "this is a test"
    assert message.msg_id == "1234567890123456"
    # Personal data stays out of repr (and so out of accidental logs).
    assert "oUser" not in repr(message) and "this is a test" not in repr(message)


def test_parse_event() -> None:
    message = parse_message(
        "<xml><ToUserName>gh</ToUserName><FromUserName>oU</FromUserName>"
        "<CreateTime>123</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"
    )
    assert (message.msg_type, message.event, message.msg_id) == (
        "event",
        "subscribe",
        "",
    )


def test_dedup_key_is_stable_and_hides_openid() -> None:
    a = parse_message(TEXT_XML)
    b = parse_message(TEXT_XML.replace("this is a test", "other"))
    assert a.dedup_key == b.dedup_key  # same MsgId
    event = (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oUserOpenId</FromUserName>"
        "<CreateTime>{t}</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>"
    )
    first = parse_message(event.format(t=1)).dedup_key
    assert first == parse_message(event.format(t=1)).dedup_key
    assert first != parse_message(event.format(t=2)).dedup_key
    assert "oUserOpenId" not in first and len(first) == 64


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not xml",
        "<xml><Content>unclosed</xml>",
        "<xml>",
        "<other><MsgType>text</MsgType></other>",
        b"\xff\xfe<xml/>",
    ],
)
def test_malformed_xml_rejected(data: Any) -> None:
    with pytest.raises(XMLError):
        parse_xml(data)


def test_incomplete_message_rejected() -> None:
    with pytest.raises(XMLError):
        parse_message("<xml><MsgType>text</MsgType></xml>")
    with pytest.raises(XMLError):
        parse_message(TEXT_XML.replace("1348831860", "soon"))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content></xml>"""

XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content></xml>"""

XXE_PARAMETER = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<xml><MsgType>text</MsgType></xml>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd">
<xml><MsgType>text</MsgType></xml>"""

BARE_DOCTYPE = """<!DOCTYPE xml><xml><MsgType>text</MsgType></xml>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE_FILE, XXE_PARAMETER, EXTERNAL_DTD, BARE_DOCTYPE])
def test_dtd_and_entities_rejected(data: str) -> None:
    with pytest.raises(XMLError):
        parse_xml(data)
    with pytest.raises(XMLError):
        parse_xml(data.encode("utf-8"))


# ------------------------------------------------------------- reply builders


@pytest.mark.parametrize(
    "content",
    ["plain", "a]]>b", "]]>", "]]>]]>", "x]]]>y", "<tag>&amp;</tag>", "多行\n文本", ""],
)
def test_cdata_round_trip(content: str) -> None:
    reply = build_text_reply("oUser", "gh_account", content, create_time=1700000000)
    root = ET.fromstring(reply)
    fields = {child.tag: child.text or "" for child in root}
    assert fields == {
        "ToUserName": "oUser",
        "FromUserName": "gh_account",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": content,
    }
    assert parse_xml(reply)["Content"] == content


def test_cdata_splits_terminator() -> None:
    assert cdata("a]]>b") == "<![CDATA[a]]]]><![CDATA[>b]]>"


def test_cdata_drops_characters_xml_forbids() -> None:
    reply = build_text_reply("o", "g", "a\x00b\x1bc\td", create_time=1)
    assert parse_xml(reply)["Content"] == "abc\td"


def test_encrypted_reply_builder() -> None:
    xml_text = build_encrypted_reply("ENC+/=", "sig", "1700000000", "99")
    assert parse_xml(xml_text) == {
        "Encrypt": "ENC+/=",
        "MsgSignature": "sig",
        "TimeStamp": "1700000000",
        "Nonce": "99",
    }


# ------------------------------------------------------------------------ text


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate_utf8("hello", 2048) == "hello"
    exact = "a" * 2048
    assert truncate_utf8(exact, 2048) == exact
    exact_cjk = "字" * 682 + "ab"  # 2046 + 2 = 2048 bytes
    assert truncate_utf8(exact_cjk, 2048) == exact_cjk


@pytest.mark.parametrize("text", ["a" * 3000, "字" * 1000, "😀" * 600, ("ab字😀" * 400)])
def test_truncate_cuts_on_character_boundary(text: str) -> None:
    cut = truncate_utf8(text, 2048)
    encoded = cut.encode("utf-8")
    assert len(encoded) <= 2048
    assert len(encoded) > 2048 - 4 - 3  # at most one character plus the ellipsis lost
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])


def test_truncate_tiny_limits() -> None:
    assert truncate_utf8("字字", 4) == "…"
    assert truncate_utf8("字字", 2) == ""
    assert truncate_utf8("abcdef", 5, ellipsis="") == "abcde"


def test_format_bot_messages() -> None:
    messages = [
        {"recipient_id": "o", "text": "第一段"},
        {"recipient_id": "o", "text": "second"},
        {
            "recipient_id": "o",
            "text": "Choose:",
            "buttons": [
                {"title": "是 Yes", "payload": "/affirm"},
                {"payload": "/no_title"},
                {"title": "否 No", "payload": "/deny"},
            ],
        },
        {"recipient_id": "o", "image": "https://example.invalid/a.png"},
        {"recipient_id": "o", "custom": {"anything": 1}},
    ]
    assert format_bot_messages(messages) == (
        "第一段\n\nsecond\n\nChoose:\n1. 是 Yes\n2. 否 No\n\nhttps://example.invalid/a.png"
    )
    assert format_bot_messages([]) == ""


def test_passive_limit_is_wechats_2048_bytes() -> None:
    assert PASSIVE_TEXT_MAX_BYTES == 2048
    # The default limit is the passive reply's: 2045 ASCII bytes plus the 3-byte ellipsis.
    assert truncate_utf8("a" * 3000) == "a" * 2045 + "…"
