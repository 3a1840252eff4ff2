"""Tests for core.redaction over Rasa event dicts (the JSON form the tracker store writes)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from core.card_registry import hash_id_number, hash_name
from core.identity import mask_id_number, mask_name
from core.redaction import LOOKUP_FORM, PRIVATE_SLOTS, REDACTED, RedactionState, follow_event, redact_event

ID_NUMBER = "11010519491231002X"
NAME = "张三"
SECRET = "test-only-secret"
ID_DIGEST = hash_id_number(ID_NUMBER, SECRET)
NAME_DIGEST = hash_name(NAME, SECRET)
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def user(text: str, intent: str = "inform", entities: list[dict] | None = None, ts: float = 0.0) -> dict:
    return {
        "event": "user",
        "timestamp": ts,
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.93},
            "entities": entities or [],
            "intent_ranking": [{"name": intent, "confidence": 0.93}],
            "message_id": "m1",
            "metadata": {},
        },
        "input_channel": "rest",
        "message_id": "m1",
        "metadata": {},
    }


def slot(name: str, value, ts: float = 0.0) -> dict:
    return {"event": "slot", "timestamp": ts, "name": name, "value": value}


def loop(name: str | None) -> dict:
    return {"event": "active_loop", "timestamp": 0.0, "name": name}


def action(name: str) -> dict:
    return {"event": "action", "timestamp": 0.0, "name": name, "policy": "RulePolicy", "confidence": 1.0}


def bot(text: str) -> dict:
    return {"event": "bot", "timestamp": 0.0, "text": text, "data": {}, "metadata": {}}


def lookup_conversation() -> list[dict]:
    """A full "check my card status" conversation as Rasa 3.6 stores it."""
    return [
        {"event": "session_started", "timestamp": 0.0},
        user("查询我的社保卡状态", intent="check_card_status"),
        action("card_status_form"),
        loop("card_status_form"),
        slot("requested_slot", "id_digest"),
        action("action_ask_id_digest"),
        bot("查询需要核验身份。请输入您的18位居民身份证号码"),
        action("action_listen"),
        user(ID_NUMBER, entities=[{"entity": "language", "value": "zh", "start": 0, "end": 18}]),
        action("action_extract_slots"),
        slot("id_digest", ID_NUMBER),  # raw value from the slot mapping, before validation
        action("card_status_form"),
        slot("id_digest", ID_DIGEST),  # validation replaces it with the digest
        slot("id_masked", mask_id_number(ID_NUMBER)),
        slot("requested_slot", "name_digest"),
        action("action_ask_name_digest"),
        bot("请输入持卡人姓名（与身份证一致）。"),
        action("action_listen"),
        user(NAME, entities=[{"entity": "language", "value": "zh", "start": 0, "end": 2}]),
        action("action_extract_slots"),
        slot("name_digest", NAME),
        action("card_status_form"),
        slot("name_digest", NAME_DIGEST),
        slot("name_masked", mask_name(NAME)),
        slot("requested_slot", None),
        loop(None),
        action("action_card_status_lookup"),
        bot(f"查询对象：身份证号 {mask_id_number(ID_NUMBER)}，姓名 {mask_name(NAME)}，发卡地 北京市。"),
        slot("id_digest", None),
        slot("name_digest", None),
        slot("id_masked", None),
        slot("name_masked", None),
        action("action_listen"),
        user("社保卡怎么激活", intent="ask_how_to_activate"),
    ]


def redact_all(events: list[dict], state: RedactionState | None = None) -> list[dict]:
    state = state or RedactionState()
    return [redact_event(event, state) for event in events]


def test_constants() -> None:
    assert LOOKUP_FORM == "card_status_form"
    assert PRIVATE_SLOTS == ("id_digest", "name_digest")
    assert HEX64.fullmatch(ID_DIGEST) and HEX64.fullmatch(NAME_DIGEST)


def test_no_raw_id_number_or_name_survives() -> None:
    events = lookup_conversation()
    raw = json.dumps(events, ensure_ascii=False)
    assert ID_NUMBER in raw and NAME in raw  # the test data does contain them
    redacted = redact_all(events)
    assert len(redacted) == len(events)
    for event in redacted:
        stored = json.dumps(event, ensure_ascii=False)
        assert ID_NUMBER not in stored, stored
        assert NAME not in stored, stored


def test_what_the_person_typed_in_the_form_is_replaced() -> None:
    events = lookup_conversation()
    redacted = redact_all(events)
    typed = [i for i, e in enumerate(events) if e["event"] == "user" and e["text"] in (ID_NUMBER, NAME)]
    assert len(typed) == 2
    for i in typed:
        assert redacted[i]["text"] == REDACTED
        assert redacted[i]["parse_data"]["text"] == REDACTED
        assert redacted[i]["parse_data"]["entities"] == []
        # the intent is not personal data and stays for analysis
        assert redacted[i]["parse_data"]["intent"] == events[i]["parse_data"]["intent"]
        assert redacted[i]["message_id"] == events[i]["message_id"]


def test_raw_slot_values_replaced_digests_and_masks_kept() -> None:
    events = lookup_conversation()
    redacted = redact_all(events)
    slots = [(e["name"], e["value"]) for e in redacted if e["event"] == "slot"]
    assert ("id_digest", REDACTED) in slots
    assert ("name_digest", REDACTED) in slots
    assert ("id_digest", ID_DIGEST) in slots
    assert ("name_digest", NAME_DIGEST) in slots
    assert ("id_masked", "110105********002X") in slots
    assert ("name_masked", "张*") in slots
    assert ("id_digest", None) in slots and ("name_digest", None) in slots
    digests = HEX64.findall(json.dumps(redacted))
    assert set(digests) == {ID_DIGEST, NAME_DIGEST}


def test_events_that_hold_no_personal_data_are_unchanged() -> None:
    events = lookup_conversation()
    redacted = redact_all(events)
    for original, stored in zip(events, redacted, strict=True):
        if original["event"] in {"action", "active_loop", "session_started", "bot"}:
            assert stored == original
        if original["event"] == "slot" and original["name"] in {"requested_slot", "id_masked", "name_masked"}:
            assert stored == original


def test_input_events_are_not_modified() -> None:
    events = lookup_conversation()
    before = copy.deepcopy(events)
    redact_all(events)
    assert events == before


def test_user_text_outside_the_form_unchanged() -> None:
    events = lookup_conversation()
    redacted = redact_all(events)
    first, last = redacted[1], redacted[-1]
    assert first == events[1]
    assert last == events[-1]
    assert last["text"] == "社保卡怎么激活"


def test_id_number_outside_the_form_is_masked() -> None:
    state = RedactionState()
    text = f"我的身份证号是{ID_NUMBER}，卡怎么激活"
    event = user(text, intent="ask_how_to_activate", entities=[{"entity": "region", "value": "北京市"}])
    stored = redact_event(event, state)
    masked = text.replace(ID_NUMBER, "110105********002X")
    assert stored["text"] == masked
    assert stored["parse_data"]["text"] == masked
    assert stored["parse_data"]["entities"] == event["parse_data"]["entities"]
    assert stored["parse_data"]["intent"] == event["parse_data"]["intent"]
    assert ID_NUMBER not in json.dumps(stored)


@pytest.mark.parametrize(
    ("typed", "masked"),
    [
        (ID_NUMBER, "110105********002X"),
        ("110105 19491231 002X", "110105********002X"),
        ("110105-19491231-002X", "110105********002X"),
        ("440524188001010014", "440524********0014"),
        ("110105491231002", "110105*****1002"),  # the old 15-digit form
    ],
)
def test_id_shapes_masked_keep_first_six_and_last_four(typed: str, masked: str) -> None:
    stored = redact_event(user(f"ID {typed} please", intent="check_card_status"), RedactionState())
    assert stored["text"] == f"ID {masked} please"


def test_id_number_in_a_bot_message_or_other_slot_is_masked() -> None:
    state = RedactionState()
    assert redact_event(bot(f"您输入的是 {ID_NUMBER}"), state)["text"] == "您输入的是 110105********002X"
    assert redact_event(slot("topic", ID_NUMBER), state)["value"] == "110105********002X"


def test_name_outside_the_form_is_not_touched() -> None:
    # Only the form's context marks a name as private; elsewhere it is ordinary text.
    stored = redact_event(user(f"我叫{NAME}", intent="greet"), RedactionState())
    assert stored["text"] == f"我叫{NAME}"


def test_state_follows_the_form_and_resets_after_it() -> None:
    state = RedactionState()
    redact_event(loop("card_status_form"), state)
    redact_event(slot("requested_slot", "id_digest"), state)
    assert state == RedactionState("card_status_form", "id_digest")
    assert state.asking_private()
    redact_event(slot("requested_slot", "name_digest"), state)
    assert state.asking_private()
    redact_event(loop(None), state)
    assert state == RedactionState(None, None)
    assert not state.asking_private()
    assert redact_event(user(NAME), state)["text"] == NAME


def test_form_cancelled_without_clearing_requested_slot() -> None:
    # action_deactivate_loop: the loop ends while requested_slot still says name_digest
    state = RedactionState()
    for event in (loop("card_status_form"), slot("requested_slot", "name_digest"), loop(None)):
        redact_event(event, state)
    assert state.requested_slot is None
    assert redact_event(user("社保卡怎么激活"), state)["text"] == "社保卡怎么激活"


@pytest.mark.parametrize("reset", [{"event": "restart", "timestamp": 0.0}, {"event": "session_started"}])
def test_restart_and_new_session_reset_state(reset: dict) -> None:
    state = RedactionState("card_status_form", "name_digest")
    redact_event(reset, state)
    assert state == RedactionState()
    assert redact_event(user("你好"), state)["text"] == "你好"


def test_other_form_or_other_requested_slot_is_not_private() -> None:
    state = RedactionState("some_other_form", "id_digest")
    assert not state.asking_private()
    assert redact_event(user(NAME), state)["text"] == NAME
    state = RedactionState("card_status_form", "region")
    assert not state.asking_private()
    assert redact_event(user("广州"), state)["text"] == "广州"


def test_user_event_without_parse_data_in_form() -> None:
    state = RedactionState("card_status_form", "name_digest")
    stored = redact_event({"event": "user", "text": NAME}, state)
    assert stored == {"event": "user", "text": REDACTED}


def test_private_slot_values_other_than_digests_are_redacted() -> None:
    state = RedactionState()
    assert redact_event(slot("name_digest", "Li Si"), state)["value"] == REDACTED
    assert redact_event(slot("id_digest", "12345"), state)["value"] == REDACTED
    assert redact_event(slot("id_digest", ID_DIGEST.upper()), state)["value"] == REDACTED  # not our digest form
    assert redact_event(slot("name_digest", None), state)["value"] is None
    assert redact_event(slot("name_digest", NAME_DIGEST), state)["value"] == NAME_DIGEST


def test_following_stored_events_gives_the_state_redacting_them_would() -> None:
    # The tracker store only follows the events it stored already; the state must not differ.
    events = lookup_conversation()
    for cut in range(len(events) + 1):
        followed, redacted = RedactionState(), RedactionState()
        for event in events[:cut]:
            follow_event(event, followed)
            redact_event(event, redacted)
        assert followed == redacted, cut
