"""End to end: real conversations through Rasa and the action server fill the operations store, and
the staff APIs of the web server show them — redacted, after real lookups too."""

from __future__ import annotations

import csv
import json
import re
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import create_engine

import web.server as server
from core.ops_store import OpsStore
from tests.support import ROOT, Stack, new_sender, texts
from web.auth import AuthSettings, StaffAuth

SAMPLE = list(csv.DictReader((ROOT / "data" / "registry" / "sample_cards.csv").open(encoding="utf-8")))
CARD = next(row for row in SAMPLE if row["status"] == "issued_not_activated")
USER, PASSWORD = "desk-e2e", "a long enough passphrase"
CODE = re.compile(r"[：:]\s*([A-Z0-9]{6})")


@pytest.fixture(scope="module")
def conversations(stack: Stack) -> dict[str, Any]:
    """Four citizens: one rates an answer 👎 and says what was missing, one looks up their card, then
    falls back and asks for a human, one rates 👍, one taps "I meant: …" under an answer."""
    rater, looker, happy, tapper = new_sender(), new_sender(), new_sender(), new_sender()
    replies: dict[str, Any] = {}
    stack.say("社保卡密码忘了怎么办", rater)
    replies["down"] = texts(stack.say('/feedback{"rating": "down"}', rater))
    replies["comment"] = texts(stack.say("没说清楚去哪里改", rater))
    for turn in ("帮我查一下我的社保卡状态", CARD["id_number"], CARD["name"]):
        replies["lookup"] = texts(stack.say(turn, looker))
    stack.say("<b>qwzx</b> vbnmq plokm", looker)
    replies["handoff"] = texts(stack.say("我要转人工", looker))
    stack.say("How do I activate my card?", happy)
    replies["up"] = texts(stack.say('/feedback{"rating": "up"}', happy))
    # the payload of the "I meant: …" button under an answer of ask_how_to_activate
    stack.say("社保卡在哪里激活", tapper)
    replies["tapped"] = texts(stack.say('/report_card_problem{"instead_of": "ask_how_to_activate"}', tapper))
    replies["code"] = CODE.search(replies["handoff"]).group(1) if CODE.search(replies["handoff"]) else None
    return replies


@pytest.fixture(scope="module")
def ops(stack: Stack) -> OpsStore:
    return OpsStore(create_engine(f"sqlite:///{stack.workdir / 'ops.sqlite3'}", future=True))


def test_feedback_and_comment_are_stored(conversations: dict[str, Any], ops: OpsStore, kb) -> None:
    assert kb.phrase("feedback_missing", "zh") in conversations["down"]
    assert conversations["comment"].startswith(kb.phrase("feedback_comment_thanks", "zh"))
    assert kb.phrase("feedback_thanks", "en") in conversations["up"]
    ratings = {(f.rating, tuple(f.topics), f.channel, f.language) for f in ops.feedback()}
    assert ("down", ("ask_password",), "rest", "zh") in ratings
    assert ("up", ("ask_how_to_activate",), "rest", "en") in ratings
    down = next(f for f in ops.feedback() if f.rating == "down")
    assert down.question == "社保卡密码忘了怎么办" and down.comment == "没说清楚去哪里改"


def test_review_queue_holds_the_fallback_the_thumbs_down_the_handoff_and_the_did_you_mean(
    conversations: dict[str, Any], ops: OpsStore
) -> None:
    # The stack is shared by the session: other tests' conversations are in the queue too.
    items = ops.review_items()
    assert any(i.reason == "thumbs_down" and i.text == "社保卡密码忘了怎么办" for i in items)
    assert any(i.reason == "fallback" and i.text == "qwzx vbnmq plokm" for i in items)  # markup removed by the NLU
    assert any(i.reason == "handoff" and i.text == "qwzx vbnmq plokm" for i in items)  # what led to the request
    tapped = [i for i in items if i.reason == "runner_up" and i.text == "社保卡在哪里激活"]
    assert [i.guess for i in tapped] == ["report_card_problem"]  # the topic the person chose
    assert all(CARD["id_number"] not in i.text and CARD["name"] not in i.text for i in items)


def test_did_you_mean_answers_the_topic_chosen(conversations: dict[str, Any], kb) -> None:
    assert kb.topics["report_card_problem"]["answer"]["zh"].strip()[:20] in conversations["tapped"]


