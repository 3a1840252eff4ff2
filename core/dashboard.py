"""The dashboard's figures: per day and per channel, from the tracker store and the operations store.

Pure Python + SQLAlchemy, no Rasa imports. Messages, conversations, fallbacks, handoffs and topics
come from the (redacted) events of Rasa's SQL tracker store, which every message passes through;
👍/👎, the unanswered questions and the answers a person corrected with "I meant: …" (another topic)
from the operations store (`core.ops_store`). Only counts and
redacted question texts leave this module — never a sender ID.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, select
from sqlalchemy.engine import Engine

from core.dialogue import FALLBACK_INTENT
from core.ops_store import FALLBACK_REASON, RUNNER_UP_REASON, Feedback, ReviewItem
from core.review import group_items

HANDOFF_INTENT = "request_human"
FEEDBACK_INTENT = "feedback"
DEFAULT_TRACKER_DB = Path(__file__).resolve().parent.parent / "var" / "tracker.sqlite3"
TOP = 10

# Rasa's SQLTrackerStore table, read only (the columns this module needs).
_events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("data", Text),
)


def tracker_engine(url: str | None = None) -> Engine:
    """The tracker store's database: `url`, TRACKER_STORE_URL, else SQLite var/tracker.sqlite3."""
    url = url or os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{DEFAULT_TRACKER_DB}"
    return create_engine(url, future=True, pool_pre_ping=True)


@dataclass(frozen=True)
class Message:
    day: date
    channel: str
    conversation: str
    intent: str | None


def read_messages(engine: Engine, since: datetime) -> list[Message]:
    """Every user message since `since` (a tracker store that does not exist yet has none)."""
    query = (
        select(_events.c.sender_id, _events.c.timestamp, _events.c.intent_name, _events.c.data)
        .where(_events.c.type_name == "user", _events.c.timestamp >= since.timestamp())
        .order_by(_events.c.id)
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except Exception as error:
        if "no such table" in str(error):
            return []
        raise
    messages = []
    for sender, timestamp, intent, data in rows:
        try:
            channel = (json.loads(data) or {}).get("input_channel") or "unknown"
        except ValueError:
            channel = "unknown"
        day = datetime.fromtimestamp(float(timestamp), timezone.utc).date()
        messages.append(Message(day, str(channel), str(sender), intent))
    return messages


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def dashboard(
    messages: Iterable[Message],
    feedback: Iterable[Feedback],
    reviewed: Iterable[ReviewItem],
    *,
    topics: Iterable[str],
    since: date,
    until: date,
) -> dict[str, Any]:
    """Figures per day × channel, totals, top topics and top unanswered questions. Of the review
    queue's items (`reviewed`, those since `since`), the fallbacks are the unanswered questions and the
    "I meant: …" taps count as corrected answers."""
    topic_names = set(topics)
    days = _days(since, until)
    rows: dict[tuple[date, str], dict[str, Any]] = defaultdict(
        lambda: {
            "conversations": set(),
            "messages": 0,
            "answered": 0,
            "fallbacks": 0,
            "handoffs": 0,
            "corrected": 0,
            "up": 0,
            "down": 0,
        }
    )
    topic_counts: Counter[str] = Counter()
    for message in messages:
        if message.intent == FEEDBACK_INTENT:
            continue  # a rating is not a question
        row = rows[(message.day, message.channel)]
        row["conversations"].add(message.conversation)
        row["messages"] += 1
        if message.intent == FALLBACK_INTENT:
            row["fallbacks"] += 1
        else:
            row["answered"] += 1
        if message.intent == HANDOFF_INTENT:
            row["handoffs"] += 1
        if message.intent in topic_names and message.intent != HANDOFF_INTENT:
            topic_counts[message.intent] += 1
    for rating in feedback:
        rows[(rating.created_at.date(), rating.channel)][rating.rating] += 1
    reviewed = list(reviewed)
    for item in reviewed:
        if item.reason == RUNNER_UP_REASON:
            rows[(item.created_at.date(), item.channel)]["corrected"] += 1
    unanswered = [item for item in reviewed if item.reason == FALLBACK_REASON]
    channels = sorted({channel for _, channel in rows})
    series = []
    for day in days:
        for channel in channels:
            if (day, channel) not in rows:
                continue
            row = rows[(day, channel)]
            series.append(
                {"day": day.isoformat(), "channel": channel, **row, "conversations": len(row["conversations"])}
            )
    totals = {
        key: sum(r[key] for r in series)
        for key in ("conversations", "messages", "answered", "fallbacks", "handoffs", "corrected", "up", "down")
    }
    totals["answered_rate"] = round(totals["answered"] / totals["messages"], 3) if totals["messages"] else None
    rated = totals["up"] + totals["down"]
    totals["helpful_rate"] = round(totals["up"] / rated, 3) if rated else None
    groups = group_items(sorted(unanswered, key=lambda i: i.created_at, reverse=True))
    groups.sort(key=lambda g: len(g.items), reverse=True)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "days": [d.isoformat() for d in days],
        "channels": channels,
        "series": series,
        "totals": totals,
        "top_topics": [{"intent": name, "count": count} for name, count in topic_counts.most_common(TOP)],
        "top_unanswered": [{"text": g.latest.text, "count": len(g.items)} for g in groups[:TOP]],
    }
