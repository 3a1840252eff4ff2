"""Names the domain (domain.yml) and the core share: the lookup form, its slots, the fallback intent.

One definition each; actions, the NLU components and the redaction all import them from here.
"""

from __future__ import annotations

from collections.abc import Collection
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


# A runner-up topic held with at least this share of the answered topic's confidence is offered as a
# button under the answer ("I meant: …"). On the real questions (`make evaluate`, README
# "Measured") the right topic is that button under 2.1 (zh) / 1.3 (en) in 100 answers whose topic is
# wrong, and 12% / 23% of answers get the button; a share of 0.4 finds a point more for half again as
# many buttons.
RUNNER_UP_SHARE = 0.5
# The entity of that button's payload naming the topic answered first: a tap says the person meant the
# other one, and their question goes to the review queue (actions.operations.review_runner_up).
INSTEAD_OF_ENTITY = "instead_of"


def runner_up_topic(parse_data: dict[str, Any], answered: str, topics: Collection[str]) -> str | None:
    """The topic the classifier nearly chose instead of `answered`: the next topic of the intent
    ranking when it is one of `topics` and held with at least RUNNER_UP_SHARE of the answered topic's
    confidence; else None (a clear answer, or a runner-up that is no topic — a greeting, out of scope)."""
    ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    if len(ranking) < 2 or ranking[0].get("name") != answered:
        return None
    first, second = ranking[0], ranking[1]
    name = second.get("name")
    confidence = float(second.get("confidence") or 0.0)
    held = confidence > 0 and confidence >= RUNNER_UP_SHARE * float(first.get("confidence") or 0.0)
    return str(name) if held and name in topics else None


# Each topic a message of two or three questions asks, in order (components.topic_classifier).
QUESTION_TOPIC_ENTITY = "question_topic"
# Set by components.input_guard when a message is written in traditional characters.
SCRIPT_ENTITY = "script"
