"""Rasa glue for answers: pick the topic, region and language from the tracker, send what
`core.compose` makes of the knowledge base. The knowledge base is loaded and validated when the
action server imports this module, so a broken file stops the server with the file and key named."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from core.compose import STARTER_TOPICS, compose_answer, list_laws, quote_articles, topic_buttons
from core.dialogue import LOOKUP_FORM
from core.knowledge import knowledge
from core.language import DEFAULT_LANGUAGE, LANGUAGES, detect_language, requested_language
from core.regions import display_name, find_region
from core.text_input import clean_text, has_words

KB = knowledge()  # validate at start-up: fail loudly, not in the middle of a conversation


def reply_language(tracker: Tracker) -> str:
    """The language to answer in (the `language` slot, kept up to date by slot validation)."""
    language = tracker.get_slot("language")
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_regions(tracker: Tracker) -> List[str]:
    return [e["value"] for e in tracker.latest_message.get("entities", []) if e.get("entity") == "region"]


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
            toggled = [
                e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "language"
            ]
            wanted = (
                next((v for v in toggled if v in LANGUAGES), None) or requested_language(text) or detect_language(text)
            )
            return {"language": wanted, "language_pinned": wanted} if wanted else {}
        pinned = tracker.get_slot("language_pinned")
        if pinned in LANGUAGES:
            return {"language": pinned}
        detected = None if text.startswith("/") else detect_language(clean_text(text))
        return {"language": detected} if detected else {}

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
    """Answers a topic question, or re-answers the last topic when the person names their city."""

    def name(self) -> Text:
        return "action_answer_topic"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        region = tracker.get_slot("region")
        intent = latest_intent(tracker)
        topic = intent if intent in KB.topics else tracker.get_slot("topic")
        if intent not in KB.topics:
            if not latest_regions(tracker):
                dispatcher.utter_message(text=KB.phrase("inform_without_region", language))
                return []
            if topic not in KB.topics:
                dispatcher.utter_message(
                    text=KB.phrase("region_noted", language, region=display_name(region, language)),
                    buttons=topic_buttons(KB, STARTER_TOPICS, language),
                )
                return []
        for text in compose_answer(KB, topic, language, region):
            dispatcher.utter_message(text=text)
        return [SlotSet("topic", topic)]


class ActionLegalBasis(Action):
    """Quotes the full articles behind the last topic, or lists the laws and offers topics."""

    def name(self) -> Text:
        return "action_legal_basis"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        topic = tracker.get_slot("topic")
        if topic in KB.topics:
            for text in quote_articles(KB, topic, language):
                dispatcher.utter_message(text=text)
            return []
        dispatcher.utter_message(text=list_laws(KB, language))
        dispatcher.utter_message(
            text=KB.phrase("legal_no_topic_offer", language),
            buttons=topic_buttons(KB, STARTER_TOPICS, language),
        )
        return []


class ActionSuggestTopics(Action):
    """Low confidence or no words: ask again and offer the two most likely topics as buttons."""

    def name(self) -> Text:
        return "action_suggest_topics"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        if not has_words(tracker.latest_message.get("text") or ""):
            dispatcher.utter_message(
                text=KB.phrase("no_words", language), buttons=topic_buttons(KB, STARTER_TOPICS, language)
            )
            return []
        ranked = [
            item.get("name")
            for item in tracker.latest_message.get("intent_ranking", [])
            if item.get("name") in KB.topics
        ]
        likely = (ranked + [t for t in STARTER_TOPICS if t not in ranked])[:2]
        dispatcher.utter_message(text=KB.phrase("fallback", language), buttons=topic_buttons(KB, likely, language))
        return []


class ActionOutOfScope(Action):
    """Says what the assistant covers and where to go instead."""

    def name(self) -> Text:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        text = "\n\n".join(
            [
                KB.phrase("out_of_scope", language),
                KB.service["scope"][language],
                KB.phrase("out_of_scope_hotline", language),
            ]
        )
        dispatcher.utter_message(text=text)
        return []


class ActionSwitchLanguage(Action):
    """Confirms an explicit language switch in the new language."""

    def name(self) -> Text:
        return "action_switch_language"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=KB.phrase("language_switched", reply_language(tracker)))
        return []
