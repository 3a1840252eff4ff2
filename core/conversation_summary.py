"""What staff may see of a conversation: its questions (redacted), the topics answered, the region.

Works on the JSON form of Rasa events (`event.as_dict()`, the tracker's `events` in the action
server), so it has no Rasa imports. A message typed while the lookup form asked for an ID number
or a name is never taken, and every text is passed through `redact_id_numbers`: the summary holds
neither an ID number nor a lookup name, only whether identity was verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from core.dialogue import FALLBACK_INTENT
from core.identity import redact_id_numbers
from core.redaction import RedactionState, follow_event

MAX_QUESTIONS = 10


@dataclass
class Question:
    text: str
    intent: str | None
    confidence: float | None
    topics: list[str] = field(default_factory=list)


def questions(events: Iterable[dict[str, Any]], *, since_session_start: bool = True) -> list[Question]:
    """The person's messages in order (typed text only: no button payloads, nothing typed into the
    lookup form's private slots), from the latest session start."""
    state = RedactionState()
    found: list[Question] = []
    for event in events:
        kind = event.get("event")
        if kind == "session_started" and since_session_start:
            found = []
        if kind == "user" and not state.asking_private():
            parse = event.get("parse_data") or {}
            # What the NLU read (markup and control characters removed by the input cleaning), as
            # the review queue keeps it; the raw text only when there is no parse.
            text = (parse.get("text") or event.get("text") or "").strip()
            intent = (parse.get("intent") or {}).get("name")
            confidence = (parse.get("intent") or {}).get("confidence")
            if text and not text.startswith("/"):
                topics = [e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "question_topic"]
                found.append(Question(redact_id_numbers(text), intent, confidence, [t for t in topics if t]))
        follow_event(event, state)
    return found


def last_question_for(events: list[dict[str, Any]], topics: Iterable[str]) -> Question | None:
    """The latest question whose intent (or one of whose questions) is one of `topics`."""
    wanted = set(topics)
    for question in reversed(questions(events)):
        if question.intent in wanted or wanted.intersection(question.topics):
            return question
    return None


def answered_topics(events: Iterable[dict[str, Any]], topic_names: Iterable[str]) -> list[str]:
    """Every topic the assistant answered in this session, in first-answered order (the `topics`
    slot as the answer action set it each time)."""
    known = set(topic_names)
    seen: list[str] = []
    for event in events:
        if event.get("event") == "session_started":
            seen = []
        if event.get("event") == "slot" and event.get("name") == "topics":
            for topic in event.get("value") or []:
                if topic in known and topic not in seen:
                    seen.append(topic)
    return seen


def handoff_summary(
    events: list[dict[str, Any]],
    *,
    topic_titles: dict[str, Any],
    region: str | None,
    language: str | None,
    identity_verified: bool,
    exclude: Iterable[str] = ("request_human",),
) -> dict[str, Any]:
    """The redacted summary a handoff code opens: what was asked and answered, where, in which
    language, and whether identity was verified (never the ID or name)."""
    skip = set(exclude)
    topics = [t for t in answered_topics(events, topic_titles) if t not in skip]
    asked = questions(events)[-MAX_QUESTIONS:]
    return {
        "topics": [{"intent": t, "title": topic_titles[t]} for t in topics],
        "questions": [
            {"text": q.text, "understood_as": q.intent if q.intent != FALLBACK_INTENT else None} for q in asked
        ],
        "fallbacks": sum(1 for q in asked if q.intent == FALLBACK_INTENT),
        "region": region,
        "language": language,
        "identity_verified": bool(identity_verified),
    }
