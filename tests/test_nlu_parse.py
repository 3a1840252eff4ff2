"""The Rasa server's /nlu/parse (channels/ops.py) and the staff desk asking it instead of loading a
model copy of its own (web/server.py `RasaNlu`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

import web.server as server
from channels.ops import _parse_allowed
from tests.support import Stack, free_port
from web.auth import AuthSettings, StaffAuth

USER, PASSWORD = "desk-nlu", "a long enough passphrase"


def fake_request(ip: str, authorization: str | None = None) -> Any:
    return SimpleNamespace(ip=ip, headers={"Authorization": authorization} if authorization else {})


def test_without_a_token_only_this_machine_may_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NLU_PARSE_TOKEN", raising=False)
    assert _parse_allowed(fake_request("127.0.0.1")) and _parse_allowed(fake_request("::1"))
    assert not _parse_allowed(fake_request("203.0.113.9"))


def test_with_a_token_every_caller_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLU_PARSE_TOKEN", "s3cret-token")
    assert _parse_allowed(fake_request("203.0.113.9", "Bearer s3cret-token"))
    assert not _parse_allowed(fake_request("127.0.0.1"))
    assert not _parse_allowed(fake_request("127.0.0.1", "Bearer wrong"))


def test_parse_gives_the_models_ranking(stack: Stack) -> None:
    reply = requests.post(f"{stack.rasa_url}/nlu/parse", json={"text": "社保卡怎么激活"}, timeout=30)
    assert reply.status_code == 200
    parsed = reply.json()
    assert parsed["intent"]["name"] == "ask_how_to_activate"
    assert parsed["intent_ranking"][0]["name"] == "ask_how_to_activate"
    assert requests.post(f"{stack.rasa_url}/nlu/parse", json={"text": " "}, timeout=10).status_code == 400
    assert requests.post(f"{stack.rasa_url}/nlu/parse", data="nope", timeout=10).status_code == 400


@pytest.fixture
async def desk(kb: Any, tmp_path: Any) -> Any:
    from core.ops_store import engine_from_env

    async def make(nlu_url: str) -> TestClient:
        auth = StaffAuth(
            engine=engine_from_env(f"sqlite:///{tmp_path / 'ops.sqlite3'}"),
            settings=AuthSettings(),
            hasher=PasswordHasher(time_cost=1, memory_cost=8192),
        )
        if auth.store.user(USER) is None:
            auth.store.add_user(USER, PASSWORD)
        app = server.create_app(rasa_url="http://127.0.0.1:5005", kb=kb, staff_auth=auth, agent=server.RasaNlu(nlu_url))
        client = TestClient(TestServer(app))
        await client.start_server()
        origin = f"http://{client.server.host}:{client.server.port}"
        login = await client.post(
            "/api/staff/login", json={"username": USER, "password": PASSWORD}, headers={"Origin": origin}
        )
        client.csrf = (await login.json())["csrf"]  # type: ignore[attr-defined]
        clients.append(client)
        return client

    clients: list[TestClient] = []
    yield make
    for client in clients:
        await client.close()


async def test_the_desk_ranks_with_the_rasa_servers_model(desk: Any, stack: Stack) -> None:
    client = await desk(f"{stack.rasa_url}/nlu/parse")
    assert (await (await client.get("/health")).json())["model"] == "remote"
    reply = await client.post(
        "/api/staff/query", json={"text": "社保卡密码忘了怎么办"}, headers={"X-CSRF-Token": client.csrf}
    )
    assert reply.status == 200
    assert (await reply.json())["topics"][0]["intent"] == "ask_password"


async def test_the_desk_says_when_the_rasa_server_is_unreachable(desk: Any) -> None:
    client = await desk(f"http://127.0.0.1:{free_port()}/nlu/parse")
    reply = await client.post("/api/staff/query", json={"text": "社保卡密码"}, headers={"X-CSRF-Token": client.csrf})
    assert reply.status == 503 and reply.headers["Retry-After"] == "5"
    assert "not reachable" in (await reply.json())["error"]
