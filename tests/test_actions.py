"""Custom actions through rasa-sdk's CollectingDispatcher: the exact texts and events they produce."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import status_lookup
from actions.actions import (
    ActionAnswerTopic,
    ActionLegalBasis,
    ActionOutOfScope,
    ActionSuggestTopics,
    ActionSwitchLanguage,
    ValidateSlotMappings,
)
from actions.status_lookup import ActionCardStatusLookup, ValidateCardStatusForm
from core.card_registry import CardRegistry, hash_id_number, hash_name
from core.compose import MAX_EXAMPLES, compose_answers, compose_entry, quote_articles
from core.import_cards import import_csv
from core.language import to_traditional

ROOT = Path(__file__).resolve().parent.parent
SECRET = "actions-test-secret"


def make_tracker(
    intent: str | None = None,
    text: str = "",
    slots: dict[str, Any] | None = None,
    entities: list[dict] | None = None,
    ranking: list[dict] | None = None,
    sender: str = "tester",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": ranking or [],
    }
    return Tracker(sender, {"language": "zh", **(slots or {})}, latest, [], False, None, {}, "action_listen")


def run(action, tracker: Tracker) -> tuple[list[dict], list]:
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, tracker, {})
    events = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return dispatcher.messages, events


def region_entity(value: str) -> dict:
    return {"entity": "region", "value": value}


def topic_entity(value: str) -> dict:
    return {"entity": "question_topic", "value": value}


# --- answers ----------------------------------------------------------------------------------------


def test_topic_answer_without_region_gives_variations_and_invites_a_city(kb):
    messages, events = run(ActionAnswerTopic(), make_tracker("ask_activation_deadline", "拿到卡多久内要激活"))
    text = "\n".join(m["text"] for m in messages)
    entry = kb.topics["ask_activation_deadline"]
    assert entry["answer"]["zh"].strip() in text
    for variation in entry["variations"][:MAX_EXAMPLES]:
        assert variation["source"] in text  # every conflicting figure shown comes with its source
    assert kb.phrase("region_invite", "zh") in text
    assert messages[-1]["text"].startswith("⚖")
    assert events == [
        SlotSet("topic", "ask_activation_deadline"),
        SlotSet("topics", ["ask_activation_deadline"]),
        SlotSet("entry", None),
    ]


def test_topic_answer_in_english_with_region_note(kb):
    tracker = make_tracker("ask_how_to_activate", "how do I activate", {"language": "en", "region": "上海市"})
    messages, _ = run(ActionAnswerTopic(), tracker)
    text = "\n".join(m["text"] for m in messages)
    assert kb.topics["ask_how_to_activate"]["answer"]["en"].strip() in text
    shanghai = kb.notes_for("上海市", "ask_how_to_activate")[0]
    assert shanghai["en"] in text and shanghai["source"] in text
    assert "Shanghai" in text
    assert kb.phrase("region_invite", "en") not in text
    assert [m["text"] for m in messages] == compose_entry(kb, "ask_how_to_activate", None, "en", "上海市")


def test_naming_a_city_re_answers_the_last_topic_for_that_city(kb):
    tracker = make_tracker(
        "inform", "我在上海", {"region": "上海市", "topic": "ask_how_to_activate"}, [region_entity("上海市")]
    )
    messages, events = run(ActionAnswerTopic(), tracker)
    assert [m["text"] for m in messages] == compose_entry(kb, "ask_how_to_activate", None, "zh", "上海市")
    assert events == [
        SlotSet("topic", "ask_how_to_activate"),
        SlotSet("topics", ["ask_how_to_activate"]),
        SlotSet("entry", None),
    ]


def test_naming_a_city_before_any_topic_acknowledges_it_and_offers_topics(kb):
    tracker = make_tracker("inform", "揭阳", {"region": "揭阳市"}, [region_entity("揭阳市")])
    messages, events = run(ActionAnswerTopic(), tracker)
    assert messages[0]["text"] == kb.phrase("region_noted", "zh", region="揭阳市")
    assert [b["payload"] for b in messages[0]["buttons"]][0] == "/ask_how_to_activate"
    assert events == []


def test_inform_without_a_city_explains_what_to_do(kb):
    messages, _ = run(ActionAnswerTopic(), make_tracker("inform", "张三", {"language": "zh"}))
    assert messages[0]["text"] == kb.phrase("inform_without_region", "zh")


def test_request_human_adds_the_local_hotline(kb):
    messages, _ = run(ActionAnswerTopic(), make_tracker("request_human", "转人工", {"region": "上海市"}))
    text = "\n".join(m["text"] for m in messages)
    assert kb.service["hotline"]["number"] in text
    assert kb.regions["上海市"]["hotline"]["number"] in text


def test_legal_basis_after_a_topic_quotes_the_articles_in_full(kb):
    tracker = make_tracker("ask_legal_basis", "有什么法律依据", {"topic": "ask_lost_or_replace_card"})
    messages, _ = run(ActionLegalBasis(), tracker)
    text = "\n".join(m["text"] for m in messages)
    assert [m["text"] for m in messages] == quote_articles(kb, "ask_lost_or_replace_card", "zh")
    for ref in kb.topics["ask_lost_or_replace_card"]["legal_basis"]:
        law, article = kb.articles[ref]
        assert article["text"]["zh"].strip() in text
        assert law["issuer"]["zh"] in text and law["date"] in text


def test_legal_basis_without_a_topic_lists_laws_and_is_honest(kb):
    messages, _ = run(ActionLegalBasis(), make_tracker("ask_legal_basis", "which law", {"language": "en"}))
    text = "\n".join(m["text"] for m in messages)
    for law in kb.laws.values():
        assert law["name"]["en"] in text
    assert kb.phrase("legal_national_gap", "en") in text
    assert messages[-1]["buttons"]


# --- a topic the classifier nearly chose ---------------------------------------------------------------


def ranked(*pairs: tuple[str, float]) -> list[dict]:
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


def answer_buttons(tracker: Tracker) -> list[dict]:
    messages, _ = run(ActionAnswerTopic(), tracker)
    return messages[-1].get("buttons") or []


def test_a_close_runner_up_topic_is_offered_first_under_the_answer(kb):
    # "I am a foreigner with a passport, how do I activate my card?" ranked so: which topic it is
    # meant is not clear, and the documents' answer is one tap away.
    ranking = ranked(("ask_how_to_activate", 0.42), ("ask_required_documents", 0.35), ("out_of_scope", 0.08))
    tracker = make_tracker("ask_how_to_activate", "foreigner with a passport, how to activate", {"language": "en"})
    tracker.latest_message["intent_ranking"] = ranking
    buttons = answer_buttons(tracker)
    title = kb.topics["ask_required_documents"]["title"]["en"]
    assert buttons[0] == {
        "title": kb.phrase("runner_up_button", "en", topic=title),
        "payload": '/ask_required_documents{"instead_of": "ask_how_to_activate"}',
    }
    assert title in buttons[0]["title"] and buttons[0]["title"].startswith("I meant")
    # the topic's own related questions follow, as many as without the runner-up
    related = [b for b in buttons[1:] if b["payload"].startswith('/ask_how_to_activate{"question_entry"')]
    assert len(related) == len(buttons) - 1 == min(3, len(kb.entries("ask_how_to_activate")))


@pytest.mark.parametrize(
    "ranking",
    [
        ranked(("ask_password", 0.8), ("ask_electronic_card", 0.39)),  # under half: a clear answer
        ranked(("ask_password", 0.5), ("out_of_scope", 0.45)),  # a runner-up that is no topic
        ranked(("ask_password", 0.5), ("greet", 0.45)),
        ranked(("ask_password", 0.9)),  # a button's payload: one intent
        [],
    ],
)
def test_no_runner_up_button_for_a_clear_answer_or_a_runner_up_that_is_no_topic(kb, ranking):
    tracker = make_tracker("ask_password", "密码忘了", ranking=ranking)
    payloads = [b["payload"] for b in answer_buttons(tracker)]
    assert payloads and all(p.startswith('/ask_password{"question_entry"') for p in payloads)


def test_the_fallback_intent_in_the_ranking_is_passed_over(kb):
    ranking = ranked(("nlu_fallback", 0.3), ("ask_password", 0.6), ("ask_electronic_card", 0.5))
    tracker = make_tracker("ask_password", "电子卡密码", ranking=ranking)
    assert answer_buttons(tracker)[0]["payload"] == '/ask_electronic_card{"instead_of": "ask_password"}'
    assert answer_buttons(tracker)[0]["title"] == kb.phrase(
        "runner_up_button", "zh", topic=kb.topics["ask_electronic_card"]["title"]["zh"]
    )


def test_no_runner_up_button_when_several_questions_were_answered_or_a_city_named(kb):
    asked = ["ask_how_to_activate", "ask_required_documents"]
    ranking = ranked(("ask_how_to_activate", 0.9), ("ask_required_documents", 0.9), ("ask_password", 0.5))
    tracker = make_tracker("ask_how_to_activate", "怎么激活？要带什么？", entities=[topic_entity(t) for t in asked])
    tracker.latest_message["intent_ranking"] = ranking
    messages, _ = run(ActionAnswerTopic(), tracker)
    assert not any(m.get("buttons") for m in messages)
    # "我在上海" re-answers the last topic: its ranking is about `inform`, not about a topic
    ranking = ranked(("inform", 0.6), ("ask_other_region", 0.5))
    tracker = make_tracker(
        "inform", "我在上海", {"region": "上海市", "topic": "ask_how_to_activate"}, [region_entity("上海市")], ranking
    )
    assert all("question_entry" in b["payload"] for b in answer_buttons(tracker))


def test_the_runner_up_button_is_in_traditional_characters_for_a_traditional_writer(kb):
    ranking = ranked(("ask_lost_or_replace_card", 0.5), ("report_card_problem", 0.4))
    tracker = make_tracker("ask_lost_or_replace_card", "卡壞了", {"script": "traditional"}, ranking=ranking)
    button = answer_buttons(tracker)[0]
    assert button["payload"] == '/report_card_problem{"instead_of": "ask_lost_or_replace_card"}'
    assert button["title"] == to_traditional(
        kb.phrase("runner_up_button", "zh", topic=kb.topics["report_card_problem"]["title"]["zh"])
    )


# --- fallback, scope, language -----------------------------------------------------------------------


def test_fallback_offers_the_two_most_likely_topics(kb):
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.3},
        {"name": "greet", "confidence": 0.25},
        {"name": "ask_password", "confidence": 0.2},
        {"name": "ask_electronic_card", "confidence": 0.18},
        {"name": "ask_activation_fee", "confidence": 0.1},
    ]
    messages, _ = run(ActionSuggestTopics(), make_tracker("nlu_fallback", "电子卡密码咋整", ranking=ranking))
    assert messages[0]["text"] == kb.phrase("fallback", "zh")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/ask_password", "/ask_electronic_card"]
    assert messages[0]["buttons"][0]["title"] == kb.topics["ask_password"]["title"]["zh"]


@pytest.mark.parametrize("text", ["", "😀😀😀", "？？？"])
def test_no_words_asks_for_a_question(kb, text):
    messages, _ = run(ActionSuggestTopics(), make_tracker("nlu_fallback", text, {"language": "en"}))
    assert messages[0]["text"] == kb.phrase("no_words", "en")
    assert len(messages[0]["buttons"]) == 3


def test_out_of_scope_says_what_is_covered_and_where_to_go(kb):
    messages, _ = run(ActionOutOfScope(), make_tracker("out_of_scope", "明天天气怎么样"))
    assert kb.service["scope"]["zh"] in messages[0]["text"]
    assert kb.service["hotline"]["number"] in messages[0]["text"]


def test_switch_language_confirms_in_the_new_language(kb):
    messages, _ = run(ActionSwitchLanguage(), make_tracker("switch_language", "English please", {"language": "en"}))
    assert messages[0]["text"] == kb.phrase("language_switched", "en")


def _validate(method: str, value: Any, tracker: Tracker) -> dict:
    return getattr(ValidateSlotMappings(), method)(value, CollectingDispatcher(), tracker, {})


def _language(tracker: Tracker) -> dict:
    return ValidateSlotMappings().extract_language(CollectingDispatcher(), tracker, {})


def test_explicit_switch_pins_the_language():
    tracker = make_tracker("switch_language", "please answer in English")
    assert _language(tracker) == {"language": "en", "language_pinned": "en"}
    assert _language(make_tracker("switch_language", "说中文", {"language": "en"})) == {
        "language": "zh",
        "language_pinned": "zh",
    }


def test_the_chat_page_toggle_payload_pins_the_language():
    tracker = make_tracker(
        "switch_language", '/switch_language{"language":"en"}', entities=[{"entity": "language", "value": "en"}]
    )
    assert _language(tracker) == {"language": "en", "language_pinned": "en"}


def test_pinned_language_survives_a_message_in_the_other_script():
    tracker = make_tracker("ask_password", "密码", {"language": "en", "language_pinned": "en"})
    assert _language(tracker) == {"language": "en"}


def test_unpinned_language_follows_the_latest_message():
    assert _language(make_tracker("greet", "hello")) == {"language": "en"}
    assert _language(make_tracker("ask_password", "我的social security card密码忘了怎么办")) == {"language": "zh"}


@pytest.mark.parametrize("text", ["😀😀", "/ask_password", "11010519491231002X"])
def test_no_letters_or_a_button_payload_keep_the_language(text):
    assert _language(make_tracker("inform", text, {"language": "en"})) == {}


def test_language_does_not_change_inside_the_lookup_form():
    tracker = make_tracker("inform", "John Smith")
    tracker.active_loop = {"name": "card_status_form"}
    assert _language(tracker) == {}


def test_a_city_wins_over_its_province():
    tracker = make_tracker("inform", "广西南宁", entities=[region_entity("广西壮族自治区"), region_entity("南宁市")])
    assert _validate("validate_region", "广西壮族自治区", tracker) == {"region": "南宁市"}


# --- card status form and lookup ---------------------------------------------------------------------


@pytest.fixture()
def registry(tmp_path, monkeypatch) -> CardRegistry:
    registry = CardRegistry(f"sqlite:///{tmp_path / 'registry.sqlite3'}", secret=SECRET)
    registry.create_schema()
    report = import_csv(ROOT / "data" / "registry" / "sample_cards.csv", registry)
    assert report.ok
    monkeypatch.setattr(status_lookup, "registry", lambda: registry)
    return registry


def _form_validate(method: str, value: str, language: str = "zh") -> tuple[dict, list[dict]]:
    dispatcher = CollectingDispatcher()
    result = getattr(ValidateCardStatusForm(), method)(
        value, dispatcher, make_tracker(slots={"language": language}), {}
    )
    return result, dispatcher.messages


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("11010519491231002", "length"),
        ("11010519491231002Y", "characters"),
        ("99010519491231002X", "region_code"),
        ("110105194902300021", "birth_date"),
        ("110105194912310021", "check_digit"),
    ],
)
def test_invalid_id_numbers_say_what_is_wrong(kb, registry, raw, problem):
    result, messages = _form_validate("validate_id_digest", raw)
    assert result == {"id_digest": None}
    assert messages[0]["text"] == kb.phrase(f"id_problem_{problem}", "zh")


def test_valid_id_becomes_a_digest_and_a_mask(registry):
    result, messages = _form_validate("validate_id_digest", "11010519491231002x")
    assert messages == []
    assert result["id_digest"] == hash_id_number("11010519491231002X", SECRET)
    assert result["id_masked"] == "110105********002X"
    assert "11010519491231002" not in str(result)


def test_name_becomes_a_digest_and_a_mask(registry):
    result, _ = _form_validate("validate_name_digest", "张三")
    assert result == {"name_digest": hash_name("张三", SECRET), "name_masked": "张*"}


def _lookup_tracker(id_number: str, name: str, language: str = "zh", sender: str = "lookup-test") -> Tracker:
    slots = {
        "language": language,
        "id_digest": hash_id_number(id_number, SECRET),
        "name_digest": hash_name(name, SECRET),
        "id_masked": id_number[:6] + "********" + id_number[-4:],
        "name_masked": name[0] + "*",
    }
    return make_tracker(slots=slots, sender=sender)


CLEARED = [SlotSet(s, None) for s in ("id_digest", "name_digest", "id_masked", "name_masked")]


def test_lookup_reports_status_next_step_and_deadline(kb, registry):
    messages, events = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三"))
    text = "\n".join(m["text"] for m in messages)
    assert "110105********002X" in text and "张*" in text
    assert kb.card_status["issued_not_activated"]["zh"] in text
    assert "2027-06-30" in text
    assert "11010519491231002X" not in text and "张三" not in text
    # the next lookup needs the ID and the name again; a handoff may say identity was verified
    assert events == CLEARED + [SlotSet("identity_verified", True)]


def test_lookup_in_english_for_a_lost_card(kb, registry):
    messages, _ = run(ActionCardStatusLookup(), _lookup_tracker("440524188001010014", "李四", "en"))
    text = "\n".join(m["text"] for m in messages)
    assert kb.card_status["reported_lost"]["en"] in text
    assert "Shantou" in text


def test_wrong_name_and_unknown_id_get_identical_replies(kb, registry):
    wrong_name, _ = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "王五", sender="a"))
    unknown_id, _ = run(ActionCardStatusLookup(), _lookup_tracker("110105199001010010", "张三", sender="b"))
    assert wrong_name == unknown_id == [{**wrong_name[0], "text": kb.phrase("lookup_no_match", "zh")}]


def test_three_failures_lock_the_conversation(kb, registry):
    for _ in range(3):
        run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "王五", sender="locked"))
    messages, _ = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三", sender="locked"))
    assert messages[0]["text"] == kb.phrase("lookup_locked", "zh", minutes="30")
    # Another conversation is not affected.
    messages, _ = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三", sender="other"))
    assert any(kb.card_status["issued_not_activated"]["zh"] in m["text"] for m in messages)


def test_the_lock_lifts_after_thirty_minutes(kb, registry):
    past = datetime.now(timezone.utc) - timedelta(minutes=31)
    for _ in range(3):
        registry.record_attempt("lifted", False, at=past)
    messages, _ = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三", sender="lifted"))
    assert any(kb.card_status["issued_not_activated"]["zh"] in m["text"] for m in messages)


def test_ten_lookups_an_hour_at_most(kb, registry):
    for _ in range(10):
        run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三", sender="busy"))
    messages, _ = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三", sender="busy"))
    assert messages[0]["text"].startswith(kb.phrase("lookup_rate_limited", "zh", minutes="60")[:12])


def test_form_asks_nothing_while_locked(registry):
    for _ in range(3):
        registry.record_attempt("locked-form", False)
    slots = asyncio.run(
        ValidateCardStatusForm().required_slots(
            ["id_digest", "name_digest"], CollectingDispatcher(), make_tracker(sender="locked-form"), {}
        )
    )
    assert slots == []


def test_registry_down_is_said_plainly(kb, monkeypatch):
    down = CardRegistry("postgresql://nobody@127.0.0.1:1/none", secret=SECRET)
    monkeypatch.setattr(status_lookup, "registry", lambda: down)
    messages, events = run(ActionCardStatusLookup(), _lookup_tracker("11010519491231002X", "张三"))
    assert messages[0]["text"] == kb.phrase("lookup_unavailable", "zh")
    assert events == CLEARED


@pytest.mark.parametrize(
    "typed", ["身份证号是11010519491231002X", "My ID number is 11010519491231002x.", "110105 19491231 002X"]
)
def test_id_number_typed_with_a_lead_in(registry, typed):
    result, messages = _form_validate("validate_id_digest", typed)
    assert messages == []
    assert result["id_digest"] == hash_id_number("11010519491231002X", SECRET)


@pytest.mark.parametrize("typed", ["我叫张三", "姓名：张三", "张三。", "my name is 张三"])
def test_name_typed_with_a_lead_in(registry, typed):
    result, _ = _form_validate("validate_name_digest", typed)
    assert result["name_digest"] == hash_name("张三", SECRET)


# --- foreigners' permanent residence IDs and HK/Macao/Taiwan residence permits -----------------------

# The made-up sample cards of data/registry/sample_cards.csv.
FOREIGNER = ("911840198506120015", "SMITH JOHN", "911***********0015", "ready_for_collection")
TAIWAN_RESIDENT = ("830000199003150027", "林雅婷", "830000********0027", "issued_not_activated")


def _form_then_lookup(id_typed: str, name_typed: str, language: str = "zh") -> tuple[str, list]:
    """The form's two validations, then the lookup on the slots they set: the reply and every event."""
    id_slots, id_messages = _form_validate("validate_id_digest", id_typed, language)
    name_slots, name_messages = _form_validate("validate_name_digest", name_typed, language)
    assert id_messages == [] and name_messages == []
    tracker = make_tracker(slots={"language": language, **id_slots, **name_slots}, sender=f"lookup-{id_typed}")
    messages, events = run(ActionCardStatusLookup(), tracker)
    return "\n".join(m["text"] for m in messages), [id_slots, name_slots, *events]


