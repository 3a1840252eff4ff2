"""The WeChat channel (channels.wechat.channel) served by a real Sanic app (as Rasa registers it).

The app runs on 127.0.0.1 (random port) and is called over HTTP with aiohttp; the bot
is a stub agent that answers through the output channel it is given (a WeChatOutput);
WeChat's API is a local aiohttp stand-in. Signatures and ciphertexts are computed here
with hashlib and the published algorithm, not with the channel's own helpers where that
matters. The texts users see are the phrases of knowledge/service.yml.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from channels.wechat import WeChatInput, WeChatOutput
from channels.wechat.api import WeChatApiClient
from channels.wechat.channel import DEDUP_KEY_PREFIX, SUCCESS, _RedactWeChatQuery
from channels.wechat.crypto import WeChatCrypto
from channels.wechat.messages import parse_message
from channels.wechat.storage import MemoryStore
from core.knowledge import KnowledgeBase, knowledge
from tests.channels.wechat.conftest import REDIS_URL
from tests.support import ROOT


def knowledge_text(key: str) -> str:
    """A phrase as the channel sends it: the Chinese line, then the English line."""
    return f"{knowledge().phrase(key, 'zh')}\n{knowledge().phrase(key, 'en')}"


# Sanic 21.12 rewrites its HTTP protocol's methods when an app starts; outside test
# mode a second app in the same process fails with KeyError: 'send'.
Sanic.test_mode = True

TOKEN = "test-token"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cr3t"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oUSER-openid-0001"
ACCOUNT = "gh_account"
PATH = "/webhooks/wechat/webhook"


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signed(token: str = TOKEN, timestamp: Optional[str] = None, **extra: str) -> Dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    nonce = "736241"
    return {
        "signature": sha1_sorted(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def text_xml(content: str, msg_id: str = "1000001", create_time: int = 1700000000) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def fields_of(xml_text: str) -> Dict[str, str]:
    root = ET.fromstring(xml_text)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


class StubAgent:
    """Stands in for rasa's Agent: answers through the output channel it gets."""

    def __init__(self, delay: float = 0.0, buttons: bool = False) -> None:
        self.delay = delay
        self.buttons = buttons
        self.calls: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.calls.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        out = message.output_channel
        await out.send_text_message(message.sender_id, f"echo: {message.text}")
        if self.buttons:
            await out.send_text_with_buttons(
                message.sender_id,
                "Pick one",
                [
                    {"title": "Yes", "payload": "/affirm"},
                    {"title": "No", "payload": "/deny"},
                ],
            )


class Served:
    def __init__(self, channel: WeChatInput, agent: StubAgent, base: str) -> None:
        self.channel = channel
        self.agent = agent
        self.base = base

    async def get(self, params: Dict[str, str]) -> aiohttp.ClientResponse:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.base + PATH, params=params) as resp:
                await resp.read()
                return resp

    async def post(self, params: Dict[str, str], body: Any) -> tuple[int, str, str]:
        data = body.encode("utf-8") if isinstance(body, str) else body
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.base + PATH,
                params=params,
                data=data,
                headers={"Content-Type": "text/xml"},
            ) as resp:
                return (
                    resp.status,
                    await resp.text(),
                    resp.headers.get("Content-Type", ""),
                )


async def serve(channel: WeChatInput, agent: StubAgent) -> tuple[Served, Any]:
    app = Sanic(f"wechat_test_{uuid.uuid4().hex}", configure_logging=False)
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")  # exactly how Rasa mounts channels
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a free port on the loopback only
    port = sock.getsockname()[1]
    # Sanic 21.12 already starts listening inside create_server().
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    return Served(channel, agent, f"http://127.0.0.1:{port}"), server


async def stop(server: Any) -> None:
    await server.before_stop()
    server.close()
    await server.wait_closed()
    await server.after_stop()


