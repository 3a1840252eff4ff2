"""What every server's /metrics shares: the metric name prefix, buckets, exposition, and label values.

Each server (Rasa: channels/ops.py; actions: actions/metrics.py; web: web/metrics.py) defines its own
metrics with prometheus_client in its own process; this module holds what they have in common and
imports nothing of Rasa.

Label values come from fixed sets only — channel names, intent names of domain.yml, action names,
lookup outcomes, HTTP methods — never from what a person typed. A value outside its set becomes
``other``, so a forged payload (``/made_up_intent``, an invented HTTP method) cannot make new time
series without end.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Collection, Optional

import yaml
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from core.dialogue import FALLBACK_INTENT

PREFIX = "shebaoka"
OTHER = "other"  # any value outside a label's fixed set
NONE = "none"  # no value at all (e.g. a message that never reached the NLU)
DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"

# Handling one message, one action, one web request: 10 ms to 10 s.
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HANDOFF_INTENT = "request_human"
# Intents Rasa has without a domain naming them (rasa.shared.core.constants.DEFAULT_INTENTS).
RASA_DEFAULT_INTENTS = frozenset({FALLBACK_INTENT, "restart", "back", "out_of_scope", "session_start"})
# Input channel names (each InputChannel's name()); a new channel adds its name here.
CHANNELS = frozenset({"rest", "socketio", "wechat", "telegram", "cmdline"})
# Card status lookups (actions/status_lookup.py), by what came of them: counts only, never who.
LOOKUP_OUTCOMES = (
    "found",  # ID number and name matched a card; its status was explained
    "no_match",  # no card with that ID number and name (the two look the same to the person)
    "invalid_id",  # the ID number failed its check (GB 11643): asked again
    "invalid_name",  # what was typed is no name: asked again
    "locked",  # three failed verifications: the conversation is locked out for a while
    "rate_limited",  # the hourly cap of lookups was reached
    "unavailable",  # the card registry could not be reached
)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def metric_name(name: str) -> str:
    """``messages_total`` → ``shebaoka_messages_total``."""
    return f"{PREFIX}_{name}"


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The body and the Content-Type of a /metrics response (Prometheus' text format)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def clamp(value: object, allowed: Collection[str]) -> str:
    """``value`` when it is one of ``allowed``; ``none`` when empty; else ``other``."""
    if value is None or value == "":
        return NONE
    return value if isinstance(value, str) and value in allowed else OTHER


@lru_cache(maxsize=1)
def domain_names() -> tuple[frozenset[str], frozenset[str]]:
    """The intents and the custom actions domain.yml names (empty sets when it cannot be read)."""
    try:
        domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return frozenset(), frozenset()

    def names(items: object) -> frozenset[str]:
        found: set[str] = set()
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                found.add(item)
            elif isinstance(item, dict):  # `- intent_name: {use_entities: ...}`
                found.update(key for key in item if isinstance(key, str))
        return frozenset(found)

    return names(domain.get("intents")), names(domain.get("actions"))


def known_intents() -> frozenset[str]:
    """Every intent a message may be labelled with: domain.yml's and Rasa's own."""
    return domain_names()[0] | RASA_DEFAULT_INTENTS


def intent_label(intent: object, known: Optional[Collection[str]] = None) -> str:
    """The intent as a label value: a domain intent, ``none`` (no NLU result) or ``other``."""
    return clamp(intent, known_intents() if known is None else known)


def channel_label(channel: object) -> str:
    """The input channel's name as a label value (``other`` for a channel not in `CHANNELS`)."""
    return clamp(channel, CHANNELS)


def outcome_label(outcome: object) -> str:
    """A card-status lookup outcome as a label value (``other`` outside `LOOKUP_OUTCOMES`)."""
    return clamp(outcome, LOOKUP_OUTCOMES)


def action_label(action: object, registered: Collection[str]) -> str:
    """An action's name as a label value: one the action server registered, else ``other``."""
    return clamp(action, registered)


def method_label(method: object) -> str:
    """An HTTP method as a label value (``other`` for anything invented)."""
    return clamp(method.upper() if isinstance(method, str) else method, HTTP_METHODS)


def status_label(status: object) -> str:
    """An HTTP status code as a label value ("200"); ``other`` outside 100-599."""
    return str(status) if isinstance(status, int) and 100 <= status <= 599 else OTHER