@pytest.mark.parametrize(
    ("card", "id_typed", "name_typed", "masked_name"),
    [
        (FOREIGNER, "911840198506120015", "SMITH JOHN", "S**** J***"),
        # the comma of "SURNAME, GIVEN NAMES" is ignored by the digest and kept in the masked form
        (FOREIGNER, "My permanent residence ID is 911840 19850612 0015", "my name is SMITH, JOHN", "S****, J***"),
        (TAIWAN_RESIDENT, "830000199003150027", "林雅婷", "林**"),
        (TAIWAN_RESIDENT, "台湾居民居住证号码：８３００００１９９００３１５００２７", "我叫林雅婷", "林**"),
    ],
    ids=["foreigner", "foreigner-typed-loosely", "taiwan", "taiwan-full-width"],
)
def test_the_form_accepts_a_foreigner_id_and_a_taiwan_permit_and_finds_the_card(
    kb, registry, card, id_typed, name_typed, masked_name
):
    number, name, masked_id, status = card
    text, events = _form_then_lookup(id_typed, name_typed)
    assert masked_id in text and masked_name in text
    assert kb.card_status[status]["zh"].split("{")[0] in text
    assert events[0] == {"id_digest": hash_id_number(number, SECRET), "id_masked": masked_id}
    assert events[1] == {"name_digest": hash_name(name, SECRET), "name_masked": masked_name}
    assert SlotSet("identity_verified", True) in events
    for raw in (number, name, number[6:14], id_typed, name_typed):
        assert raw not in text and raw not in str(events), raw


