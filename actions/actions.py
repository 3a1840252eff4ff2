"""Rasa glue for answers: pick the topic, region and language from the tracker, send what
`core.compose` makes of the knowledge base. The knowledge base is loaded and validated when the
action server imports this module, so a broken file stops the server with the file and key named."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from actions.common import KB, latest_entities, latest_intent, latest_regions, reply_language, send
from actions.operations import (
    HANDOFF_TOPIC,
    after_answer,
    handoff,
    note_comment,
    review_fallback,
    review_runner_up,
    thank_for_comment,
)
from core.compose import (
    STARTER_TOPICS,
    answer_sources,
    compose_answers,
    compose_entry,
    link,
    list_laws,
    quote_articles,
    related_buttons,
    topic_buttons,
)
from core.dialogue import LOOKUP_FORM, QUESTION_TOPIC_ENTITY, SCRIPT_ENTITY, runner_up_topic, selected_entry_key
from core.language import LANGUAGES, SIMPLIFIED, TRADITIONAL, detect_language, requested_language
from core.regions import display_name, find_region
from core.text_input import clean_text, has_words

__all__ = ["KB", "reply_language", "send", "latest_entities", "latest_intent", "latest_regions"]


class ValidateSlotMappings(ValidationAction):
    """Runs after every user message: sets `language` and keeps `region` specific."""

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        """The language to answer in: the latest message's dominant script; an explicit request
        ("answer in English", the chat page's toggle) pins it until asked again, so a pasted
        Chinese term does not flip an English conversation. Nothing changes while the lookup form
        is asking (a name or an ID number is not a choice of language) or for a button payload."""
        if (tracker.active_loop or {}).get("name") == LOOKUP_FORM:
            return {}
        text = tracker.latest_message.get("text") or ""
        if latest_intent(tracker) == "switch_language":
            toggled = latest_entities(tracker, "language")
            wanted = (
                next((v for v in toggled if v in LANGUAGES), None) or requested_language(text) or detect_language(text)
            )
            return {"language": wanted, "language_pinned": wanted} if wanted else {}
        pinned = tracker.get_slot("language_pinned")
        if pinned in LANGUAGES:
            return {"language": pinned}
        detected = None if text.startswith("/") else detect_language(clean_text(text))
        return {"language": detected} if detected else {}

    def extract_script(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        """How the person writes Chinese: traditional when the NLU marked the message so, simplified
        for any other Chinese message; unchanged for English, payloads and the lookup form."""
        text = tracker.latest_message.get("text") or ""
        if (tracker.active_loop or {}).get("name") == LOOKUP_FORM or text.startswith("/"):
            return {}
        if TRADITIONAL in latest_entities(tracker, SCRIPT_ENTITY):
            return {"script": TRADITIONAL}
        return {"script": SIMPLIFIED} if detect_language(clean_text(text)) == "zh" else {}

    async def extract_feedback_noted(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        """After a 👎 the person was asked "what was missing?": their next typed message is the answer,
        kept with that feedback; it is still answered as usual (it may be a question as well)."""
        return await note_comment(tracker)

    def validate_region(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        # "广西南宁" names a province and a city: the city's rules are the more specific answer.
        named = [r for r in (find_region(v) for v in latest_regions(tracker)) if r is not None]
        if not named:
            return {"region": slot_value}
        cities = [r for r in named if r.level == "prefecture"]
        return {"region": (cities or named)[-1].name}


class ActionAnswerTopic(Action):
    """Answers a topic question (each topic, in order, when a message asked two or three), or
    re-answers the last topics when the person names their city."""

    def name(self) -> Text:
        return "action_answer_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        thank_for_comment(dispatcher, tracker)
        region = tracker.get_slot("region")
        intent = latest_intent(tracker)
        key = None
        if intent in KB.topics:
            asked = [t for t in latest_entities(tracker, QUESTION_TOPIC_ENTITY) if t in KB.topics]
            topics = asked if intent in asked else [intent]
            key = selected_entry(tracker, intent) if len(topics) == 1 else None
        else:
            if not latest_regions(tracker):
                send(dispatcher, tracker, KB.phrase("inform_without_region", language))
                return []
            remembered = tracker.get_slot("topics") or [tracker.get_slot("topic")]
            topics = [t for t in remembered if t in KB.topics]
            key = (
                tracker.get_slot("entry")
                if len(topics) == 1 and KB.entry(topics[0], tracker.get_slot("entry"))
                else None
            )
            if not topics:
                send(
                    dispatcher,
                    tracker,
                    KB.phrase("region_noted", language, region=display_name(region, language)),
                    topic_buttons(KB, STARTER_TOPICS, language),
                )
                return []
        if len(topics) == 1:
            # One question: its entry's short answer (or the topic's general one), and the topic's
            # other questions offered underneath.
            *first, last = compose_entry(KB, topics[0], key, language, region)
            for text in first:
                send(dispatcher, tracker, text)
            # A topic the classifier nearly chose instead is offered first, one tap away.
            runner_up = runner_up_topic(tracker.latest_message, topics[0], KB.topics) if intent in KB.topics else None
            buttons = related_buttons(KB, topics[0], key, language, runner_up)
            send(dispatcher, tracker, last, buttons or None)
        else:
            for text in compose_answers(KB, topics, language, region):
                send(dispatcher, tracker, text)
        if HANDOFF_TOPIC in topics:
            await handoff(dispatcher, tracker)
        if intent in KB.topics:
            await review_runner_up(tracker, intent)
        events = [SlotSet("topic", topics[0]), SlotSet("topics", topics), SlotSet("entry", key)]
        return events + after_answer(tracker, topics, dispatcher)


def selected_entry(tracker: Tracker, topic: str) -> Optional[str]:
    """The entry of `topic` the question asks for: a related-question button names it
    (`question_entry`), else the NLU's entry selector picked it (Rasa's response_selector output)."""
    named = [k for k in latest_entities(tracker, "question_entry") if KB.entry(topic, k)]
    if named:
        return str(named[-1])
    key = selected_entry_key(tracker.latest_message, topic)
    return key if KB.entry(topic, key) else None


class ActionSources(Action):
    """Every source of the last answer, with its link ("来源" / "sources")."""

    def name(self) -> Text:
        return "action_sources"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        topic = tracker.get_slot("topic")
        if topic not in KB.topics:
            send(dispatcher, tracker, KB.phrase("sources_none", language))
            return []
        sources = answer_sources(KB, topic, tracker.get_slot("entry"))
        lines = [KB.phrase("sources_heading", language)]
        unofficial = KB.phrase("unofficial_mark", language)
        lines += [
            f"- {link(s['url'], s.get('title'))}" + ("" if s.get("kind") == "official" else unofficial) for s in sources
        ]
        send(dispatcher, tracker, "\n".join(lines))
        return []


class ActionLegalBasis(Action):
    """Quotes the full articles behind the last topic, or lists the laws and offers topics."""

    def name(self) -> Text:
        return "action_legal_basis"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        thank_for_comment(dispatcher, tracker)
        topics = [t for t in tracker.get_slot("topics") or [tracker.get_slot("topic")] if t in KB.topics]
        if topics:
            for text in quote_articles(KB, topics, language):
                send(dispatcher, tracker, text)
            return []
        send(dispatcher, tracker, list_laws(KB, language))
        send(
            dispatcher,
            tracker,
            KB.phrase("legal_no_topic_offer", language),
            topic_buttons(KB, STARTER_TOPICS, language),
        )
        return []


class ActionSuggestTopics(Action):
    """Low confidence or no words: ask again and offer the two most likely topics as buttons."""

    def name(self) -> Text:
        return "action_suggest_topics"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        text = tracker.latest_message.get("text") or ""
        if not has_words(text):
            send(dispatcher, tracker, KB.phrase("no_words", language), topic_buttons(KB, STARTER_TOPICS, language))
            return []
        if tracker.get_slot("feedback_noted"):
            # It was the answer to "what was missing?" (noted by slot validation): no "did you mean".
            send(dispatcher, tracker, KB.phrase("feedback_comment_thanks", language))
            return []
        await review_fallback(tracker)
        ranked = [
            item.get("name")
            for item in tracker.latest_message.get("intent_ranking", [])
            if item.get("name") in KB.topics
        ]
        likely = (ranked + [t for t in STARTER_TOPICS if t not in ranked])[:2]
        send(dispatcher, tracker, KB.phrase("fallback", language), topic_buttons(KB, likely, language))
        return []


class ActionOutOfScope(Action):
    """Says what the assistant covers and where to go instead."""

    def name(self) -> Text:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        thank_for_comment(dispatcher, tracker)
        text = "\n\n".join(
            [
                KB.phrase("out_of_scope", language),
                KB.service["scope"][language],
                KB.phrase("out_of_scope_hotline", language),
            ]
        )
        send(dispatcher, tracker, text)
        return []


class ActionSwitchLanguage(Action):
    """Confirms an explicit language switch in the new language."""

    def name(self) -> Text:
        return "action_switch_language"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        send(dispatcher, tracker, KB.phrase("language_switched", reply_language(tracker)))
        return []