def test_the_handoff_code_is_given_and_stored(conversations: dict[str, Any], ops: OpsStore) -> None:
    assert "12333" in conversations["handoff"] and conversations["code"], conversations["handoff"]
    handoff = ops.handoff(conversations["code"])
    assert handoff is not None and handoff.identity_verified is True and not handoff.expired()


def test_no_id_number_or_name_in_the_operations_store(conversations: dict[str, Any], stack: Stack) -> None:
    raw = (stack.workdir / "ops.sqlite3").read_bytes()
    for wal in stack.workdir.glob("ops.sqlite3-wal"):
        raw += wal.read_bytes()
    assert CARD["id_number"].encode() not in raw
    assert CARD["name"].encode("utf-8") not in raw


@pytest.fixture
async def staff(stack: Stack, kb, conversations: dict[str, Any]) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    engine = create_engine(f"sqlite:///{stack.workdir / 'ops.sqlite3'}", future=True)
    auth = StaffAuth(engine=engine, settings=AuthSettings(), hasher=PasswordHasher(time_cost=1, memory_cost=8192))
    if auth.store.user(USER) is None:
        auth.store.add_user(USER, PASSWORD)
    app = server.create_app(
        rasa_url="http://127.0.0.1:5005",
        kb=kb,
        staff_auth=auth,
        ops_store=OpsStore(engine),
        tracker_engine=create_engine(f"sqlite:///{stack.tracker_db}", future=True),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    origin = f"http://{client.server.host}:{client.server.port}"
    response = await client.post(
        "/api/staff/login", json={"username": USER, "password": PASSWORD}, headers={"Origin": origin}
    )
    assert response.status == 200, await response.text()
    yield client, {"X-CSRF-Token": (await response.json())["csrf"]}
    await client.close()


async def test_staff_see_queue_dashboard_and_handoff_without_personal_data(staff, conversations, ops) -> None:
    client, csrf = staff
    queue = await (await client.get("/api/staff/review")).json()
    dashboard = await (await client.get("/api/staff/dashboard?days=2")).json()
    handoff = await client.get(f"/api/staff/handoff/{conversations['code'].lower()}")
    assert handoff.status == 200
    summary = await handoff.json()
    assert summary["identity_verified"] is True
    assert any(q["text"] == "帮我查一下我的社保卡状态" for q in summary["summary"]["questions"])
    texts_in_queue = [g["text"] for g in queue["groups"]]
    assert "社保卡密码忘了怎么办" in texts_in_queue
    rest = [row for row in dashboard["series"] if row["channel"] == "rest"]
    assert sum(r["conversations"] for r in rest) >= 3 and sum(r["handoffs"] for r in rest) >= 1
    assert dashboard["totals"]["down"] >= 1 and dashboard["totals"]["up"] >= 1
    # the "I meant: …" tap counts as a corrected answer, not as an unanswered question
    assert sum(r["corrected"] for r in rest) >= 1 and dashboard["totals"]["corrected"] >= 1
    assert "社保卡在哪里激活" not in [q["text"] for q in dashboard["top_unanswered"]]
    everything = json.dumps([queue, dashboard, summary], ensure_ascii=False)
    assert CARD["id_number"] not in everything and CARD["name"] not in everything
    # assigning a group, and the audit log of who opened the summary
    group = next(g for g in queue["groups"] if g["text"] == "社保卡密码忘了怎么办")
    response = await client.post(
        "/api/staff/review/assign", json={"ids": group["ids"], "label": "ask_password"}, headers=csrf
    )
    assert response.status == 200 and (await response.json())["assigned"] == len(group["ids"])
    assert all(i.label == "ask_password" for i in ops.review_items(assigned=True) if i.id in group["ids"])
    forged = await client.post(
        "/api/staff/review/assign",
        json={"ids": group["ids"], "label": "ask_password"},
        headers={"X-CSRF-Token": "forged"},
    )
    assert forged.status == 403
    audit = await (await client.get("/api/staff/audit")).json()
    assert any(
        e["action"] == "handoff.open" and e["target"] == conversations["code"] and e["username"] == USER
        for e in audit["entries"]
    )