def test_the_foreigner_card_is_explained_in_english(kb, registry):
    text, _ = _form_then_lookup(FOREIGNER[0], "Smith John", language="en")
    assert kb.card_status["ready_for_collection"]["en"].split("{")[0] in text
    assert "911***********0015" in text and "S**** J***" in text


def test_the_name_order_of_the_registry_counts(kb, registry):
    # "JOHN SMITH" is another name than "SMITH JOHN": the reply is the usual no-match one.
    text, _ = _form_then_lookup(FOREIGNER[0], "JOHN SMITH")
    assert text == kb.phrase("lookup_no_match", "zh")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("911840198506120016", "check_digit"),  # the foreigner's sample with a wrong check character
        ("830000199003150028", "check_digit"),
        ("911999198506120011", "nationality_code"),
        ("971840198506120016", "region_code"),
        ("830100199003150022", "region_code"),
        ("911840198513120013", "birth_date"),
        ("KAZ110090123105", "old_foreign_card"),
    ],
)
def test_invalid_foreigner_and_permit_numbers_say_what_is_wrong(kb, registry, raw, problem):
    for language in ("zh", "en"):
        result, messages = _form_validate("validate_id_digest", raw, language)
        assert result == {"id_digest": None}
        assert messages[0]["text"] == kb.phrase(f"id_problem_{problem}", language)
        assert raw not in messages[0]["text"]


