"""Names the domain (domain.yml) and the core share: the lookup form, its slots, the fallback intent.

One definition each; actions, the NLU components and the redaction all import them from here.
"""

from __future__ import annotations

from typing import Any

LOOKUP_FORM = "card_status_form"
# The form's slots hold keyed digests and masked forms, never the raw ID number or name.
ID_DIGEST_SLOT = "id_digest"
NAME_DIGEST_SLOT = "name_digest"
ID_MASKED_SLOT = "id_masked"
NAME_MASKED_SLOT = "name_masked"
PRIVATE_SLOTS = (ID_DIGEST_SLOT, NAME_DIGEST_SLOT)  # what the person types while these are asked for
LOOKUP_SLOTS = (ID_DIGEST_SLOT, NAME_DIGEST_SLOT, ID_MASKED_SLOT, NAME_MASKED_SLOT)

FALLBACK_INTENT = "nlu_fallback"  # Rasa's FallbackClassifier's intent
# The NLU output key under which components.entry_selector names the entry (Rasa's FAQ format).
RESPONSE_SELECTOR = "response_selector"


def selected_entry_key(parse_data: dict[str, Any], topic: str) -> str | None:
    """The entry of `topic` the entry selector picked ("<topic>/<entry>" → "<entry>"), or None."""
    chosen = (((parse_data.get(RESPONSE_SELECTOR) or {}).get(topic) or {}).get("response") or {}).get(
        "intent_response_key"
    )
    return chosen.split("/", 1)[1] if isinstance(chosen, str) and chosen.startswith(f"{topic}/") else None


# Each topic a message of two or three questions asks, in order (components.topic_classifier).
QUESTION_TOPIC_ENTITY = "question_topic"
# Set by components.input_guard when a message is written in traditional characters.
SCRIPT_ENTITY = "script"
