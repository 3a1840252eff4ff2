"""Conversations with the running assistant over Rasa's REST webhook (action server + Rasa server).

Assertions are on what a person would read: the reply's content and its language.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from tests.support import (
    Stack,
    answers_topic,
    new_sender,
    question_with_runner_up,
    start_stack,
    stop_stack,
    texts,
    topic_answers,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
HAN = re.compile(r"[\u4e00-\u9fff]")
SAMPLE = list(csv.DictReader((ROOT / "data" / "registry" / "sample_cards.csv").open(encoding="utf-8")))


def is_chinese(text: str) -> bool:
    """Mostly Han characters (answers in Chinese), as opposed to English prose."""
    han = len(HAN.findall(text))
    latin = len(re.findall(r"[A-Za-z]{2,}", text))
    return han > latin


def is_english(text: str) -> bool:
    words = len(re.findall(r"[A-Za-z]{2,}", text))
    return words > 5 and words > len(HAN.findall(text))


def conversation(stack: Stack, *turns: str) -> list[str]:
    sender = new_sender()
    return [texts(stack.say(turn, sender)) for turn in turns]


# --- answers, languages, regions ----------------------------------------------------------------------


def test_chinese_question_gets_the_chinese_answer_with_its_legal_line(stack, kb):
    reply = texts(stack.say("社保卡在哪里激活"))
    assert answers_topic(reply, kb, "ask_how_to_activate", "zh")
    assert "⚖ 依据" in reply
    assert kb.phrase("region_invite", "zh") in reply
    assert is_chinese(reply)


def test_english_question_gets_the_english_answer(stack, kb):
    reply = texts(stack.say("Do I need to bring my ID card to activate?"))
    assert answers_topic(reply, kb, "ask_required_documents", "en")
    # the documents' article is only the general frame, and the line says so, in English
    assert kb.phrase("legal_line_frame", "en", citations="").split(":")[0] in reply
    assert is_english(reply)


def test_a_foreigner_asking_how_to_activate_is_told_to_bring_the_passport(stack, kb):
    """The issue's example: the answer names the foreigner's documents, not only "ID card"."""
    reply = texts(stack.say("I am a foreigner with a passport, how do I activate my card?"))
    assert answers_topic(reply, kb, "ask_how_to_activate", "en") or answers_topic(
        reply, kb, "ask_required_documents", "en"
    )
    assert "passport" in reply.lower() and is_english(reply)
    reply = texts(stack.say("我是外国人，拿护照怎么激活社保卡？"))
    assert "护照" in reply and is_chinese(reply)


def test_a_question_between_two_topics_offers_the_second_and_a_tap_answers_it(stack, kb):
    question, button, answered, offered = question_with_runner_up(stack)
    language = "zh" if is_chinese(question) else "en"
    assert offered != answered and {answered, offered} <= set(kb.topics)
    assert button["title"] == kb.phrase("runner_up_button", language, topic=kb.topics[offered]["title"][language])
    sender = new_sender()
    first = stack.say(question, sender)
    assert answers_topic(texts(first), kb, answered, language)
    assert first[-1]["buttons"][0] == button  # offered first, before the topic's related questions
    tapped = texts(stack.say(button["payload"], sender))
    assert answers_topic(tapped, kb, offered, language)
    assert not answers_topic(tapped, kb, answered, language)


def test_reply_language_follows_the_latest_message(stack, kb):
    first, second = conversation(stack, "社保卡丢了怎么挂失", "How much does activation cost?")
    assert is_chinese(first)
    assert answers_topic(second, kb, "ask_activation_fee", "en")


def test_explicit_switch_holds_for_later_messages_in_the_other_script(stack, kb):
    switched, answer = conversation(stack, "please answer in English", "社保卡密码忘了怎么办")
    assert switched == kb.phrase("language_switched", "en")
    assert answers_topic(answer, kb, "ask_password", "en")
    back = conversation(stack, "please answer in English", "说中文")[1]
    assert back == kb.phrase("language_switched", "zh")


def test_naming_the_city_adds_its_note_and_it_is_remembered(stack, kb):
    first, with_city, next_topic = conversation(stack, "社保卡在哪里激活", "我在上海", "激活要收费吗")
    shanghai = kb.notes_for("上海市", "ask_how_to_activate")[0]
    assert shanghai["zh"] not in first
    assert shanghai["zh"] in with_city and shanghai["source"] in with_city
    # The city is kept: the next answer speaks of Shanghai without being told again.
    assert answers_topic(next_topic, kb, "ask_activation_fee", "zh")
    assert "上海" in next_topic and kb.phrase("region_invite", "zh") not in next_topic


def test_city_named_in_english_is_normalised(stack, kb):
    reply = conversation(stack, "How do I activate my card?", "I'm in Guangzhou")[1]
    note = kb.notes_for("广州市", "ask_how_to_activate") or [None]
    assert "Guangzhou" in reply
    if note[0]:
        assert note[0]["en"] in reply


def test_conflicting_deadlines_are_regional_examples_not_a_national_rule(stack, kb):
    reply = texts(stack.say("拿到卡多久内要激活"))
    assert kb.phrase("variations_heading", "zh") in reply
    topic = kb.topics["ask_activation_deadline"]
    known = list(topic["variations"]) + [
        v for e in kb.entries("ask_activation_deadline") for v in e.get("variations") or []
    ]
    shown = [v for v in known if v["rule"]["zh"] in reply]
    assert 1 <= len({v["rule"]["zh"] for v in shown}) <= 3  # at most three examples, each with its source
    assert all(v["source"] in reply for v in shown)
    national = kb.topics["ask_activation_deadline"]["answer"]["zh"]
    assert "300天内" not in national


def test_legal_basis_follow_up_quotes_the_full_articles(stack, kb):
    reply = conversation(stack, "社保卡丢了怎么补办", "这有什么法律依据")[1]
    for ref in kb.topics["ask_lost_or_replace_card"]["legal_basis"]:
        law, article = kb.articles[ref]
        assert article["text"]["zh"].strip() in reply
        assert law["name"]["zh"] in reply and law["date"] in reply


def test_legal_basis_without_a_topic_lists_the_laws(stack, kb):
    reply = texts(stack.say("Which law is this based on?"))
    for law in kb.laws.values():
        assert law["name"]["en"] in reply


def test_request_human_gives_12333_and_the_local_hotline(stack, kb):
    reply = conversation(stack, "我在杭州", "转人工")[1]
    assert kb.service["hotline"]["number"] in reply
    assert kb.regions["杭州市"]["hotline"]["number"] in reply


def test_out_of_scope_points_to_12333(stack, kb):
    reply = texts(stack.say("明天北京天气怎么样"))
    assert kb.service["scope"]["zh"] in reply


def test_gibberish_gets_two_topic_suggestions(stack, kb):
    messages = stack.say("asdfgh qwerty")
    assert messages[0]["text"] == kb.phrase("fallback", "en")
    assert len(messages[0]["buttons"]) == 2
    assert all(
        b["payload"].startswith("/ask_") or b["payload"] == "/report_card_problem" or b["payload"] == "/request_human"
        for b in messages[0]["buttons"]
    )
    # A suggestion button answers its topic (the legal-basis one lists the laws instead: not that one).
    button = next(b for b in messages[0]["buttons"] if b["payload"] != "/ask_legal_basis")
    topic = button["payload"][1:]
    reply = texts(stack.say(button["payload"]))
    assert answers_topic(reply, kb, topic, "zh") or answers_topic(reply, kb, topic, "en")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "😀😀😀",
        "<script>alert('x')</script>",
        "\x00\x07\x1b[31m",
        "激活" * 5000,
        "a" * 10000,
        "<b>社保卡</b>怎么激活",
    ],
    ids=["empty", "spaces", "emoji", "script", "control", "10k-chinese", "10k-latin", "markup-around-question"],
)
def test_bad_input_gets_a_clear_reply_never_silence_or_markup(stack, bad):
    messages = stack.say(bad)
    assert messages, "the assistant went silent"
    reply = texts(messages)
    assert reply.strip()
    assert "<script" not in reply and "<b>" not in reply


def test_bad_input_does_not_lose_the_conversation(stack, kb):
    sender = new_sender()
    stack.say("我在上海", sender)
    stack.say("", sender)
    stack.say("\x00" * 50, sender)
    reply = texts(stack.say("社保卡在哪里激活", sender))
    assert kb.notes_for("上海市", "ask_how_to_activate")[0]["zh"] in reply


# --- card status lookups ------------------------------------------------------------------------------


def card(status: str) -> dict:
    return next(row for row in SAMPLE if row["status"] == status)


def lookup(
    stack: Stack, id_number: str, name: str, ask: str = "帮我查一下我的社保卡状态", sender: str | None = None
) -> list[str]:
    sender = sender or new_sender()
    return [texts(stack.say(turn, sender)) for turn in (ask, id_number, name)]


@pytest.mark.parametrize("status", sorted({row["status"] for row in SAMPLE}))
def test_every_status_is_explained_in_chinese(stack, kb, status):
    row = card(status)
    asked, after_id, result = lookup(stack, row["id_number"], row["name"])
    assert asked == kb.phrase("ask_id_number", "zh")
    assert after_id == kb.phrase("ask_holder_name", "zh")
    assert kb.card_status[status]["zh"].split("{")[0] in result
    assert row["id_number"][:6] + "********" + row["id_number"][-4:] in result
    assert row["id_number"] not in result and row["name"] not in result


@pytest.mark.parametrize("status", ["issued_not_activated", "reported_lost", "social_enabled", "ready_for_collection"])
def test_statuses_are_explained_in_english(stack, kb, status):
    row = card(status)
    asked, _, result = lookup(stack, row["id_number"], row["name"], ask="check my card status")
    assert asked == kb.phrase("ask_id_number", "en")
    assert kb.card_status[status]["en"].split("{")[0] in result


def test_zhang_san_gets_his_deadline(stack):
    result = lookup(stack, "11010519491231002X", "张三")[2]
    assert "2027-06-30" in result and "110105********002X" in result and "张*" in result


def test_bad_check_digit_says_so_and_asks_again(stack, kb):
    sender = new_sender()
    stack.say("check my card status", sender)
    reply = texts(stack.say("11010519491231002Y", sender))
    assert kb.phrase("id_problem_characters", "en") in reply
    reply = texts(stack.say("110105194912310021", sender))
    assert kb.phrase("id_problem_check_digit", "en") in reply
    assert kb.phrase("ask_id_number", "en") in reply


def test_wrong_name_and_unknown_id_look_the_same(stack, kb):
    wrong_name = lookup(stack, "11010519491231002X", "王小明")[2]
    unknown_id = lookup(stack, "110105199001010010", "张三")[2]
    assert wrong_name == unknown_id == kb.phrase("lookup_no_match", "zh")


def test_three_failures_lock_the_conversation_even_for_the_right_name(stack, kb):
    sender = new_sender()
    for _ in range(3):
        lookup(stack, "11010519491231002X", "王小明", sender=sender)
    reply = texts(stack.say("帮我查一下我的社保卡状态", sender))
    assert reply == kb.phrase("lookup_locked", "zh", minutes="30")
    # Restarting the conversation does not lift the lock: it is kept server-side.
    stack.say("/restart", sender)
    reply = texts(stack.say("帮我查一下我的社保卡状态", sender))
    assert reply == kb.phrase("lookup_locked", "zh", minutes="30")


def domain_response(name: str, language: str) -> str:
    responses = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"][name]
    conditional = [r for r in responses if r.get("condition")]
    plain = [r for r in responses if not r.get("condition")]
    return (conditional if language == "en" else plain)[0]["text"]


@pytest.mark.parametrize(
    ("ask", "cancel", "language"),
    [("帮我查一下我的社保卡状态", "算了", "zh"), ("check my card status", "cancel", "en")],
)
def test_cancel_mid_form(stack, kb, ask, cancel, language):
    sender = new_sender()
    stack.say(ask, sender)
    stack.say("11010519491231002X", sender)
    assert texts(stack.say(cancel, sender)) == domain_response("utter_lookup_cancelled", language)
    reply = texts(stack.say("社保卡在哪里激活", sender))
    assert answers_topic(reply, kb, "ask_how_to_activate", "zh")


def test_each_lookup_needs_the_id_and_name_again(stack, kb):
    sender = new_sender()
    lookup(stack, "11010519491231002X", "张三", sender=sender)
    assert texts(stack.say("帮我查一下我的社保卡状态", sender)) == kb.phrase("ask_id_number", "zh")


def test_no_raw_id_or_name_in_the_tracker_store_or_logs(stack):
    lookup(stack, "11010519491231002X", "张三")
    lookup(stack, "440524188001010014", "李四", ask="check my card status")
    stack.say("my id is 11010519491231002X")  # outside the form, too
    stored = stack.tracker_db.read_bytes()
    assert stored, "the tracker store wrote nothing"
    for secret in ("11010519491231002X", "440524188001010014", "张三", "李四"):
        encoded = [secret.encode(), secret.encode("unicode_escape")]
        assert not any(e in stored for e in encoded), f"{secret} in the tracker store"
        for log in stack.logs:
            assert secret not in log.read_text(errors="replace"), f"{secret} in {log.name}"
        assert secret.encode() not in stack.registry_db.read_bytes()


@pytest.fixture(scope="module")
def stack_without_registry(tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("no-registry"),
        {"CARD_REGISTRY_URL": "postgresql://nobody@127.0.0.1:1/registry"},
    )
    yield running
    stop_stack(running)


def test_registry_down_says_so_and_the_conversation_goes_on(stack_without_registry, kb):
    sender = new_sender()
    reply = texts(stack_without_registry.say("帮我查一下我的社保卡状态", sender))
    assert reply == kb.phrase("lookup_unavailable", "zh")
    reply = texts(stack_without_registry.say("社保卡在哪里激活", sender))
    assert answers_topic(reply, kb, "ask_how_to_activate", "zh")


# --- several questions at once, traditional characters -------------------------------------------------


def _first_line(kb, topic: str, language: str) -> str:
    return kb.topics[topic]["answer"][language].strip().splitlines()[0]


def test_two_questions_in_chinese_get_both_answers_in_order_for_the_city(stack, kb):
    sender = new_sender()
    reply = texts(stack.say("我在揭阳，社保卡怎么激活？要带什么？", sender))
    how, documents = _first_line(kb, "ask_how_to_activate", "zh"), _first_line(kb, "ask_required_documents", "zh")
    assert how in reply and documents in reply and reply.index(how) < reply.index(documents)
    # the city applies to both: its notes (or "no local information" for it), never the invitation to
    # name one; a line for the city that both answers share is said once
    assert "揭阳" in reply.split(documents)[0]
    city_lines = [line for line in reply.splitlines() if "揭阳" in line]
    assert city_lines and len(city_lines) == len(set(city_lines))
    assert kb.phrase("region_invite", "zh") not in reply
    assert reply.count("⚖") == 1
    legal = texts(stack.say("有什么法律依据", sender))
    for topic in ("ask_how_to_activate", "ask_required_documents"):
        assert kb.topics[topic]["title"]["zh"] in legal


def test_two_questions_in_english_get_both_answers(stack, kb):
    reply = texts(stack.say("How do I activate my card? What documents do I need to bring?"))
    how, documents = _first_line(kb, "ask_how_to_activate", "en"), _first_line(kb, "ask_required_documents", "en")
    assert how in reply and documents in reply and reply.index(how) < reply.index(documents)
    assert is_english(reply)


def test_a_question_in_traditional_characters_is_answered_in_them(stack, kb):
    from core.language import to_traditional

    reply = texts(stack.say("激活需要帶什麼證件？"))
    lines = [answer.splitlines()[0] for answer in topic_answers(kb, "ask_required_documents", "zh")]
    assert any(to_traditional(line) in reply for line in lines)
    assert not any(line in reply for line in lines if to_traditional(line) != line)


# --- malformed requests get 400 with a reason, never silence ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"sender": "x", "message": 42}, '"message" must be a string'),
        ({"sender": "x", "message": None}, '"message" must be a string'),
        ({"sender": "x"}, '"message" must be a string'),
        ({"message": "你好"}, '"sender" must be a non-empty string'),
        ({"sender": ["a"], "message": "你好"}, '"sender" must be a non-empty string'),
        ({"sender": "x" * 300, "message": "你好"}, '"sender" is longer than 256'),
        ({"sender": "x", "message": "问" * 20_001}, '"message" is longer than 20000'),
        (["not", "an", "object"], "the body must be a JSON object"),
    ],
)
def test_malformed_rest_bodies_get_400_with_the_reason(stack, body, reason):
    import requests

    response = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
    assert response.status_code == 400
    assert reason in response.json()["message"]


def test_a_body_that_is_not_json_gets_400(stack):
    import requests

    response = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    # and the assistant still answers the next well-formed message
    assert texts(stack.say("你好"))