def test_a_long_latin_name_as_on_a_passport_is_accepted(registry):
    name = "RODRIGUES DA SILVA SANTOS, MARIA APARECIDA DE FATIMA"  # 52 characters
    result, messages = _form_validate("validate_name_digest", name)
    assert messages == []
    assert result["name_digest"] == hash_name("RODRIGUES DA SILVA SANTOS MARIA APARECIDA DE FATIMA", SECRET)
    assert result["name_masked"] == "R******** D* S**** S*****, M**** A******** D* F*****"


# --- several questions in one message ---------------------------------------------------------------


def test_two_questions_get_both_answers_in_order_with_one_legal_line(kb):
    asked = ["ask_how_to_activate", "ask_required_documents"]
    tracker = make_tracker(
        "ask_how_to_activate",
        "我在揭阳，社保卡怎么激活？要带什么？",
        {"region": "揭阳市"},
        [region_entity("揭阳市")] + [topic_entity(t) for t in asked],
    )
    messages, events = run(ActionAnswerTopic(), tracker)
    texts = [m["text"] for m in messages]
    assert texts == compose_answers(kb, asked, "zh", "揭阳市")
    assert len(texts) == 3 and texts[-1].startswith("⚖")
    assert kb.topics["ask_how_to_activate"]["answer"]["zh"].strip() in texts[0]
    assert kb.topics["ask_required_documents"]["answer"]["zh"].strip() in texts[1]
    assert texts[0].startswith(
        kb.phrase("question_heading", "zh", number="1", topic=kb.topics[asked[0]]["title"]["zh"])
    )
    assert events == [SlotSet("topic", "ask_how_to_activate"), SlotSet("topics", asked), SlotSet("entry", None)]


