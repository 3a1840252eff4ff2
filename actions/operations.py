"""Rasa glue for what a 12333 centre keeps: feedback on answers, questions for the review queue and
handoff codes, written to the operations store (`core.ops_store`).

Writing there must never cost the person their answer: a store that is down is logged (without
any of the person's text) and the conversation goes on. Nothing typed into the lookup form is
ever passed on (`core.conversation_summary` skips it) and every text is redacted by the store.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import KB, latest_entities, reply_language, send
from core.compose import answer_entry
from core.conversation_summary import handoff_summary, last_question_for
from core.dialogue import INSTEAD_OF_ENTITY, LOOKUP_FORM
from core.ops_store import FALLBACK_REASON, HANDOFF_TTL, RUNNER_UP_REASON, OpsStore

logger = logging.getLogger(__name__)

WECHAT = "wechat"
SOCKETIO = "socketio"
FEEDBACK_MARKER = "feedback"  # the chat page draws 👍/👎 under the answer this custom message follows
HANDOFF_TOPIC = "request_human"
_NEGATIVE = re.compile(r"没|不|无用|答非所问|\bnot?\b|n't|useless|unhelpful|wrong", re.IGNORECASE)

_store: Optional[OpsStore] = None


def store() -> OpsStore:
    global _store
    if _store is None:
        _store = OpsStore()
    return _store


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


def in_lookup_form(tracker: Tracker) -> bool:
    return (tracker.active_loop or {}).get("name") == LOOKUP_FORM


async def _quietly(what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store call in a thread; on failure log which call failed (never its data), return None."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except Exception as error:  # the answer matters more than the record
        logger.warning("operations store: %s failed (%s)", what, type(error).__name__)
        return None


def after_answer(tracker: Tracker, topics: List[str], dispatcher: CollectingDispatcher) -> List[EventType]:
    """What follows an answer on each channel: the chat page gets a marker to draw 👍/👎 under it;
    WeChat asks once per conversation "did this help? reply 1 / 2"."""
    channel = channel_of(tracker)
    if channel == SOCKETIO:
        # Rasa's socket.io output emits the custom message's keys as `emit` arguments: `data` is the body.
        dispatcher.utter_message(json_message={"data": {FEEDBACK_MARKER: {"answered": "+".join(topics)}}})
    elif channel == WECHAT and not tracker.get_slot("feedback_offered"):
        # The WeChat channel numbers buttons and maps the person's "1" / "2" back to them.
        language = reply_language(tracker)
        buttons = [
            {"title": KB.phrase("feedback_helpful", language), "payload": '/feedback{"rating": "up"}'},
            {"title": KB.phrase("feedback_not_helpful", language), "payload": '/feedback{"rating": "down"}'},
        ]
        send(dispatcher, tracker, KB.phrase("wechat_feedback_prompt", language), buttons)
        return [SlotSet("feedback_offered", True)]
    return []


async def handoff(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """A person asked for a human: give them a code that opens this conversation's redacted summary
    on the staff desk, and queue the question that led here for review."""
    language = reply_language(tracker)
    events = list(tracker.events)
    summary = handoff_summary(
        events,
        topic_titles={name: entry["title"] for name, entry in KB.topics.items()},
        region=tracker.get_slot("region"),
        language=language,
        identity_verified=bool(tracker.get_slot("identity_verified")),
    )
    code = await _quietly(
        "create_handoff",
        store().create_handoff,
        sender_id=tracker.sender_id,
        channel=channel_of(tracker),
        summary=summary,
        language=language,
        region=tracker.get_slot("region"),
        identity_verified=bool(tracker.get_slot("identity_verified")),
    )
    if code:
        hours = str(int(HANDOFF_TTL.total_seconds() // 3600))
        send(dispatcher, tracker, KB.phrase("handoff_code", language, code=code, hours=hours))
    asked = [q for q in summary["questions"] if q["understood_as"] != HANDOFF_TOPIC]
    if not in_lookup_form(tracker):
        text = (asked[-1] if asked else (summary["questions"] or [{"text": ""}])[-1])["text"]
        guess = asked[-1]["understood_as"] if asked else None
        await queue_for_review(tracker, "handoff", text, guess)


async def queue_for_review(
    tracker: Tracker, reason: str, text: str, guess: Optional[str], confidence: Optional[float] = None
) -> None:
    """Put a question of this conversation in the review queue, with the model's guess."""
    await _quietly(
        "add_review_item",
        store().add_review_item,
        sender_id=tracker.sender_id,
        channel=channel_of(tracker),
        reason=reason,
        text=text,
        language=reply_language(tracker),
        guess=guess,
        guess_confidence=confidence,
    )


