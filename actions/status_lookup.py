"""Rasa glue for "check my card status": the form that verifies the holder, and the lookup.

Raw ID numbers and names never go into a slot: validation replaces them with keyed hashes (for the
lookup) and masked forms (for the reply). Every lookup needs both again, and the lock-out and hourly
limit are kept in the registry database, so restarting the conversation does not reset them.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import KB, reply_language, send
from actions.metrics import count_lookup
from core.card_registry import CardRegistry, LookupKind
from core.compose import compose_status
from core.dialogue import ID_DIGEST_SLOT, ID_MASKED_SLOT, LOOKUP_FORM, LOOKUP_SLOTS, NAME_DIGEST_SLOT, NAME_MASKED_SLOT
from core.identity import extract_id_number, extract_name, mask_id_number, mask_name, validate_id_number
from core.lookup_policy import WINDOW, Decision, lookup_decision
from core.text_input import clean_text

# Room for a foreigner's full name as on a passport ("SMITH, JOHN WILLIAM ..."); the limit only
# stops a pasted paragraph from being taken for a name.
MAX_NAME_CHARS = 64


@lru_cache(maxsize=1)
def registry() -> CardRegistry:
    """The card registry of this process (URL from CARD_REGISTRY_URL; SQLite by default)."""
    return CardRegistry()


def _decide(conversation_id: str) -> Optional[Decision]:
    """The lock-out/limit decision for a conversation, or None when the registry is unreachable."""
    now = datetime.now(timezone.utc)
    try:
        registry().ensure_schema()
    except Exception:  # noqa: BLE001 - any failure here means "unreachable"; lookup says so
        return None
    attempts = registry().attempts_since(conversation_id, now - WINDOW)
    return None if attempts is None else lookup_decision(attempts, now)


def _clear_form() -> List[EventType]:
    return [SlotSet(slot, None) for slot in LOOKUP_SLOTS]


class ValidateCardStatusForm(FormValidationAction):
    """Checks the ID number (resident ID, HK/Macao/Taiwan residence permit or foreigner's permanent
    residence ID; core.identity) and the name, and turns both into digests at once."""

    def name(self) -> Text:
        return f"validate_{LOOKUP_FORM}"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        # Locked, over the limit or unreachable: ask nothing; the lookup action says why.
        decision = await asyncio.to_thread(_decide, tracker.sender_id)
        return domain_slots if decision is not None and decision.allowed else []

    def validate_id_digest(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        check = validate_id_number(extract_id_number(clean_text(str(slot_value or ""))))
        if not check.ok or check.normalized is None:
            problem = check.problem or "characters"
            count_lookup("invalid_id")
            send(dispatcher, tracker, KB.phrase(f"id_problem_{problem}", reply_language(tracker)))
            return {ID_DIGEST_SLOT: None}
        return {
            ID_DIGEST_SLOT: registry().hash_id_number(check.normalized),
            ID_MASKED_SLOT: mask_id_number(check.normalized),
        }

    def validate_name_digest(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        name = extract_name(clean_text(str(slot_value or "")))
        if not name or len(name) > MAX_NAME_CHARS or any(ch.isdigit() for ch in name):
            count_lookup("invalid_name")
            send(dispatcher, tracker, KB.phrase("name_problem", reply_language(tracker)))
            return {NAME_DIGEST_SLOT: None}
        return {NAME_DIGEST_SLOT: registry().hash_name(name), NAME_MASKED_SLOT: mask_name(name)}


class ActionCardStatusLookup(Action):
    """After the form: look the card up by digests and explain its status; then forget both."""

    def name(self) -> Text:
        return "action_card_status_lookup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        language = reply_language(tracker)
        decision = await asyncio.to_thread(_decide, tracker.sender_id)
        if decision is None:
            count_lookup("unavailable")
            send(dispatcher, tracker, KB.phrase("lookup_unavailable", language))
            return _clear_form()
        if not decision.allowed:
            count_lookup(decision.reason or "locked")  # "locked" or "rate_limited"
            minutes = str(max(1, math.ceil(decision.retry_after.total_seconds() / 60)))
            send(dispatcher, tracker, KB.phrase(f"lookup_{decision.reason}", language, minutes=minutes))
            return _clear_form()
        id_digest, name_digest = tracker.get_slot(ID_DIGEST_SLOT), tracker.get_slot(NAME_DIGEST_SLOT)
        if not id_digest or not name_digest:
            return _clear_form()
        result = await asyncio.to_thread(registry().lookup_digests, id_digest, name_digest)
        if result.kind is LookupKind.UNAVAILABLE:
            count_lookup("unavailable")
            send(dispatcher, tracker, KB.phrase("lookup_unavailable", language))
            return _clear_form()
        await asyncio.to_thread(registry().record_attempt, tracker.sender_id, result.kind is LookupKind.FOUND)
        if result.kind is LookupKind.NO_MATCH or result.card is None:
            count_lookup("no_match")
            send(dispatcher, tracker, KB.phrase("lookup_no_match", language))
            return _clear_form()
        count_lookup("found")
        card = result.card
        for text in compose_status(
            KB,
            card.status.value,
            language,
            city=card.issuing_city,
            masked_id=tracker.get_slot(ID_MASKED_SLOT) or "",
            masked_name=tracker.get_slot(NAME_MASKED_SLOT) or "",
            outlet=card.collection_outlet,
            deadline=card.activation_deadline.isoformat() if card.activation_deadline else None,
            applied_on=card.applied_on.isoformat() if card.applied_on else None,
        ):
            send(dispatcher, tracker, text)
        # ID number and name matched a card: a handoff summary may say identity was verified.
        return _clear_form() + [SlotSet("identity_verified", True)]


class ActionStopStatusLookup(Action):
    """The person cancelled the lookup: forget what the form had (the rule then says so)."""

    def name(self) -> Text:
        return "action_stop_status_lookup"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        return _clear_form()


class ActionAskIdDigest(Action):
    """Asks for the ID number (the form keeps only its digest) in the person's language."""

    def name(self) -> Text:
        return f"action_ask_{ID_DIGEST_SLOT}"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        send(dispatcher, tracker, KB.phrase("ask_id_number", reply_language(tracker)))
        return []


class ActionAskNameDigest(Action):
    """Asks for the holder's name (the form keeps only its digest) in the person's language."""

    def name(self) -> Text:
        return f"action_ask_{NAME_DIGEST_SLOT}"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        send(dispatcher, tracker, KB.phrase("ask_holder_name", reply_language(tracker)))
        return []