def test_three_questions_in_english_each_answered(kb):
    asked = ["ask_lost_or_replace_card", "ask_activation_fee", "ask_password"]
    tracker = make_tracker(
        asked[0],
        "lost my card, what now? does it cost anything? and how do I set a PIN?",
        {"language": "en"},
        [topic_entity(t) for t in asked],
    )
    messages, _ = run(ActionAnswerTopic(), tracker)
    texts = [m["text"] for m in messages]
    assert texts == compose_answers(kb, asked, "en", None)
    for text, topic in zip(texts, asked, strict=False):
        assert kb.topics[topic]["answer"]["en"].strip() in text
    assert texts[-1] == compose_answers(kb, asked, "en", None)[-1]
    assert kb.phrase("region_invite", "en") in texts[2] and kb.phrase("region_invite", "en") not in texts[0]


def test_naming_a_city_after_two_questions_re_answers_both(kb):
    asked = ["ask_how_to_activate", "ask_activation_deadline"]
    tracker = make_tracker(
        "inform", "我在广州", {"region": "广州市", "topic": asked[0], "topics": asked}, [region_entity("广州市")]
    )
    messages, _ = run(ActionAnswerTopic(), tracker)
    assert [m["text"] for m in messages] == compose_answers(kb, asked, "zh", "广州市")


