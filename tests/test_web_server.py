"""The web server (web/server.py) with aiohttp's test client and a fake NLU agent, and the handbook script.

The staff desk's API needs a staff login (web/auth.py, tests/test_staff_auth.py): each app gets a
temporary operations database with one staff account, and the client logs in first.

The fake agent stands in for the trained Rasa model: it returns a known intent ranking, so the tests
check what the server does with a ranking (topic filtering, order, answers from knowledge/) without
loading TensorFlow.
"""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import threading
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

import web.server as server
from core.compose import compose_answer, region_note
from core.knowledge import KnowledgeBase, load_knowledge
from core.ops_store import engine_from_env
from core.regions import all_regions
from scripts.build_handbook import build_handbook
from scripts.build_handbook import main as handbook_main
from web.auth import StaffAuth

RASA_URL = "http://127.0.0.1:5005"
# A ranking as DIET + FallbackClassifier produce it: fallback and small talk mixed with topics.
RANKING = [
    {"name": "nlu_fallback", "confidence": 0.55},
    {"name": "greet", "confidence": 0.20},
    {"name": "ask_password", "confidence": 0.10},
    {"name": "stop", "confidence": 0.05},
    {"name": "ask_how_to_activate", "confidence": 0.04},
    {"name": "ask_activation_deadline", "confidence": 0.03},
    {"name": "ask_activation_fee", "confidence": 0.02},
]
EXPECTED_TOPICS = ["ask_password", "ask_how_to_activate", "ask_activation_deadline"]
STAFF_USER, STAFF_PASSWORD = "desk", "test-only staff password"


class FakeAgent:
    """Answers parse_message like rasa.core.agent.Agent, with a fixed ranking; remembers the texts."""

    def __init__(self, ranking: list[dict[str, Any]]) -> None:
        self.ranking = ranking
        self.texts: list[str] = []

    async def parse_message(self, message_data: str) -> dict[str, Any]:
        self.texts.append(message_data)
        return {"text": message_data, "intent": self.ranking[0], "intent_ranking": self.ranking, "entities": []}


class StaffClient(TestClient):
    """A test client logged in as a staff member; `csrf` is the header its POSTs to /api/staff/ need."""

    csrf: dict[str, str] = {}


def staff_auth(tmp_path: Path) -> StaffAuth:
    """A temporary operations database with one staff account (cheap argon2id parameters)."""
    auth = StaffAuth(
        engine=engine_from_env(f"sqlite:///{tmp_path / 'ops.sqlite3'}"),
        hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1),
    )
    auth.store.add_user(STAFF_USER, STAFF_PASSWORD)
    return auth


async def start_client(app: Any) -> StaffClient:
    """Start the app and log in as the staff account."""
    client = StaffClient(TestServer(app))
    await client.start_server()
    response = await client.post(
        "/api/staff/login",
        json={"username": STAFF_USER, "password": STAFF_PASSWORD},
        headers={"Origin": f"http://{client.server.host}:{client.server.port}"},
    )
    assert response.status == 200, await response.text()
    client.csrf = {"X-CSRF-Token": (await response.json())["csrf"]}
    return client


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent(RANKING)


@pytest.fixture
async def client(kb: KnowledgeBase, agent: FakeAgent, tmp_path: Path) -> AsyncIterator[StaffClient]:
    app = server.create_app(rasa_url=RASA_URL, agent=agent, kb=kb, staff_auth=staff_auth(tmp_path))
    running = await start_client(app)
    yield running
    await running.close()


