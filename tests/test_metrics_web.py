"""The web server's /metrics and /ready (web/metrics.py) with aiohttp's test client."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

import web.server as server
from core.knowledge import KnowledgeBase
from web.metrics import install_metrics

RASA_URL = "http://127.0.0.1:5005"
RAW_ID = "11010519491231002X"


class NoAgent:
    async def parse_message(self, message_data: str) -> dict:
        return {"intent": None, "intent_ranking": []}


@pytest.fixture
async def client(kb: KnowledgeBase) -> AsyncIterator[TestClient]:
    running = TestClient(TestServer(server.create_app(rasa_url=RASA_URL, agent=NoAgent(), kb=kb)))
    await running.start_server()
    yield running
    await running.close()


async def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert RAW_ID not in text and "no/such/path" not in text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_of(samples: dict, route: str, method: str, status: str) -> float:
    labels = frozenset({"route": route, "method": method, "status": status}.items())
    return samples.get(("shebaoka_web_requests_total", labels), 0.0)


async def test_requests_are_counted_by_route_never_by_raw_path(client: TestClient) -> None:
    before = await scrape(client)
    assert (await client.get("/health")).status == 200
    assert (await client.get("/api/regions")).status == 200
    assert (await client.get(f"/vendor/{RAW_ID}.js")).status == 404  # a route with a parameter
    assert (await client.get(f"/no/such/path/{RAW_ID}")).status == 404
    assert (await client.request("PROPFIND", "/health")).status == 405
    after = await scrape(client)

    def delta(route: str, method: str, status: str) -> float:
        return requests_of(after, route, method, status) - requests_of(before, route, method, status)

    assert delta("/health", "GET", "200") == 1
    assert delta("/api/regions", "GET", "200") == 1
    assert delta("/vendor/{name}", "GET", "404") == 1
    assert delta("unmatched", "GET", "404") == 1
    assert delta("unmatched", "other", "405") == 1
    assert not any(RAW_ID in value for (_, labels) in after for _, value in labels)
    count = ("shebaoka_web_request_seconds_count", frozenset({"route": "/health"}.items()))
    assert after[count] - before.get(count, 0.0) == 1


async def test_metrics_and_ready_need_no_login(client: TestClient) -> None:
    assert (await client.get("/metrics")).status == 200
    response = await client.get("/ready")
    assert response.status == 200
    assert await response.json() == {"status": "ready", "knowledge": True, "model": "ready"}


async def test_ready_says_the_model_is_loading_and_is_503_without_the_knowledge_base(kb: KnowledgeBase) -> None:
    app = server.create_app(rasa_url=RASA_URL, kb=kb, model_path="models/does-not-exist.tar.gz")
    app.on_startup.clear()  # do not start loading: the state stays "loading"
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        body = await (await client.get("/ready")).json()
        assert body == {"status": "ready", "knowledge": True, "model": "loading"}
    finally:
        await client.close()

    bare = web.Application()
    install_metrics(bare)
    client = TestClient(TestServer(bare))
    await client.start_server()
    try:
        response = await client.get("/ready")
        assert response.status == 503
        assert (await response.json())["knowledge"] is False
    finally:
        await client.close()
