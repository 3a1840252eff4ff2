"""Feedback, the review queue, handoff codes and the dashboard: the store, the actions that write to
it, grouping, export to training data, and the figures."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine

from actions import operations
from actions.actions import ActionAnswerTopic, ActionSuggestTopics, ValidateSlotMappings
from actions.operations import ActionRecordFeedback
from core.conversation_summary import handoff_summary, questions
from core.dashboard import Message, dashboard
from core.ops_store import CODE_ALPHABET, NEEDS_NEW_ANSWER, OUT_OF_SCOPE, OpsStore, conversation_key
from core.review import group_items, normalise, plan_export, render_yaml, training_examples

ROOT = Path(__file__).resolve().parent.parent
ID = "11010519491231002X"
NAME = "张三"


@pytest.fixture
def store(tmp_path: Path) -> OpsStore:
    return OpsStore(create_engine(f"sqlite:///{tmp_path / 'ops.sqlite3'}", future=True))


@pytest.fixture
def action_store(store: OpsStore, monkeypatch: pytest.MonkeyPatch) -> OpsStore:
    monkeypatch.setattr(operations, "_store", store)
    return store


def user(text: str, intent: str, confidence: float = 0.9, entities: list[dict] | None = None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": entities or []},
        "input_channel": "rest",
    }


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


LOOKUP_EVENTS = [
    user("查询我的社保卡状态", "check_card_status"),
    {"event": "active_loop", "name": "card_status_form"},
    slot("requested_slot", "id_digest"),
    user(ID, "inform"),  # typed while the form asked for the ID number
    slot("requested_slot", "name_digest"),
    user(NAME, "inform"),  # typed while the form asked for the name
    {"event": "active_loop", "name": None},
    slot("requested_slot", None),
]


def tracker(
    intent: str | None,
    text: str,
    *,
    events: list[dict] | None = None,
    slots: dict[str, Any] | None = None,
    entities: list[dict] | None = None,
    ranking: list[dict] | None = None,
    channel: str = "rest",
    sender: str = "ops-tester",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": ranking or [],
    }
    history = list(events or []) + [{**user(text, intent or "", 0.9, entities), "input_channel": channel}]
    return Tracker(sender, {"language": "zh", **(slots or {})}, latest, history, False, None, {}, "action_listen")


def run(action: Any, t: Tracker) -> tuple[list[dict], list]:
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, t, {})
    events = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return dispatcher.messages, events


def all_text(store: OpsStore) -> str:
    """Every value in every table of the store, as one string."""
    with store.engine.connect() as connection:
        rows = []
        for table in ("feedback", "review_items", "handoffs"):
            rows += [
                json.dumps([str(v) for v in r], ensure_ascii=False)
                for r in connection.exec_driver_sql(f"SELECT * FROM {table}")
            ]
    return "\n".join(rows)


# -- the store ---------------------------------------------------------------------------------


def test_feedback_is_stored_with_topic_entry_channel_and_redacted_question(store: OpsStore) -> None:
    record = store.record_feedback(
        sender_id="s1",
        channel="socketio",
        rating="down",
        topics=["ask_password"],
        entry="ask_password@广州市",
        region="广州市",
        language="zh",
        question=f"我的身份证{ID}密码忘了",
    )
    assert store.add_comment("s1", f"没说清楚，我的号码是{ID}") is True
    [saved] = store.feedback()
    assert saved.id == record and saved.rating == "down" and saved.topics == ["ask_password"]
    assert saved.entry == "ask_password@广州市" and saved.channel == "socketio"
    assert ID not in (saved.question or "") and "密码忘了" in (saved.question or "")
    assert ID not in (saved.comment or "") and "没说清楚" in (saved.comment or "")
    assert "s1" not in all_text(store)  # conversations are known by a keyed digest only
    assert conversation_key("s1") in all_text(store)


def test_a_comment_without_a_thumbs_down_is_not_attached(store: OpsStore) -> None:
    store.record_feedback(sender_id="s2", channel="rest", rating="up", topics=["ask_password"])
    assert store.add_comment("s2", "好") is False
    with pytest.raises(ValueError):
        store.record_feedback(sender_id="s2", channel="rest", rating="meh", topics=[])


def test_review_items_newest_first_and_assignment(store: OpsStore) -> None:
    start = datetime(2026, 11, 30, tzinfo=timezone.utc)
    first = store.add_review_item(sender_id="a", channel="rest", reason="fallback", text="旧问题", at=start)
    second = store.add_review_item(
        sender_id="b", channel="wechat", reason="handoff", text="新问题", at=start + timedelta(hours=1)
    )
    assert store.add_review_item(sender_id="c", channel="rest", reason="fallback", text="   ") is None
    assert [i.id for i in store.review_items(assigned=False)] == [second, first]
    assert store.assign([first], "ask_password", "staff-li") == 1
    assert [i.id for i in store.review_items(assigned=False)] == [second]
    [done] = store.review_items(assigned=True)
    assert (done.label, done.assigned_by) == ("ask_password", "staff-li")


def test_handoff_codes_are_short_unambiguous_and_expire(store: OpsStore) -> None:
    made = datetime.now(timezone.utc) - timedelta(hours=25)
    old = store.create_handoff(sender_id="x", channel="rest", summary={"questions": []}, at=made)
    new = store.create_handoff(sender_id="x", channel="rest", summary={"questions": [{"text": f"号码{ID}"}]})
    assert len(new) == 6 and set(new) <= set(CODE_ALPHABET)
    assert store.handoff(old).expired() is True  # type: ignore[union-attr]
    opened = store.handoff(f" {new[:3].lower()}-{new[3:]} ")  # as a staff member might type it
    assert opened is not None and not opened.expired()
    assert ID not in json.dumps(opened.summary, ensure_ascii=False)
    assert store.handoff("ZZZZZZ") is None


# -- what staff may see of a conversation -----------------------------------------------------


def test_summary_never_holds_what_was_typed_into_the_lookup_form() -> None:
    events = [
        user("社保卡怎么激活", "ask_how_to_activate"),
        slot("topics", ["ask_how_to_activate"]),
        *LOOKUP_EVENTS,
        slot("identity_verified", True),
        user("我要转人工", "request_human"),
        slot("topics", ["request_human"]),
    ]
    summary = handoff_summary(
        events,
        topic_titles={"ask_how_to_activate": {"zh": "怎么激活", "en": "How"}, "request_human": {"zh": "人工"}},
        region="广州市",
        language="zh",
        identity_verified=True,
    )
    text = json.dumps(summary, ensure_ascii=False)
    assert ID not in text and NAME not in text
    assert [q["text"] for q in summary["questions"]] == ["社保卡怎么激活", "查询我的社保卡状态", "我要转人工"]
    assert summary["topics"] == [{"intent": "ask_how_to_activate", "title": {"zh": "怎么激活", "en": "How"}}]
    assert summary["identity_verified"] is True and summary["region"] == "广州市"


def test_questions_skip_payloads() -> None:
    assert questions([user('/feedback{"rating": "up"}', "feedback"), user("你好", "greet")])[0].text == "你好"


# -- the actions -------------------------------------------------------------------------------


def test_thumbs_up_records_the_answer_it_rates(action_store: OpsStore) -> None:
    events = [user("社保卡密码忘了怎么办", "ask_password"), slot("topics", ["ask_password"])]
    messages, result = run(
        ActionRecordFeedback(),
        tracker(
            "feedback",
            '/feedback{"rating": "up", "answered": "ask_password"}',
            events=events,
            entities=[{"entity": "rating", "value": "up"}, {"entity": "answered", "value": "ask_password"}],
            slots={"topics": ["ask_password"], "region": "广州市"},
            channel="socketio",
        ),
    )
    [saved] = action_store.feedback()
    assert (saved.rating, saved.topics, saved.channel, saved.region) == ("up", ["ask_password"], "socketio", "广州市")
    assert saved.question == "社保卡密码忘了怎么办"
    assert saved.entry and saved.entry.startswith("ask_password")
    assert messages[0]["text"].startswith("谢谢您的反馈")
    assert action_store.count("review_items") == 0


def test_thumbs_down_queues_the_question_and_asks_what_was_missing(action_store: OpsStore) -> None:
    events = [user("激活要多少钱啊", "ask_activation_fee", 0.4), slot("topics", ["ask_activation_fee"])]
    messages, result = run(
        ActionRecordFeedback(),
        tracker(
            "feedback",
            "2",
            events=events,
            entities=[{"entity": "rating", "value": "down"}],
            slots={"topics": ["ask_activation_fee"]},
            channel="wechat",
        ),
    )
    assert "缺少了什么" in messages[0]["text"]
    assert SlotSet("feedback_pending", True) in result
    [item] = action_store.review_items()
    assert (item.reason, item.text, item.guess, item.channel) == (
        "thumbs_down",
        "激活要多少钱啊",
        "ask_activation_fee",
        "wechat",
    )
    # The next typed message answers "what was missing?": kept with the 👎, still answered as usual.
    following = tracker("ask_activation_fee", "没说在哪里交钱", slots={"feedback_pending": True})
    noted = asyncio.run(ValidateSlotMappings().extract_feedback_noted(CollectingDispatcher(), following, {}))
    assert noted == {"feedback_pending": None, "feedback_noted": True}
    assert action_store.feedback()[0].comment == "没说在哪里交钱"
    messages, _ = run(
        ActionAnswerTopic(), tracker("ask_activation_fee", "没说在哪里交钱", slots={"feedback_noted": True})
    )
    assert messages[0]["text"].startswith("谢谢，已转给工作人员") and len(messages) > 1
    messages, _ = run(ActionSuggestTopics(), tracker("nlu_fallback", "就是不清楚", slots={"feedback_noted": True}))
    assert [m["text"] for m in messages] == ["谢谢，已转给工作人员改进回答。"]  # no "did you mean"
    assert len(action_store.review_items()) == 1  # the comment is not a question to review
    # the turn after: the flag is cleared, nothing more is taken
    later = tracker("ask_password", "密码呢", slots={"feedback_noted": True})
    assert asyncio.run(ValidateSlotMappings().extract_feedback_noted(CollectingDispatcher(), later, {})) == {
        "feedback_noted": None
    }


def test_feedback_before_any_answer_records_nothing(action_store: OpsStore) -> None:
    messages, _ = run(ActionRecordFeedback(), tracker("feedback", "1", entities=[{"entity": "rating", "value": "up"}]))
    assert "还没有可以评价的回答" in messages[0]["text"]
    assert action_store.count("feedback") == 0


def test_typed_negative_feedback_counts_as_thumbs_down(action_store: OpsStore) -> None:
    run(ActionRecordFeedback(), tracker("feedback", "回答没用", slots={"topics": ["ask_password"]}))
    assert action_store.feedback()[0].rating == "down"


def test_a_fallback_goes_to_the_review_queue_with_the_models_guess(action_store: OpsStore) -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "ask_password", "confidence": 0.12}]
    messages, _ = run(
        ActionSuggestTopics(), tracker("nlu_fallback", "<script>alert(1)</script>卡咋整", ranking=ranking)
    )
    [item] = action_store.review_items()
    assert (item.reason, item.guess, item.guess_confidence) == ("fallback", "ask_password", 0.12)
    assert item.text == "<script>alert(1)</script>卡咋整"  # stored as text; pages show it as text
    assert messages  # the person still gets the "did you mean" buttons


def test_a_tapped_did_you_mean_queues_the_question_with_the_topic_chosen(action_store: OpsStore) -> None:
    events = [
        user("社保卡在医院刷不了是不是没激活", "ask_how_to_activate", 0.45),
        slot("topics", ["ask_how_to_activate"]),
        user('/report_card_problem{"instead_of": "ask_how_to_activate"}', "report_card_problem", 1.0),
    ]
    entities = [{"entity": "instead_of", "value": "ask_how_to_activate"}]
    tapped = tracker(
        "report_card_problem",
        '/report_card_problem{"instead_of": "ask_how_to_activate"}',
        events=events,
        entities=entities,
    )
    messages, result = run(ActionAnswerTopic(), tapped)
    assert SlotSet("topic", "report_card_problem") in result and messages  # the chosen topic is answered
    [item] = action_store.review_items()
    assert (item.reason, item.guess) == ("runner_up", "report_card_problem")  # the topic the person chose
    assert item.text == "社保卡在医院刷不了是不是没激活"  # the question answered with the other topic
    # the same topic asked by a typed question, or by a related-question button: nothing queued
    run(ActionAnswerTopic(), tracker("report_card_problem", "社保卡刷不了", events=events[:2]))
    entry = [{"entity": "question_entry", "value": "card_frozen"}]
    run(ActionAnswerTopic(), tracker("report_card_problem", "/report_card_problem", events=events, entities=entry))
    assert action_store.count("review_items") == 1


def test_a_did_you_mean_naming_no_question_of_this_session_queues_nothing(action_store: OpsStore) -> None:
    entities = [{"entity": "instead_of", "value": "ask_how_to_activate"}]
    run(ActionAnswerTopic(), tracker("report_card_problem", "/report_card_problem", entities=entities))
    forged = [{"entity": "instead_of", "value": "<b>not a topic</b>"}]
    events = [user("社保卡刷不了", "report_card_problem")]
    run(ActionAnswerTopic(), tracker("report_card_problem", "/x", events=events, entities=forged))
    assert action_store.count("review_items") == 0


def test_no_review_item_while_the_lookup_form_runs(action_store: OpsStore) -> None:
    t = tracker("nlu_fallback", NAME, ranking=[])
    t.active_loop = {"name": "card_status_form"}
    run(ActionSuggestTopics(), t)
    assert action_store.count("review_items") == 0


def test_asking_for_a_human_gives_a_code_that_opens_the_redacted_summary(action_store: OpsStore) -> None:
    events = [
        user("社保卡怎么激活", "ask_how_to_activate"),
        slot("topics", ["ask_how_to_activate"]),
        *LOOKUP_EVENTS,
        slot("identity_verified", True),
    ]
    messages, _ = run(
        ActionAnswerTopic(),
        tracker("request_human", "我要转人工", events=events, slots={"identity_verified": True, "region": "广州市"}),
    )
    text = "\n".join(m.get("text") or "" for m in messages)
    code = next(
        word for word in text.replace("：", " ").replace("（", " ").split() if len(word) == 6 and word.isupper()
    )
    assert "12333" in text and "24小时内有效" in text
    handoff = action_store.handoff(code)
    assert handoff is not None and handoff.identity_verified is True and handoff.region == "广州市"
    assert [t["intent"] for t in handoff.summary["topics"]] == ["ask_how_to_activate"]
    assert ID not in all_text(action_store) and NAME not in all_text(action_store)
    [item] = action_store.review_items()
    assert item.reason == "handoff" and item.text == "查询我的社保卡状态"


def test_answers_carry_a_feedback_marker_on_the_chat_page_and_a_prompt_once_on_wechat(action_store: OpsStore) -> None:
    messages, _ = run(ActionAnswerTopic(), tracker("ask_password", "密码忘了", channel="socketio"))
    assert messages[-1]["custom"] == {"data": {"feedback": {"answered": "ask_password"}}}
    messages, events = run(ActionAnswerTopic(), tracker("ask_password", "密码忘了", channel="wechat"))
    assert messages[-1]["text"] == "这个回答有帮助吗？回复序号："  # the channel numbers the buttons
    assert [b["payload"] for b in messages[-1]["buttons"]] == [
        '/feedback{"rating": "up"}',
        '/feedback{"rating": "down"}',
    ]
    assert SlotSet("feedback_offered", True) in events
    messages, events = run(
        ActionAnswerTopic(), tracker("ask_password", "密码忘了", channel="wechat", slots={"feedback_offered": True})
    )
    assert "回复序号" not in messages[-1]["text"]
    messages, _ = run(ActionAnswerTopic(), tracker("ask_password", "密码忘了", channel="rest"))
    assert all("custom" not in m or not m["custom"] for m in messages)


def test_a_store_that_is_down_costs_no_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = OpsStore(create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'ops.sqlite3'}", future=True))
    monkeypatch.setattr(operations, "_store", broken)
    messages, _ = run(ActionAnswerTopic(), tracker("request_human", "我要转人工"))
    text = "\n".join(m.get("text") or "" for m in messages)
    assert "12333" in text and "转人工编号" not in text
    messages, _ = run(ActionRecordFeedback(), tracker("feedback", "1", slots={"topics": ["ask_password"]}))
    assert messages[0]["text"].startswith("谢谢您的反馈")


# -- grouping and export -----------------------------------------------------------------------


def test_near_duplicates_are_grouped(store: OpsStore) -> None:
    for text in ["社保卡怎么激活？", "社保卡怎么激活啊", "社保卡怎麼激活", "养老金什么时候发"]:
        store.add_review_item(sender_id="g", channel="rest", reason="fallback", text=text)
    groups = group_items(store.review_items())
    assert sorted(len(g.items) for g in groups) == [1, 3]
    assert normalise("问：社保卡 激活？123") == "社保卡激活#"


def test_a_group_keeps_the_models_guess_apart_from_the_topic_people_chose(store: OpsStore) -> None:
    # a fallback with the model's guess, then the same question answered and corrected with "I meant: …"
    store.add_review_item(
        sender_id="a",
        channel="rest",
        reason="fallback",
        text="社保卡锁了咋办",
        guess="ask_password",
        guess_confidence=0.2,
    )
    store.add_review_item(
        sender_id="b", channel="rest", reason="runner_up", text="社保卡锁了咋办啊", guess="report_card_problem"
    )
    store.add_review_item(
        sender_id="c", channel="rest", reason="runner_up", text="社保卡锁了咋办", guess="report_card_problem"
    )
    (group,) = (g.as_dict() for g in group_items(store.review_items()))
    assert (group["guess"], group["guess_confidence"], group["chosen"]) == ("ask_password", 0.2, "report_card_problem")
    assert group["reasons"] == ["fallback", "runner_up"]
    store.add_review_item(sender_id="d", channel="rest", reason="fallback", text="养老金什么时候发")
    plain = next(g.as_dict() for g in group_items(store.review_items()) if g.latest.text == "养老金什么时候发")
    assert (plain["guess"], plain["guess_confidence"], plain["chosen"]) == (None, None, None)


def test_export_plan_skips_known_examples_and_lists_new_answers(store: OpsStore) -> None:
    texts = {
        "社保卡咋个激活嘛": "ask_how_to_activate",
        "你好": "ask_password",
        "公积金怎么取": OUT_OF_SCOPE,
        "三代卡能坐地铁吗": NEEDS_NEW_ANSWER,
        "how to activate my card pls": "ask_how_to_activate",
    }
    ids = {text: store.add_review_item(sender_id="e", channel="rest", reason="fallback", text=text) for text in texts}
    for text, label in texts.items():
        store.assign([ids[text]], label, "staff")  # type: ignore[list-item]
    plan = plan_export(
        store.review_items(assigned=True), ["ask_how_to_activate", "ask_password"], training_examples(ROOT / "data")
    )
    assert plan.examples["zh"] == {"ask_how_to_activate": ["社保卡咋个激活嘛"], OUT_OF_SCOPE: ["公积金怎么取"]}
    assert plan.examples["en"] == {"ask_how_to_activate": ["how to activate my card pls"]}
    assert plan.needs_new_answer == ["三代卡能坐地铁吗"]
    assert any(text == "你好" and "greet" in why for text, why in plan.skipped)
    parsed = yaml.safe_load(render_yaml(plan.examples["zh"], "zh"))
    assert parsed["nlu"][0]["intent"] == "ask_how_to_activate"


def test_make_export_reviewed_output_passes_rasa_data_validate(tmp_path: Path) -> None:
    db = tmp_path / "ops.sqlite3"
    store = OpsStore(create_engine(f"sqlite:///{db}", future=True))
    for text, label in [
        ("社保卡到底咋个激活嘛求解答", "ask_how_to_activate"),
        ("公积金贷款额度怎么算", OUT_OF_SCOPE),
        ("my card came in the mail, what now to switch it on", "ask_how_to_activate"),
        (f"身份证{ID}的卡激活没", "ask_card_status"),
    ]:
        item = store.add_review_item(sender_id="v", channel="rest", reason="fallback", text=text)
        store.assign([item], label, "staff")  # type: ignore[list-item]
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    for _ in range(2):  # a second run keeps the file as it is: nothing twice
        subprocess.run(
            [sys.executable, "scripts/export_reviewed.py", "--data", str(data), "--db", f"sqlite:///{db}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
    zh = yaml.safe_load((data / "nlu/zh/reviewed.yml").read_text(encoding="utf-8"))
    examples = {block["intent"]: block["examples"] for block in zh["nlu"]}
    assert "社保卡到底咋个激活嘛求解答" in examples["ask_how_to_activate"]
    assert examples["ask_how_to_activate"].count("社保卡到底咋个激活嘛求解答") == 1
    assert ID not in (data / "nlu/zh/reviewed.yml").read_text(encoding="utf-8")
    assert (data / "nlu/en/reviewed.yml").is_file()
    validate = subprocess.run(
        [
            str(ROOT / ".venv/bin/rasa"),
            "data",
            "validate",
            "--data",
            str(data),
            "--domain",
            str(ROOT / "domain.yml"),
            "--config",
            str(ROOT / "config.yml"),
            "--fail-on-warnings",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stdout[-3000:] + validate.stderr[-3000:]


# -- the dashboard -----------------------------------------------------------------------------


def test_dashboard_counts_per_day_and_channel(store: OpsStore) -> None:
    day = date(2026, 11, 30)
    messages = [
        Message(day, "rest", "c1", "ask_password"),
        Message(day, "rest", "c1", "nlu_fallback"),
        Message(day, "rest", "c2", "request_human"),
        Message(day, "wechat", "c3", "ask_password"),
        Message(day, "wechat", "c3", "feedback"),
        Message(day + timedelta(days=1), "rest", "c1", "ask_activation_fee"),
    ]
    at = datetime(2026, 11, 30, 8, tzinfo=timezone.utc)
    store.record_feedback(sender_id="c3", channel="wechat", rating="up", topics=["ask_password"], at=at)
    store.record_feedback(sender_id="c1", channel="rest", rating="down", topics=["ask_password"], at=at)
    store.add_review_item(sender_id="c1", channel="rest", reason="fallback", text="卡咋整", at=at)
    # answered with one topic, then "I meant: …" another: a corrected answer, not an unanswered question
    store.add_review_item(sender_id="c3", channel="wechat", reason="runner_up", text="医保卡异地能用吗", at=at)
    store.add_review_item(sender_id="c1", channel="rest", reason="thumbs_down", text="激活要钱吗", at=at)
    data = dashboard(
        messages,
        store.feedback(),
        store.review_items(),
        topics=["ask_password", "ask_activation_fee", "request_human"],
        since=day,
        until=day + timedelta(days=1),
    )
    rest = next(r for r in data["series"] if r["day"] == "2026-11-30" and r["channel"] == "rest")
    assert (
        rest["conversations"],
        rest["messages"],
        rest["answered"],
        rest["fallbacks"],
        rest["handoffs"],
        rest["down"],
    ) == (2, 3, 2, 1, 1, 1)
    wechat = next(r for r in data["series"] if r["channel"] == "wechat")
    assert (wechat["messages"], wechat["up"], wechat["corrected"]) == (1, 1, 1)  # a rating is no question
    assert rest["corrected"] == 0 and data["totals"]["corrected"] == 1
    assert data["totals"]["messages"] == 5 and data["totals"]["helpful_rate"] == 0.5
    assert data["top_topics"][0] == {"intent": "ask_password", "count": 2}
    assert data["top_unanswered"] == [{"text": "卡咋整", "count": 1}]
