"""Removing personal data from conversation events before they are stored.

Works on the JSON form of Rasa events (`event.as_dict()`), so it has no Rasa imports. Three layers:
what a person typed while the lookup form asked for their ID number or name is replaced as a whole;
raw values of the form's slots are replaced (the form itself only keeps digests); and anything
ID-shaped anywhere in an event is masked, as a safety net.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.dialogue import LOOKUP_FORM, PRIVATE_SLOTS
from core.identity import redact_id_numbers

REDACTED = "[redacted]"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class RedactionState:
    """What the conversation was asking for when an event happened."""

    active_loop: str | None = None
    requested_slot: str | None = None

    def asking_private(self) -> bool:
        return self.active_loop == LOOKUP_FORM and self.requested_slot in PRIVATE_SLOTS


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_id_numbers(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    return value


def follow_event(event: dict[str, Any], state: RedactionState) -> None:
    """Update `state` for an event without redacting it (for events already stored)."""
    kind = event.get("event")
    if kind == "slot" and event.get("name") == "requested_slot":
        state.requested_slot = event.get("value")
    elif kind == "active_loop":
        state.active_loop = event.get("name")
        if state.active_loop is None:
            state.requested_slot = None
    elif kind == "restart" or kind == "session_started":
        state.active_loop = state.requested_slot = None


def redact_event(event: dict[str, Any], state: RedactionState) -> dict[str, Any]:
    """A copy of `event` safe to store; `state` is updated to follow the conversation."""
    kind = event.get("event")
    data = dict(event)
    if kind == "user" and state.asking_private():
        data["text"] = REDACTED
        parse_data = dict(data.get("parse_data") or {})
        if parse_data:
            parse_data["text"] = REDACTED
            parse_data["entities"] = []
            data["parse_data"] = parse_data
    elif kind == "slot":
        name, value = data.get("name"), data.get("value")
        if name in PRIVATE_SLOTS and value is not None and not _DIGEST.match(str(value)):
            data["value"] = REDACTED
    follow_event(event, state)
    return _scrub(data)