async def query(client: StaffClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/staff/query", json=body, headers=client.csrf)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_regions_lists_provinces_and_prefectures(client: TestClient) -> None:
    response = await client.get("/api/regions")
    assert response.status == 200
    regions = {r["name"]: r for r in (await response.json())["regions"]}
    assert len(regions) == len(all_regions())
    assert regions["北京市"]["name_en"] == "Beijing" and regions["北京市"]["level"] == "province"
    assert regions["广州市"]["name_en"] == "Guangzhou" and regions["广州市"]["level"] == "prefecture"
    assert regions["广州市"]["province"] == "广东省"
    assert "guangzhou" in regions["广州市"]["aliases"]
    assert regions["上海市"]["has_notes"] is True


async def test_query_answers_the_three_most_likely_topics_from_the_knowledge_base(
    client: TestClient, kb: KnowledgeBase
) -> None:
    data = await query(client, text="社保卡密码忘了怎么办")
    topics = data["topics"]
    assert [t["intent"] for t in topics] == EXPECTED_TOPICS  # fallback and small talk skipped, order kept
    assert [t["confidence"] for t in topics] == [0.10, 0.04, 0.03]
    for topic in topics:
        entry = kb.topics[topic["intent"]]
        assert topic["title"] == entry["title"]
        for language in ("zh", "en"):
            assert topic["answer"][language] == "\n\n".join(compose_answer(kb, topic["intent"], language, None))
            assert entry["answer"][language].strip() in topic["answer"][language]
        assert topic["region_answer"] is None
        assert topic["sources"] == entry["sources"]
        assert [a["id"] for a in topic["articles"]] == entry["legal_basis"]
        for article in topic["articles"]:
            law, expected = kb.articles[article["id"]]
            assert article["law"] == law["name"]
            assert article["number"] == expected["number"]
            assert article["issuer"] == law["issuer"] and article["date"] == law["date"]
            assert article["text"] == {lang: expected["text"][lang].strip() for lang in ("zh", "en")}


async def test_query_with_a_region_adds_the_regional_variant(client: TestClient, kb: KnowledgeBase) -> None:
    data = await query(client, text="怎么激活", region="上海")  # an alias resolves to the canonical name
    assert data["region"] == {"name": "上海市", "name_en": "Shanghai"}
    topic = next(t for t in data["topics"] if t["intent"] == "ask_how_to_activate")
    note = kb.notes_for("上海市", "ask_how_to_activate")[0]
    for language in ("zh", "en"):
        assert topic["region_answer"][language] == "\n\n".join(
            compose_answer(kb, "ask_how_to_activate", language, "上海市")
        )
        assert note[language] in topic["region_answer"][language]
        assert topic["region_notes"][language] == region_note(kb, "ask_how_to_activate", "上海市", language)
    assert topic["answer"]["zh"] == "\n\n".join(compose_answer(kb, "ask_how_to_activate", "zh", None))


async def test_unknown_region_is_rejected(client: StaffClient) -> None:
    response = await client.post(
        "/api/staff/query", json={"text": "怎么激活", "region": "亚特兰蒂斯"}, headers=client.csrf
    )
    assert response.status == 400


@pytest.mark.parametrize(
    "body",
    ["{not json", "[1, 2]", '{"text": 42}', '{"text": "   "}', '{"region": "上海市"}', '{"text": "x", "region": 5}'],
)
async def test_bad_requests_are_400(client: StaffClient, agent: FakeAgent, body: str) -> None:
    headers = {"Content-Type": "application/json", **client.csrf}
    response = await client.post("/api/staff/query", data=body, headers=headers)
    assert response.status == 400
    assert "error" in await response.json()
    assert agent.texts == []


async def test_long_text_is_capped(client: TestClient, agent: FakeAgent) -> None:
    data = await query(client, text="激" * 5000)
    assert len(agent.texts[0]) == server.MAX_CHARS
    assert data["truncated"] is True and len(data["text"]) == server.MAX_CHARS


async def test_a_leading_slash_does_not_bypass_the_model(client: TestClient, agent: FakeAgent) -> None:
    await query(client, text="/ask_password")
    assert agent.texts == ["ask_password"]


async def test_503_until_the_model_has_loaded(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release = threading.Event()
    fake = FakeAgent(RANKING)

    def slow_load(path: Path) -> FakeAgent:  # stands in for Agent.load in the worker thread
        assert path == Path("models/activation.tar.gz")
        release.wait(10)
        return fake

    monkeypatch.setattr(server, "load_agent", slow_load)
    app = server.create_app(
        rasa_url=RASA_URL, model_path="models/activation.tar.gz", kb=kb, staff_auth=staff_auth(tmp_path)
    )
    client = await start_client(app)
    try:
        assert (await (await client.get("/health")).json())["model"] == "loading"
        response = await client.post("/api/staff/query", json={"text": "怎么激活"}, headers=client.csrf)
        assert response.status == 503
        assert "loading" in (await response.json())["error"]
        release.set()
        for _ in range(100):
            if (await (await client.get("/health")).json())["model"] == "ready":
                break
            await asyncio.sleep(0.05)
        response = await client.post("/api/staff/query", json={"text": "怎么激活"}, headers=client.csrf)
        assert response.status == 200
        assert fake.texts == ["怎么激活"]
    finally:
        release.set()
        await client.close()


async def test_503_when_the_model_fails_to_load(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken_load(path: Path) -> FakeAgent:
        raise FileNotFoundError(path)

    monkeypatch.setattr(server, "load_agent", broken_load)
    app = server.create_app(rasa_url=RASA_URL, model_path="missing.tar.gz", kb=kb, staff_auth=staff_auth(tmp_path))
    client = await start_client(app)
    try:
        for _ in range(100):
            if (await (await client.get("/health")).json())["model"] == "failed":
                break
            await asyncio.sleep(0.05)
        response = await client.post("/api/staff/query", json={"text": "怎么激活"}, headers=client.csrf)
        assert response.status == 503 and "failed" in (await response.json())["error"]
        assert (await client.get("/")).status == 200  # the chat page does not need the model
    finally:
        await client.close()


@pytest.mark.parametrize("path", ["/", "/staff", "/api/regions", "/static/chat.js", "/config.json", "/nowhere"])
async def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "connect-src 'self' http://127.0.0.1:5005 ws://127.0.0.1:5005" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("page", ["chat.html", "staff.html"])
def test_pages_have_no_inline_script_or_style(page: str) -> None:
    text = (server.STATIC_DIR / page).read_text(encoding="utf-8")
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", text))
    assert re.search(r"<script\b[^>]*>\s*[^\s<]", text) is None  # no code between the tags
    assert "<style" not in text and " style=" not in text and "https://" not in text  # no CDN either


async def test_config_tells_the_widget_where_rasa_is(client: TestClient) -> None:
    data = await (await client.get("/config.json")).json()
    assert data == {"rasaUrl": RASA_URL, "socketPath": "/socket.io"}


async def test_socketio_client_is_served_from_node_modules(client: TestClient) -> None:
    if not (server.VENDOR_DIR / "socket.io.min.js").is_file():
        pytest.skip("web/node_modules is not installed (npm ci --prefix web)")
    response = await client.get("/vendor/socket.io.min.js")
    assert response.status == 200 and "Socket.IO v4" in await response.text()
    assert (await client.get("/vendor/package.json")).status == 404  # nothing else from node_modules


def test_a_non_http_rasa_url_is_refused() -> None:
    with pytest.raises(ValueError):
        server.content_security_policy("javascript:alert(1)")


def test_handbook_has_every_topic_laws_and_regional_notes(kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "handbook.html"
    assert handbook_main(["--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for name, entry in kb.topics.items():
        assert f'id="{name}"' in page
        assert html.escape(entry["title"]["zh"]) in page and html.escape(entry["title"]["en"]) in page
    for law in kb.laws.values():
        for article in law["articles"]:
            assert html.escape(article["text"]["zh"].strip().split("\n")[0]) in page
    shanghai = kb.regions["上海市"]["notes"][0]
    assert html.escape(shanghai["zh"]) in page
    assert "page-break-before" in page and "@media print" in page


def test_handbook_escapes_markup(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(server.load_knowledge().directory, knowledge)
    topic_file = knowledge / "topics" / "ask_password.yml"
    topic = yaml.safe_load(topic_file.read_text(encoding="utf-8"))
    topic["title"]["en"] = "Password <b>bold</b>"
    topic["answer"]["zh"] += "\n\n<script>alert(1)</script>"
    # The schema refuses a javascript: address (tests/test_knowledge.py); a quote inside an https one
    # must still not break out of the link's attribute.
    topic["sources"].append(
        {"title": "<img src=x onerror=alert(2)>", "url": 'https://example.org/a"onmouseover="alert(3)', "kind": "web"}
    )
    topic_file.write_text(yaml.safe_dump(topic, allow_unicode=True), encoding="utf-8")

    page = build_handbook(load_knowledge(knowledge))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page and "Password &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<img" not in page
    assert '"onmouseover="alert(3)' not in page