class WeChatApiStandIn:
    """Local stand-in for api.weixin.qq.com's token and customer-service endpoints."""

    def __init__(self) -> None:
        self.token_requests: List[Dict[str, str]] = []
        self.sent: List[Dict[str, Any]] = []
        self.sent_tokens: List[str] = []
        self.received = asyncio.Event()
        self.send_delays: List[float] = []  # seconds each next send takes before it is recorded
        self.runner: Optional[web.AppRunner] = None
        self.base = ""

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        if request.query.get("appid") != APP_ID or request.query.get("secret") != APP_SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        return web.json_response({"access_token": "ACCESS-TOKEN-1", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        if self.send_delays:
            await asyncio.sleep(self.send_delays.pop(0))
        self.sent_tokens.append(request.query.get("access_token", ""))
        self.sent.append(await request.json())
        self.received.set()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def wait_for_sent(self, count: int, timeout: float = 10) -> None:
        """Waits until ``count`` customer-service messages have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            assert time.monotonic() < deadline, f"{len(self.sent)} of {count} messages arrived"
            await asyncio.sleep(0.02)

    def contents(self) -> List[str]:
        return [message["text"]["content"] for message in self.sent]


@pytest_asyncio.fixture
async def api() -> Any:
    stand_in = WeChatApiStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def make_channel(api_base: str = "http://127.0.0.1:9", **overrides: Any) -> WeChatInput:
    credentials = {
        "token": TOKEN,
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "aes_key": AES_KEY,
        "api_base_url": api_base,
        "reply_timeout": 2.0,
        "redis_url": "",
    }
    credentials.update(overrides)
    return WeChatInput.from_credentials(credentials)


@pytest_asyncio.fixture
async def served(api: WeChatApiStandIn) -> Any:
    agent = StubAgent()
    wrapped, server = await serve(make_channel(api.base), agent)
    yield wrapped
    await stop(server)


# ------------------------------------------------------------------------ GET


@pytest.mark.asyncio
async def test_get_verification_echoes_echostr(served: Served) -> None:
    resp = await served.get(signed(echostr="5837397520665436492"))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    async with aiohttp.ClientSession() as session:
        async with session.get(served.base + PATH, params=signed(echostr="abc")) as r:
            assert await r.text() == "abc"


@pytest.mark.asyncio
async def test_get_forged_signature_is_403(served: Served) -> None:
    params = signed(echostr="abc")
    params["signature"] = "0" * 40
    assert (await served.get(params)).status == 403
    assert (await served.get(signed(token="other-token", echostr="abc"))).status == 403


@pytest.mark.asyncio
async def test_get_missing_signature_is_403(served: Served) -> None:
    params = signed(echostr="abc")
    del params["signature"]
    assert (await served.get(params)).status == 403
    assert (await served.get({"echostr": "abc"})).status == 403


@pytest.mark.asyncio
async def test_get_stale_timestamp_is_403(served: Served) -> None:
    old = str(int(time.time()) - 3600)
    assert (await served.get(signed(timestamp=old, echostr="abc"))).status == 403


@pytest.mark.asyncio
async def test_health_route(served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(served.base + "/webhooks/wechat/") as resp:
            assert resp.status == 200
            assert (await resp.json())["enabled"] is True


# ----------------------------------------------------------------- plaintext POST


@pytest.mark.asyncio
async def test_post_plaintext_text_gets_xml_reply(served: Served) -> None:
    status, body, content_type = await served.post(signed(openid=OPENID), text_xml("你好"))
    assert status == 200
    assert "xml" in content_type
    reply = fields_of(body)
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "echo: 你好"
    assert abs(int(reply["CreateTime"]) - time.time()) < 60
    assert len(served.agent.calls) == 1
    call = served.agent.calls[0]
    assert call.sender_id == OPENID
    assert call.input_channel == "wechat"
    assert call.text == "你好"


@pytest.mark.asyncio
async def test_post_forged_or_missing_signature_is_403_and_not_processed(
    served: Served,
) -> None:
    params = signed()
    params["signature"] = sha1_sorted("wrong", params["timestamp"], params["nonce"])
    status, _, _ = await served.post(params, text_xml("hi"))
    assert status == 403
    status, _, _ = await served.post({"timestamp": params["timestamp"]}, text_xml("hi"))
    assert status == 403
    assert served.agent.calls == []


@pytest.mark.asyncio
async def test_post_buttons_and_several_messages(api: WeChatApiStandIn) -> None:
    agent = StubAgent(buttons=True)
    wrapped, server = await serve(make_channel(api.base), agent)
    try:
        status, body, _ = await wrapped.post(signed(), text_xml("menu"))
    finally:
        await stop(server)
    assert status == 200
    assert fields_of(body)["Content"] == "echo: menu\n\nPick one\n1. Yes\n2. No"


@pytest.mark.asyncio
async def test_a_long_reply_is_split_not_cut(served: Served, api: WeChatApiStandIn) -> None:
    long_text = "\n\n".join(["长" * 400, "段" * 400, "尾" * 100])  # about 2,700 bytes in three paragraphs
    status, body, _ = await served.post(signed(), text_xml(long_text))
    assert status == 200
    content = fields_of(body)["Content"]
    assert len(content.encode("utf-8")) <= 2048
    assert content.startswith("echo: 长") and "…" not in content
    await api.wait_for_sent(1)  # the rest follows through the customer-service API
    rest = api.contents()
    assert all(len(part.encode("utf-8")) <= 2048 for part in rest)
    assert (content + "\n\n" + "\n\n".join(rest)).replace("echo: ", "") == long_text


@pytest.mark.asyncio
async def test_a_number_answers_the_numbered_lines_of_the_last_reply(api: WeChatApiStandIn) -> None:
    agent = StubAgent(buttons=True)
    wrapped, server = await serve(make_channel(api.base), agent)
    try:
        status, body, _ = await wrapped.post(signed(), text_xml("社保卡怎么激活"))
        assert status == 200
        assert "1. Yes" in fields_of(body)["Content"] and "2. No" in fields_of(body)["Content"]
        await wrapped.post(signed(), text_xml("２", msg_id="1002"))  # full-width, as Chinese keyboards type
        assert agent.calls[-1].text == "/deny"
        await wrapped.post(signed(), text_xml("7", msg_id="1003"))  # not offered: taken as typed
        assert agent.calls[-1].text == "7"
    finally:
        await stop(server)


def test_labelled_links_become_wechat_links() -> None:
    from channels.wechat.messages import wechat_links

    text = "来源：[广州人社](https://rsj.gz.gov.cn/a?b=1) · [x<y](http://example.org/)"
    assert wechat_links(text) == (
        '来源：<a href="https://rsj.gz.gov.cn/a?b=1">广州人社</a> · <a href="http://example.org/">x&lt;y</a>'
    )


def test_split_utf8_keeps_everything_within_the_limit() -> None:
    from channels.wechat.messages import split_utf8

    text = "\n".join(["行" * 300] * 5) + "\n\n" + "字" * 2000
    parts = split_utf8(text)
    assert all(len(p.encode("utf-8")) <= 2048 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


@pytest.mark.asyncio
async def test_cdata_terminator_in_reply_survives(served: Served) -> None:
    # The incoming CDATA cannot hold "]]>" itself, so send it as an escaped text node.
    xml_body = text_xml("x").replace("<![CDATA[x]]>", "a]]&gt;b")
    status, body, _ = await served.post(signed(), xml_body)
    assert status == 200
    assert fields_of(body)["Content"] == "echo: a]]>b"


# ------------------------------------------------------------------- safe mode


def encrypted_request(crypto: WeChatCrypto, inner_xml: str) -> tuple[Dict[str, str], str]:
    params = signed(encrypt_type="aes", openid=OPENID)
    encrypted = crypto.encrypt(inner_xml)
    params["msg_signature"] = sha1_sorted(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return params, body


@pytest.mark.asyncio
async def test_post_safe_mode_reply_is_encrypted(served: Served) -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID)
    params, body = encrypted_request(crypto, text_xml("安全模式", msg_id="2000001"))
    status, reply_body, _ = await served.post(params, body)
    assert status == 200
    envelope = fields_of(reply_body)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["MsgSignature"] == sha1_sorted(TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    inner = fields_of(crypto.decrypt(envelope["Encrypt"]))
    assert inner["Content"] == "echo: 安全模式"
    assert inner["ToUserName"] == OPENID
    assert inner["FromUserName"] == ACCOUNT
    assert served.agent.calls[0].text == "安全模式"


@pytest.mark.asyncio
async def test_post_safe_mode_bad_msg_signature_is_403(served: Served) -> None:
    crypto = WeChatCrypto(AES_KEY, APP_ID)
    params, body = encrypted_request(crypto, text_xml("hi", msg_id="2000002"))
    params["msg_signature"] = "f" * 40
    status, _, _ = await served.post(params, body)
    assert status == 403
    del params["msg_signature"]
    status, _, _ = await served.post(params, body)
    assert status == 403
    assert served.agent.calls == []


@pytest.mark.asyncio
async def test_post_safe_mode_other_appid_is_403(served: Served) -> None:
    other = WeChatCrypto(AES_KEY, "wxOTHERAPPID000000")
    params, body = encrypted_request(other, text_xml("hi", msg_id="2000003"))
    status, _, _ = await served.post(params, body)
    assert status == 403
    assert served.agent.calls == []


@pytest.mark.asyncio
async def test_post_safe_mode_garbage_ciphertext_is_400(served: Served) -> None:
    params = signed(encrypt_type="aes")
    encrypted = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0"
    params["msg_signature"] = sha1_sorted(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    status, _, _ = await served.post(params, body)
    assert status == 400
    assert served.agent.calls == []


# ------------------------------------------------------------- de-dup and types


@pytest.mark.asyncio
async def test_duplicate_msgid_is_processed_once(served: Served) -> None:
    first = await served.post(signed(), text_xml("once", msg_id="3000001"))
    second = await served.post(signed(), text_xml("once", msg_id="3000001"))
    third = await served.post(signed(), text_xml("once", msg_id="3000001"))
    assert first[0] == 200 and fields_of(first[1])["Content"] == "echo: once"
    assert second[:2] == (200, SUCCESS)
    assert third[:2] == (200, SUCCESS)
    assert len(served.agent.calls) == 1
    other = await served.post(signed(), text_xml("again", msg_id="3000002"))
    assert fields_of(other[1])["Content"] == "echo: again"
    assert len(served.agent.calls) == 2


@pytest.mark.asyncio
async def test_subscribe_gets_welcome(served: Served) -> None:
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1700000001</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    )
    status, reply, _ = await served.post(signed(), body)
    assert status == 200
    fields = fields_of(reply)
    assert fields["Content"] == knowledge_text("wechat_welcome")
    assert fields["ToUserName"] == OPENID
    # The retry of the same event is answered once.
    assert (await served.post(signed(), body))[1] == SUCCESS
    assert served.agent.calls == []


@pytest.mark.asyncio
async def test_unsubscribe_gets_success(served: Served) -> None:
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1700000002</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>"
    )
    assert (await served.post(signed(), body))[:2] == (200, SUCCESS)


@pytest.mark.parametrize("msg_type", ["image", "voice", "video", "location", "link", "file"])
@pytest.mark.asyncio
async def test_non_text_gets_polite_reply(served: Served, msg_type: str) -> None:
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1700000003</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType><PicUrl><![CDATA[http://x/y.jpg]]></PicUrl>"
        "<MsgId>4000001</MsgId></xml>"
    )
    status, reply, _ = await served.post(signed(), body)
    assert status == 200
    assert fields_of(reply)["Content"] == knowledge_text("wechat_unsupported")
    assert served.agent.calls == []


# ----------------------------------------------------------------- slow bot


@pytest.mark.asyncio
async def test_slow_bot_replies_success_then_customer_service_api(
    api: WeChatApiStandIn,
) -> None:
    agent = StubAgent(delay=1.0)
    channel = make_channel(api.base, reply_timeout=0.3)
    wrapped, server = await serve(channel, agent)
    try:
        started = time.monotonic()
        status, body, _ = await wrapped.post(signed(), text_xml("慢一点", msg_id="5000001"))
        elapsed = time.monotonic() - started
        assert (status, body) == (200, SUCCESS)
        assert elapsed < 0.9
        assert api.sent == []
        await asyncio.wait_for(api.received.wait(), timeout=10)
    finally:
        await stop(server)
    assert api.sent == [{"touser": OPENID, "msgtype": "text", "text": {"content": "echo: 慢一点"}}]
    assert api.sent_tokens == ["ACCESS-TOKEN-1"]
    assert api.token_requests == [{"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}]
    assert len(agent.calls) == 1


# ------------------------------------------------------------- refused bodies


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, "<xml><Content>", "not xml", ""])
@pytest.mark.asyncio
async def test_entity_laden_or_malformed_xml_is_400(served: Served, body: str) -> None:
    status, _, _ = await served.post(signed(), body)
    assert status == 400
    assert served.agent.calls == []


@pytest.mark.asyncio
async def test_oversized_body_is_413(served: Served) -> None:
    status, _, _ = await served.post(signed(), text_xml("x" * (65 * 1024)))
    assert status == 413
    assert served.agent.calls == []


# ---------------------------------------------------------------- disabled


@pytest.mark.asyncio
async def test_disabled_channel_refuses_everything() -> None:
    channel = WeChatInput.from_credentials(
        {
            "token": "",
            "app_id": "",
            "app_secret": "",
            "aes_key": "",
            "api_base_url": "",
            "reply_timeout": 4.5,
            "redis_url": "",
        }
    )
    assert channel.enabled is False
    agent = StubAgent()
    wrapped, server = await serve(channel, agent)
    try:
        assert (await wrapped.get(signed(token="", echostr="abc"))).status == 403
        assert (await wrapped.get(signed(echostr="abc"))).status == 403
        status, _, _ = await wrapped.post(signed(token=""), text_xml("hi"))
        assert status == 403
    finally:
        await stop(server)
    assert agent.calls == []


# ------------------------------------------------------- credentials.yml wiring


@pytest.mark.parametrize("token", ["tok", ""])
def test_credentials_yml_loads_through_rasa(tmp_path: Any, monkeypatch: Any, token: str) -> None:
    from rasa.core.run import create_http_input_channels

    monkeypatch.setenv("WECHAT_TOKEN", token)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WECHAT_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECHAT_API_BASE", "")
    monkeypatch.setenv("REDIS_URL", "")
    # The project's own credentials.yml, as `make run` uses it.
    channels = create_http_input_channels(None, str(ROOT / "credentials.yml"))
    (channel,) = (c for c in channels if isinstance(c, WeChatInput))
    assert isinstance(channel, WeChatInput)
    assert channel.name() == "wechat"
    assert channel.enabled is bool(token)
    assert channel.reply_timeout == 4.5
    if token:
        assert channel.crypto is not None and channel.crypto.app_id == APP_ID
        assert channel.api_client.api_base_url == "https://api.weixin.qq.com"
        assert type(channel.store).__name__ == "MemoryStore"
        assert channel.api_client.store is channel.store


# ------------------------------------------------------------- Redis de-dup


@pytest.mark.asyncio
async def test_duplicate_msgid_with_redis_dedup(api: WeChatApiStandIn, redis_client: Tuple[Any, str]) -> None:
    probe, _ = redis_client  # skips, or fails under REQUIRE_REDIS, when Redis is unreachable
    channel = make_channel(api.base, redis_url=REDIS_URL)
    assert type(channel.store).__name__ == "RedisStore"
    assert channel.api_client.store is channel.store  # the access token is shared there too
    agent = StubAgent()
    wrapped, server = await serve(channel, agent)
    msg_id = str(uuid.uuid4().int % 10**18)
    try:
        first = await wrapped.post(signed(), text_xml("redis", msg_id=msg_id))
        second = await wrapped.post(signed(), text_xml("redis", msg_id=msg_id))
        # The key scheme of before: "wechat:dedup:" + the hashed MsgId, for 60 s.
        key = DEDUP_KEY_PREFIX + parse_message(text_xml("redis", msg_id=msg_id)).dedup_key
        assert 0 < await probe.ttl(key) <= 60
        await probe.delete(key)
    finally:
        await stop(server)
        await channel.store.close()
    assert fields_of(first[1])["Content"] == "echo: redis"
    assert second[:2] == (200, SUCCESS)
    assert len(agent.calls) == 1


# ------------------------------------------------------------- access log


def test_access_log_lines_lose_the_query_string() -> None:
    import logging

    record = logging.LogRecord("sanic.access", logging.INFO, "", 0, "", None, None)
    record.request = f"POST http://h{PATH}?signature=s&openid={OPENID}"
    assert _RedactWeChatQuery().filter(record) is True
    assert OPENID not in record.request
    assert record.request == f"POST http://h{PATH}?…"


# -------------------------------------------------------- knowledge phrases


def test_user_facing_texts_are_the_knowledge_phrases(kb: KnowledgeBase) -> None:
    channel = make_channel()
    for text, key in [
        (channel.welcome_text, "wechat_welcome"),
        (channel.unsupported_text, "wechat_unsupported"),
        (channel.error_text, "wechat_error"),
    ]:
        assert text == f"{kb.phrase(key, 'zh')}\n{kb.phrase(key, 'en')}"
    # The same words as before they moved to knowledge/service.yml.
    assert channel.welcome_text == (
        "您好，欢迎关注！请直接用文字提问。\nHello and welcome! Please type your question as a text message."
    )
    assert channel.unsupported_text == (
        "抱歉，目前只能理解文字消息，请用文字提问。\n"
        "Sorry, I can only understand text messages for now. Please type your question."
    )
    assert channel.error_text == "抱歉，出了点问题，请稍后再试。\nSorry, something went wrong. Please try again later."


def test_channel_code_imports_nothing_from_actions() -> None:
    import ast

    for path in (ROOT / "channels" / "wechat").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(name == "actions" or name.startswith("actions.") for name in names), path


# ---------------------------------------------------- WeChatOutput and late answers


class ScriptedAgent:
    """A bot that says each line of ``script``; a number there is a pause, an exception is raised."""

    def __init__(self, *script: Any) -> None:
        self.script = script
        self.calls: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.calls.append(message)
        for step in self.script:
            if isinstance(step, int | float):
                await asyncio.sleep(step)
            elif isinstance(step, BaseException):
                raise step
            else:
                await message.output_channel.send_response(message.sender_id, {"text": step})


@pytest.mark.asyncio
async def test_bot_messages_go_through_wechat_output(served: Served) -> None:
    status, body, _ = await served.post(signed(), text_xml("who", msg_id="6000001"))
    assert status == 200
    assert fields_of(body)["Content"] == "echo: who"
    output = served.agent.calls[0].output_channel
    assert isinstance(output, WeChatOutput)
    assert output.api_client is served.channel.api_client
    assert output.passive is False  # the window closed when the reply was taken
    assert output.messages == [{"recipient_id": OPENID, "text": "echo: who"}]


@pytest.mark.asyncio
async def test_messages_after_the_passive_window_go_via_the_api(api: WeChatApiStandIn) -> None:
    # One line before the window closes, one after: the first is sent when the window closes,
    # the second when the bot says it, in that order.
    agent = ScriptedAgent("第一句 first", 0.8, "第二句 second")
    wrapped, server = await serve(make_channel(api.base, reply_timeout=0.3), agent)
    try:
        status, body, _ = await wrapped.post(signed(), text_xml("两句", msg_id="6000002"))
        assert (status, body) == (200, SUCCESS)
        await api.wait_for_sent(1)
        assert api.contents() == ["第一句 first"]  # sent at window close, before the bot finished
        await api.wait_for_sent(2)
    finally:
        await stop(server)
    assert api.contents() == ["第一句 first", "第二句 second"]
    assert all(message["touser"] == OPENID for message in api.sent)
    assert api.sent_tokens == ["ACCESS-TOKEN-1"] * 2
    assert len(api.token_requests) == 1


@pytest.mark.asyncio
async def test_bot_failing_in_time_gets_the_error_phrase(api: WeChatApiStandIn) -> None:
    agent = ScriptedAgent("half an answer", RuntimeError("boom"))
    wrapped, server = await serve(make_channel(api.base), agent)
    try:
        status, body, _ = await wrapped.post(signed(), text_xml("break", msg_id="6000003"))
    finally:
        await stop(server)
    assert status == 200
    assert fields_of(body)["Content"] == knowledge_text("wechat_error")
    assert api.sent == []


@pytest.mark.asyncio
async def test_bot_failing_late_sends_the_error_phrase_via_the_api(api: WeChatApiStandIn) -> None:
    agent = ScriptedAgent(0.6, RuntimeError("late boom"))
    channel = make_channel(api.base, reply_timeout=0.2)
    wrapped, server = await serve(channel, agent)
    try:
        assert (await wrapped.post(signed(), text_xml("break", msg_id="6000004")))[:2] == (200, SUCCESS)
        await api.wait_for_sent(1)
        await asyncio.wait_for(asyncio.gather(*channel.background_tasks), timeout=5)
    finally:
        await stop(server)
    assert api.contents() == [knowledge_text("wechat_error")]
    assert channel.background_tasks == set()


@pytest.mark.asyncio
async def test_get_output_channel_sends_via_the_api(api: WeChatApiStandIn) -> None:
    channel = make_channel(api.base)
    output = channel.get_output_channel()
    assert isinstance(output, WeChatOutput)
    assert output.name() == "wechat"
    assert output.passive is False
    # One utterance (text + buttons, text with paragraphs) is one customer-service message.
    await output.send_response(
        OPENID,
        {"text": "Pick one", "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]},
    )
    await output.send_text_message(OPENID, "para 1\n\npara 2")
    await output.send_image_url(OPENID, "https://example.invalid/a.png")
    assert api.contents() == ["Pick one\n1. Yes\n2. No", "para 1\n\npara 2", "https://example.invalid/a.png"]
    assert len(output.messages) == 4  # Rasa's collecting channels keep every message (the split text too)


@pytest.mark.asyncio
async def test_output_collects_then_flushes_in_order(api: WeChatApiStandIn) -> None:
    output = WeChatOutput(WeChatApiClient(APP_ID, APP_SECRET, api.base), passive=True)
    await output.send_text_message(OPENID, "one")
    await output.send_text_message(OPENID, "two")
    assert api.sent == [] and output.passive
    api.send_delays = [0.3]  # the flush is slow; the next message must still come after it
    flush = output.close_passive_window()
    assert flush is not None
    await output.send_text_message(OPENID, "three")
    await flush
    assert api.contents() == ["one\n\ntwo", "three"]
    assert output.close_passive_window() is None  # nothing left to flush


@pytest.mark.asyncio
async def test_output_passive_reply_then_api(api: WeChatApiStandIn) -> None:
    output = WeChatOutput(WeChatApiClient(APP_ID, APP_SECRET, api.base), passive=True)
    await output.send_response(OPENID, {"text": "answer", "image": "https://example.invalid/x.png"})
    assert output.take_passive_reply() == "answer\n\nhttps://example.invalid/x.png"
    assert output.take_passive_reply() == ""
    await output.send_text_message(OPENID, "afterwards")
    assert api.contents() == ["afterwards"]


@pytest.mark.asyncio
async def test_output_without_api_credentials_drops_and_keeps_the_bot_going() -> None:
    output = WeChatOutput(None, passive=False)
    await output.send_text_message(OPENID, "nowhere to go")  # logged, not raised
    assert output.messages == [{"recipient_id": OPENID, "text": "nowhere to go"}]


@pytest.mark.asyncio
async def test_output_api_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    output = WeChatOutput(WeChatApiClient(APP_ID, APP_SECRET, "http://127.0.0.1:9", timeout=2), passive=False)
    await output.send_text_message(OPENID, "hi")
    assert "customer-service" in caplog.text or "access token" in caplog.text
    assert APP_SECRET not in caplog.text


@pytest.mark.asyncio
async def test_memory_dedup_key_scheme(served: Served) -> None:
    await served.post(signed(), text_xml("once", msg_id="6000005"))
    store = served.channel.store
    assert isinstance(store, MemoryStore)
    key = DEDUP_KEY_PREFIX + parse_message(text_xml("once", msg_id="6000005")).dedup_key
    assert store.claim_nowait(key, 60) is False
    assert served.channel.dedup_ttl == 60


@pytest.mark.asyncio
async def test_two_channels_on_one_redis_share_the_access_token(api: WeChatApiStandIn, redis_client: Any) -> None:
    client, _ = redis_client
    url = REDIS_URL
    first, second = make_channel(api.base, redis_url=url), make_channel(api.base, redis_url=url)
    token_key = first.api_client.token_key
    await client.delete(token_key)
    try:
        await first.get_output_channel().send_text_message(OPENID, "from worker 1")
        await second.get_output_channel().send_text_message(OPENID, "from worker 2")
        assert api.contents() == ["from worker 1", "from worker 2"]
        assert api.sent_tokens == ["ACCESS-TOKEN-1"] * 2
        assert len(api.token_requests) == 1
        assert await client.get(token_key) == b"ACCESS-TOKEN-1"
    finally:
        await client.delete(token_key)
        await first.store.close()
        await second.store.close()