def test_legal_basis_after_two_questions_covers_both(kb):
    asked = ["ask_password", "ask_scam_warning"]
    messages, _ = run(
        ActionLegalBasis(), make_tracker("ask_legal_basis", "法律依据呢", {"topic": asked[0], "topics": asked})
    )
    text = messages[0]["text"]
    assert [m["text"] for m in messages] == quote_articles(kb, asked, "zh")
    for topic in asked:
        assert kb.topics[topic]["title"]["zh"] in text
        for ref in kb.topics[topic]["legal_basis"]:
            assert kb.articles[ref][1]["text"]["zh"].strip() in text
    refs = [r for t in asked for r in kb.topics[t]["legal_basis"]]
    for ref in set(refs):  # an article two topics share is quoted once
        assert text.count(kb.articles[ref][1]["text"]["zh"].strip()) == 1


# --- traditional characters -------------------------------------------------------------------------


def test_a_traditional_writer_is_answered_in_traditional_characters(kb):
    tracker = make_tracker("ask_required_documents", "激活需要带什么证件？", {"script": "traditional"})
    messages, _ = run(ActionAnswerTopic(), tracker)
    expected = [to_traditional(t) for t in compose_entry(kb, "ask_required_documents", None, "zh", None)]
    assert [m["text"] for m in messages] == expected
    assert "帶" in messages[0]["text"] or "證" in messages[0]["text"]


