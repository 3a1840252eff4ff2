"""Question-level answers over REST with the real servers: a specific question gets its entry's short
answer (not the topic's general one), the related-question buttons lead to those entries, and
"来源" / "sources" lists every source of the answer just given."""

from __future__ import annotations

import pytest

from core.knowledge import KnowledgeBase
from tests.support import Stack, new_sender, texts

# One entry per language for a few topics, asked the way its examples ask it.
CASES = [("ask_lost_or_replace_card", "zh"), ("ask_password", "en"), ("ask_activation_fee", "zh")]


def first_entry(kb: KnowledgeBase, topic: str) -> dict:
    entries = kb.entries(topic)
    if not entries:
        pytest.fail(f"{topic} has no entries")
    return entries[0]


@pytest.mark.parametrize("topic, language", CASES)
def test_a_specific_question_gets_its_entrys_answer_and_related_questions(
    stack: Stack, kb: KnowledgeBase, topic: str, language: str
) -> None:
    entry = first_entry(kb, topic)
    sender = new_sender()
    reply = stack.say(entry["asked_as"][language][0], sender)
    text = texts(reply)
    assert entry["answer"][language].strip() in text
    assert kb.topics[topic]["answer"][language].strip() not in text
    buttons = [b for m in reply for b in m.get("buttons") or []]
    others = [e for e in kb.entries(topic) if e["key"] != entry["key"]]
    assert [b["title"] for b in buttons] == [e["question"][language] for e in others[:3]]
    # a related question's button gives that entry
    follow = texts(stack.say(buttons[0]["payload"], sender))
    assert others[0]["answer"][language].strip() in follow
    # and "sources" lists every source of that entry, with its link
    sources = texts(stack.say("来源" if language == "zh" else "sources", sender))
    for source in others[0]["sources"]:
        assert source["url"] in sources


def test_a_question_that_fits_no_entry_gets_the_general_answer(stack: Stack, kb: KnowledgeBase) -> None:
    text = texts(stack.say("说说社保卡挂失补办的事", new_sender()))
    general = kb.topics["ask_lost_or_replace_card"]["answer"]["zh"].strip()
    entries = [e["answer"]["zh"].strip() for e in kb.entries("ask_lost_or_replace_card")]
    assert general in text or any(answer in text for answer in entries)  # never another topic's answer
