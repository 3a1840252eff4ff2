"""What every action of this project shares: the validated knowledge base, the reply language and
`send`, which answers in the person's language and script."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from core.knowledge import knowledge
from core.language import DEFAULT_LANGUAGE, LANGUAGES, TRADITIONAL, to_traditional
from core.log_privacy import install as install_log_privacy

install_log_privacy()  # no ID number or typed text in this process's log lines either
KB = knowledge()  # validate at start-up: fail loudly, not in the middle of a conversation


def reply_language(tracker: Tracker) -> str:
    """The language to answer in (the `language` slot, kept up to date by slot validation)."""
    language = tracker.get_slot("language")
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def send(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, buttons: Optional[List[Dict[str, Any]]] = None
) -> None:
    """Send a message in the person's language and, for Chinese, their script (a person who writes
    traditional characters is answered in them; the knowledge base is written in simplified)."""
    if reply_language(tracker) == "zh" and tracker.get_slot("script") == TRADITIONAL:
        text = to_traditional(text)
        buttons = [{**b, "title": to_traditional(b["title"])} for b in buttons] if buttons else buttons
    dispatcher.utter_message(text=text, buttons=buttons)


def latest_entities(tracker: Tracker, entity: str) -> List[Any]:
    """The values of `entity` in the latest message, in order."""
    return [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == entity]


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_regions(tracker: Tracker) -> List[str]:
    return latest_entities(tracker, "region")