async def review_fallback(tracker: Tracker) -> None:
    """A question the assistant could not place goes to the review queue with the model's guess."""
    if in_lookup_form(tracker):
        return
    message = tracker.latest_message
    text = message.get("text") or ""
    if not text.strip() or text.startswith("/"):
        return
    ranked = [item for item in message.get("intent_ranking", []) if item.get("name") in KB.topics]
    guess = ranked[0] if ranked else {}
    await queue_for_review(tracker, FALLBACK_REASON, text, guess.get("name"), guess.get("confidence"))


async def review_runner_up(tracker: Tracker, chosen: str) -> None:
    """An "I meant: …" button was tapped (its payload names the topic answered first): the question
    answered with that topic goes to the review queue, with the topic the person chose as the guess."""
    if in_lookup_form(tracker):
        return
    answered = [t for t in latest_entities(tracker, INSTEAD_OF_ENTITY) if t in KB.topics and t != chosen]
    question = last_question_for(list(tracker.events), answered[-1:]) if answered else None
    if question is not None:
        await queue_for_review(tracker, RUNNER_UP_REASON, question.text, chosen)


async def record_comment(tracker: Tracker, comment: str) -> bool:
    return bool(await _quietly("add_comment", store().add_comment, tracker.sender_id, comment))


async def note_comment(tracker: Tracker) -> Dict[Text, Any]:
    """Slot validation, every message: `feedback_noted` is true for the one message after a 👎 that
    answers "what was missing?" (typed text, not a payload, not the lookup form), which is stored."""
    text = (tracker.latest_message.get("text") or "").strip()
    noted = None
    if tracker.get_slot("feedback_pending"):
        if text and not text.startswith("/") and not in_lookup_form(tracker):
            await record_comment(tracker, text)
            noted = True
        return {"feedback_pending": None, "feedback_noted": noted}
    return {"feedback_noted": None} if tracker.get_slot("feedback_noted") else {}


def thank_for_comment(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Before an answer to the message that also said what was missing: a line of thanks."""
    if tracker.get_slot("feedback_noted"):
        send(dispatcher, tracker, KB.phrase("feedback_comment_thanks", reply_language(tracker)))


def _rating(tracker: Tracker) -> str:
    given = [r for r in latest_entities(tracker, "rating") if r in ("up", "down")]
    if given:
        return given[-1]
    text = tracker.latest_message.get("text") or ""
    return "down" if _NEGATIVE.search(text) else "up"


class ActionRecordFeedback(Action):
    """👍/👎 on an answer (the one named in the payload, else the last one), with its topic, entry,
    channel and the question's redacted text; a 👎 queues the question for review and asks, once,
    what was missing. A payload with a comment attaches it to this conversation's latest 👎."""

    def name(self) -> Text:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        comments = [c for c in latest_entities(tracker, "comment") if isinstance(c, str) and c.strip()]
        if comments:
            await record_comment(tracker, comments[-1])
            send(dispatcher, tracker, KB.phrase("feedback_comment_thanks", language))
            return [SlotSet("feedback_pending", None)]
        named = [t for v in latest_entities(tracker, "answered") if isinstance(v, str) for t in v.split("+")]
        topics = [t for t in named if t in KB.topics] or [
            t for t in tracker.get_slot("topics") or [tracker.get_slot("topic")] if t in KB.topics
        ]
        if not topics:
            send(dispatcher, tracker, KB.phrase("feedback_nothing_yet", language))
            return []
        rating = _rating(tracker)
        question = last_question_for(list(tracker.events), topics)
        region = tracker.get_slot("region")
        channel = channel_of(tracker)
        await _quietly(
            "record_feedback",
            store().record_feedback,
            sender_id=tracker.sender_id,
            channel=channel,
            rating=rating,
            topics=topics,
            entry=answer_entry(KB, topics, region),
            region=region,
            language=language,
            question=question.text if question else None,
        )
        if rating == "up":
            send(dispatcher, tracker, KB.phrase("feedback_thanks", language))
            return [SlotSet("feedback_pending", None)]
        if question is not None and not in_lookup_form(tracker):
            await queue_for_review(tracker, "thumbs_down", question.text, topics[0], question.confidence)
        send(dispatcher, tracker, KB.phrase("feedback_missing", language))
        return [SlotSet("feedback_pending", True)]
