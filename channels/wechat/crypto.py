"""Signatures and safe-mode AES for WeChat's "server configuration" (服务器配置) callback.

* URL and message signature: ``sha1("".join(sorted([token, timestamp, nonce])))``; in safe mode the
  message signature ``msg_signature`` also sorts in the ``Encrypt`` value.
* Safe mode (``encrypt_type=aes``): AES-256-CBC, key = base64(EncodingAESKey + "="), IV = first 16
  bytes of the key, PKCS#7 padding to 32-byte blocks, plaintext = 16 random bytes + 4-byte big-endian
  message length + message + AppID.

Free of Rasa and Sanic; nothing here logs message content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
import time
from typing import Callable, Optional

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.wechat.messages import build_encrypted_reply

# ----------------------------------------------------------------------------- signatures


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

    Anything missing or empty (including the token itself) fails. The comparison is constant-time.
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


# --------------------------------------------------------------------------------- AES


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
        """The AppID every decrypted message must name."""
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

        Raises ``AppIdMismatch`` for another account's message and ``WeChatCryptoError`` for
        anything malformed.
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
