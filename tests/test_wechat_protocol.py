"""WeChat protocol logic, checked against the published algorithms.

Known-answer vectors: the official WXBizMsgCrypt sample (token "QDG6eK", EncodingAESKey
"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", receive id "wx5823bf96d3bd56c7") —
the same signature and AES scheme as the Official Account's safe mode — plus vectors
computed here by hand with hashlib / cryptography.

The Redis tests use the real Redis at 127.0.0.1:6379; they are skipped when it cannot
be reached, unless REQUIRE_REDIS is set, in which case they fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Dict, List

import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from redis.exceptions import RedisError

from channels.wechat_protocol import (
    AppIdMismatch,
    MemoryDedup,
    RedisDedup,
    WeChatApiClient,
    WeChatApiError,
    WeChatCrypto,
    WeChatCryptoError,
    XMLError,
    build_encrypted_reply,
    build_text_reply,
    cdata,
    check_signature,
    compute_signature,
    encrypt_reply,
    format_bot_messages,
    parse_message,
    parse_xml,
    timestamp_is_fresh,
    truncate_utf8,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
FIXED_RANDOM = b"0123456789abcdef"

# Official sample (WXBizMsgCrypt): URL verification and one encrypted message.
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_RECEIVE_ID = "wx5823bf96d3bd56c7"
SAMPLE_VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
SAMPLE_POST = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "encrypt": (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3"
        "QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48"
        "kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izo"
        "un1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
        "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl"
        "/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
}

# encrypt("<xml><Content><![CDATA[你好 WeChat]]></Content></xml>") with AES_KEY, APP_ID
# and FIXED_RANDOM; checked below with an independent decryption.
REGRESSION_PLAINTEXT = "<xml><Content><![CDATA[你好 WeChat]]></Content></xml>"
REGRESSION_CIPHERTEXT = (
    "Q3stYC6hdFzMh9T8HCvyDF/fHRyo7tflFrdvMY9mkUz1KFMRcAnPV+lm1vn7UW8nkqutdzF6lCbHB03whc4E"
    "7toCgBZbYoeHOneAOAuQozewXTUA4jE8zgm8fg8xlJPp"
)


def reference_decrypt(encoding_aes_key: str, encrypted: str) -> tuple[bytes, bytes, bytes]:
    """The published algorithm, written out independently: (random, msg, appid)."""
    key = base64.b64decode(encoding_aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[:16], plain[20 : 20 + length], plain[20 + length :]


# ------------------------------------------------------------------ signatures


def test_signature_matches_hand_computed_sha1() -> None:
    by_hand = hashlib.sha1(b"".join(sorted([b"AAAAA", b"1409304348", b"xxxxxx"]))).hexdigest()
    assert by_hand == "87e50d28dcac81e5f82950c4c6f701200ac60e2c"
    assert compute_signature("AAAAA", "1409304348", "xxxxxx") == by_hand
    # Order of the arguments does not matter: they are sorted.
    assert compute_signature("xxxxxx", "AAAAA", "1409304348") == by_hand
    assert check_signature("AAAAA", by_hand, "1409304348", "xxxxxx")
    assert check_signature("AAAAA", by_hand.upper(), "1409304348", "xxxxxx")


def test_official_sample_msg_signatures() -> None:
    v = SAMPLE_VERIFY
    assert compute_signature(SAMPLE_TOKEN, v["timestamp"], v["nonce"], v["echostr"]) == (v["msg_signature"])
    p = SAMPLE_POST
    assert check_signature(SAMPLE_TOKEN, p["msg_signature"], p["timestamp"], p["nonce"], p["encrypt"])
    assert not check_signature(SAMPLE_TOKEN, p["msg_signature"], p["timestamp"], p["nonce"], p["encrypt"] + "x")


@pytest.mark.parametrize(
    "token, signature, timestamp, nonce",
    [
        ("AAAAA", "0" * 40, "1409304348", "xxxxxx"),  # forged
        ("BBBBB", "87e50d28dcac81e5f82950c4c6f701200ac60e2c", "1409304348", "xxxxxx"),
        ("AAAAA", "87e50d28dcac81e5f82950c4c6f701200ac60e2c", "1409304349", "xxxxxx"),
        ("AAAAA", None, "1409304348", "xxxxxx"),  # missing
        ("AAAAA", "", "1409304348", "xxxxxx"),
        ("AAAAA", "87e50d28dcac81e5f82950c4c6f701200ac60e2c", None, "xxxxxx"),
        ("AAAAA", "87e50d28dcac81e5f82950c4c6f701200ac60e2c", "1409304348", None),
        ("AAAAA", "签名", "1409304348", "xxxxxx"),  # not even hex
    ],
)
def test_forged_or_missing_signature_fails(token, signature, timestamp, nonce) -> None:
    assert not check_signature(token, signature, timestamp, nonce)


def test_empty_token_never_verifies() -> None:
    signature = hashlib.sha1(b"".join(sorted([b"", b"1409304348", b"n"]))).hexdigest()
    assert not check_signature("", signature, "1409304348", "n")


def test_timestamp_window() -> None:
    now = 1_700_000_000.0
    assert timestamp_is_fresh("1700000000", 300, now)
    assert timestamp_is_fresh("1699999700", 300, now)
    assert timestamp_is_fresh("1700000300", 300, now)
    assert not timestamp_is_fresh("1699999699", 300, now)
    assert not timestamp_is_fresh("1700000301", 300, now)
    assert not timestamp_is_fresh("", 300, now)
    assert not timestamp_is_fresh(None, 300, now)
    assert not timestamp_is_fresh("-5", 300, now)
    assert not timestamp_is_fresh("1e9", 300, now)
    assert timestamp_is_fresh("1", 0, now)  # window 0 turns the check off


# ---------------------------------------------------------------------- crypto


def test_official_sample_decrypts() -> None:
    crypto = WeChatCrypto(SAMPLE_KEY, SAMPLE_RECEIVE_ID)
    assert crypto.decrypt(SAMPLE_VERIFY["echostr"]) == "1616140317555161061"
    message = parse_message(crypto.decrypt(SAMPLE_POST["encrypt"]))
    assert message.from_user == "mycreate"
    assert message.to_user == SAMPLE_RECEIVE_ID
    assert message.msg_type == "text"
    assert message.content == "hello"
    assert message.msg_id == "4561255354251345929"
    assert message.create_time == 1409659813


def test_round_trip_with_fixed_random() -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID, random_bytes=lambda n: FIXED_RANDOM)
    for text in ["", "a", "你好，世界", "x" * 11, "y" * 12, "z" * 1000, "]]>\n<xml/>"]:
        encrypted = crypto.encrypt(text)
        assert crypto.decrypt(encrypted) == text
        raw = base64.b64decode(encrypted)
        assert len(raw) % 32 == 0  # PKCS#7 to 32-byte blocks
        assert reference_decrypt(AES_KEY, encrypted) == (
            FIXED_RANDOM,
            text.encode("utf-8"),
            APP_ID.encode(),
        )


def test_full_padding_block_when_already_aligned() -> None:
    # 16 + 4 + 12 (message) + 18 (app id) + 14 = 64: make it exactly 64 without padding.
    message = "m" * (64 - 16 - 4 - len(APP_ID))
    crypto = WeChatCrypto(AES_KEY, APP_ID, random_bytes=lambda n: FIXED_RANDOM)
    encrypted = crypto.encrypt(message)
    assert len(base64.b64decode(encrypted)) == 96  # a whole block of padding (32 x 0x20)
    assert crypto.decrypt(encrypted) == message


def test_fixed_ciphertext_regression() -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID, random_bytes=lambda n: FIXED_RANDOM)
    assert crypto.encrypt(REGRESSION_PLAINTEXT) == REGRESSION_CIPHERTEXT
    assert reference_decrypt(AES_KEY, REGRESSION_CIPHERTEXT) == (
        FIXED_RANDOM,
        REGRESSION_PLAINTEXT.encode("utf-8"),
        APP_ID.encode(),
    )
    assert WeChatCrypto(AES_KEY, APP_ID).decrypt(REGRESSION_CIPHERTEXT) == REGRESSION_PLAINTEXT


def test_random_prefix_differs_by_default() -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID)
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_wrong_appid_rejected() -> None:
    encrypted = WeChatCrypto(AES_KEY, "wxOTHERAPP00000000").encrypt("hello")
    with pytest.raises(AppIdMismatch):
        WeChatCrypto(AES_KEY, APP_ID).decrypt(encrypted)
    with pytest.raises(AppIdMismatch):
        WeChatCrypto(SAMPLE_KEY, "wxSOMEONEELSE").decrypt(SAMPLE_POST["encrypt"])


@pytest.mark.parametrize(
    "encrypted",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(b"\x00" * 32).decode(),  # decrypts to garbage padding
    ],
)
def test_malformed_ciphertext_rejected(encrypted: str) -> None:
    with pytest.raises(WeChatCryptoError):
        WeChatCrypto(AES_KEY, APP_ID).decrypt(encrypted)


def test_tampered_ciphertext_rejected() -> None:
    raw = bytearray(base64.b64decode(REGRESSION_CIPHERTEXT))
    raw[-1] ^= 0x01
    with pytest.raises(WeChatCryptoError):
        WeChatCrypto(AES_KEY, APP_ID).decrypt(base64.b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("key", ["", "short", AES_KEY + "H", AES_KEY[:-1] + "!"])
def test_bad_encoding_aes_key_rejected(key: str) -> None:
    with pytest.raises(ValueError):
        WeChatCrypto(key, APP_ID)


def test_safe_mode_needs_app_id() -> None:
    with pytest.raises(ValueError):
        WeChatCrypto(AES_KEY, "")


def test_encrypt_reply_envelope() -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID, random_bytes=lambda n: FIXED_RANDOM)
    reply = build_text_reply("oUser", "gh_account", "答复", create_time=1700000000)
    envelope = encrypt_reply(crypto, "tok", reply, timestamp="1700000001", nonce="42")
    fields = parse_xml(envelope)
    assert fields["TimeStamp"] == "1700000001"
    assert fields["Nonce"] == "42"
    expected = hashlib.sha1("".join(sorted(["tok", "1700000001", "42", fields["Encrypt"]])).encode()).hexdigest()
    assert fields["MsgSignature"] == expected
    assert crypto.decrypt(fields["Encrypt"]) == reply


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


# ---------------------------------------------------------------------- de-dup


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_memory_dedup_ttl() -> None:
    clock = FakeClock()
    dedup = MemoryDedup(ttl=60, clock=clock)
    assert await dedup.claim("m1") is True
    assert await dedup.claim("m1") is False
    clock.now += 59.9
    assert await dedup.claim("m1") is False
    assert await dedup.claim("m2") is True
    clock.now += 0.2  # m1 expired, m2 not
    assert await dedup.claim("m1") is True
    assert await dedup.claim("m2") is False
    clock.now += 61
    assert len(dedup) == 2  # purged lazily on the next claim
    assert await dedup.claim("m3") is True
    assert len(dedup) == 1


@pytest.mark.asyncio
async def test_memory_dedup_is_bounded() -> None:
    dedup = MemoryDedup(ttl=60, max_size=3, clock=FakeClock())
    for key in "abcd":
        assert await dedup.claim(key) is True
    assert len(dedup) == 3
    assert await dedup.claim("a") is True  # the oldest was forgotten
    assert await dedup.claim("d") is False


def test_memory_dedup_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        MemoryDedup(ttl=0)
    with pytest.raises(ValueError):
        MemoryDedup(max_size=0)


# REDIS_TEST_URL only exists to check the skip/fail path against a closed port.
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")


@pytest_asyncio.fixture
async def redis_client() -> Any:
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


@pytest.mark.asyncio
async def test_redis_dedup_against_real_redis(redis_client: Any) -> None:
    client, prefix = redis_client
    dedup = RedisDedup(client, ttl=60, prefix=prefix)
    assert await dedup.claim("msg-1") is True
    assert await dedup.claim("msg-1") is False
    assert await dedup.claim("msg-2") is True
    ttl = await client.ttl(prefix + "msg-1")
    assert 0 < ttl <= 60
    # A second worker (another client on the same Redis) sees the same claims.
    other = RedisDedup.from_url(REDIS_URL, ttl=60, prefix=prefix)
    try:
        assert await other.claim("msg-1") is False
        assert await other.claim("msg-3") is True
    finally:
        await other.close()
    assert await dedup.claim("msg-3") is False


@pytest.mark.asyncio
async def test_redis_dedup_expires(redis_client: Any) -> None:
    client, prefix = redis_client
    dedup = RedisDedup(client, ttl=1, prefix=prefix)
    assert await dedup.claim("short") is True
    assert await dedup.claim("short") is False
    await asyncio.sleep(1.3)
    assert await dedup.claim("short") is True


@pytest.mark.asyncio
async def test_redis_dedup_fails_open_when_unreachable() -> None:
    # Port 9 (discard) on the loopback: nothing listens there.
    dedup = RedisDedup.from_url("redis://127.0.0.1:9/0", ttl=60)
    try:
        assert await dedup.claim("x") is True
    finally:
        await dedup.close()
    strict = RedisDedup.from_url("redis://127.0.0.1:9/0", ttl=60, fail_open=False)
    try:
        with pytest.raises((RedisError, OSError)):
            await strict.claim("x")
    finally:
        await strict.close()


# ---------------------------------------------------------------- API client


class ApiStandIn:
    def __init__(self) -> None:
        self.token_calls = 0
        self.send_calls: List[Dict[str, Any]] = []
        self.reject_first_send_with: int = 0
        self.token_answer: Dict[str, Any] = {}
        self.base = ""
        self.runner: Any = None

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        if self.token_answer:
            return web.json_response(self.token_answer)
        return web.json_response({"access_token": f"T{self.token_calls}", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.send_calls.append(
            {
                "token": request.query.get("access_token"),
                "json": await request.json(),
                "raw": body,
            }
        )
        if self.reject_first_send_with and len(self.send_calls) == 1:
            return web.json_response({"errcode": self.reject_first_send_with, "errmsg": "x"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest_asyncio.fixture
async def api() -> Any:
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


@pytest.mark.asyncio
async def test_api_client_caches_token_until_expiry(api: ApiStandIn) -> None:
    clock = FakeClock()
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