def test_traditional_script_does_not_touch_english_answers(kb):
    tracker = make_tracker("ask_required_documents", "what to bring", {"language": "en", "script": "traditional"})
    messages, _ = run(ActionAnswerTopic(), tracker)
    assert [m["text"] for m in messages] == compose_entry(kb, "ask_required_documents", None, "en", None)


def test_buttons_are_converted_too(kb):
    tracker = make_tracker("nlu_fallback", "嗯嗯", {"script": "traditional"})
    messages, _ = run(ActionSuggestTopics(), tracker)
    assert messages[0]["text"] == to_traditional(kb.phrase("fallback", "zh"))
    assert all(b["title"] == to_traditional(b["title"]) for b in messages[0]["buttons"])


def _script(tracker: Tracker) -> dict:
    return ValidateSlotMappings().extract_script(CollectingDispatcher(), tracker, {})


def test_script_follows_the_nlu_mark_and_the_latest_chinese_message():
    marked = make_tracker("ask_password", "密码忘了怎么办", entities=[{"entity": "script", "value": "traditional"}])
    assert _script(marked) == {"script": "traditional"}
    assert _script(make_tracker("ask_password", "密码忘了怎么办")) == {"script": "simplified"}
    assert _script(make_tracker("ask_password", "forgot my PIN")) == {}
    assert _script(make_tracker(None, "/switch_language")) == {}
