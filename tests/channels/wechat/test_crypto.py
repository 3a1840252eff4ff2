"""WeChat signatures and safe-mode AES (channels.wechat.crypto), checked against the published algorithms.

Known-answer vectors: the official WXBizMsgCrypt sample (token "QDG6eK", EncodingAESKey
"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", receive id "wx5823bf96d3bd56c7") —
the same signature and AES scheme as the Official Account's safe mode — plus vectors
computed here by hand with hashlib / cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.wechat.crypto import (
    AppIdMismatch,
    WeChatCrypto,
    WeChatCryptoError,
    check_signature,
    compute_signature,
    encrypt_reply,
    timestamp_is_fresh,
)
from channels.wechat.messages import build_text_reply, parse_message, parse_xml

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
