"""Card-status lookups over Rasa's REST webhook with a foreigner's permanent residence ID (2023
edition, starting with 9) and a Taiwan resident's residence permit (830000…): the status is
explained, and neither the number nor the name is left in any log or store of the running stack.
"""

from __future__ import annotations

import pytest

from tests.support import Stack, new_sender, texts

pytestmark = pytest.mark.e2e

# The made-up sample cards of data/registry/sample_cards.csv.
FOREIGNER = {
    "id_number": "911840198506120015",
    "name": "SMITH JOHN",
    "masked_id": "911***********0015",
    "masked_name": "S**** J***",
    "status": "ready_for_collection",
}
TAIWAN_RESIDENT = {
    "id_number": "830000199003150027",
    "name": "林雅婷",
    "masked_id": "830000********0027",
    "masked_name": "林**",
    "status": "issued_not_activated",
}
OLD_FOREIGN_CARD = "KAZ110090123105"


def lookup(stack: Stack, id_number: str, name: str, ask: str, sender: str | None = None) -> list[str]:
    sender = sender or new_sender()
    return [texts(stack.say(turn, sender)) for turn in (ask, id_number, name)]


def stored_bytes(stack: Stack) -> bytes:
    """The tracker store, the registry and the operations store, with any SQLite journal files."""
    return b"".join(path.read_bytes() for path in sorted(stack.workdir.glob("*.sqlite3*")))


@pytest.mark.parametrize(
    ("card", "ask", "language"),
    [
        (FOREIGNER, "帮我查一下我的社保卡状态", "zh"),
        (FOREIGNER, "check my card status", "en"),
        (TAIWAN_RESIDENT, "帮我查一下我的社保卡状态", "zh"),
    ],
    ids=["foreigner-zh", "foreigner-en", "taiwan-zh"],
)
def test_foreigner_and_taiwan_resident_get_their_card_status(stack, kb, card, ask, language):
    asked, after_id, result = lookup(stack, card["id_number"], card["name"], ask)
    assert asked == kb.phrase("ask_id_number", language)
    assert after_id == kb.phrase("ask_holder_name", language)
    assert kb.card_status[card["status"]][language].split("{")[0] in result
    assert card["masked_id"] in result and card["masked_name"] in result
    assert card["id_number"] not in result and card["name"] not in result


def test_a_wrong_check_character_on_a_foreigner_id_says_so_and_asks_again(stack, kb):
    sender = new_sender()
    stack.say("帮我查一下我的社保卡状态", sender)
    reply = texts(stack.say(FOREIGNER["id_number"][:17] + "6", sender))
    assert kb.phrase("id_problem_check_digit", "zh") in reply
    assert kb.phrase("ask_id_number", "zh") in reply
    reply = texts(stack.say(OLD_FOREIGN_CARD, sender))
    assert kb.phrase("id_problem_old_foreign_card", "zh") in reply


def test_no_raw_number_or_name_in_the_logs_or_the_stores(stack):
    lookup(stack, FOREIGNER["id_number"], FOREIGNER["name"], "帮我查一下我的社保卡状态")
    lookup(stack, TAIWAN_RESIDENT["id_number"], TAIWAN_RESIDENT["name"], "check my card status")
    # Outside the form the safety net masks anything ID-shaped.
    stack.say(f"my permanent residence ID is {FOREIGNER['id_number']}, the old one {OLD_FOREIGN_CARD}")
    stack.say(f"台湾居民居住证 {TAIWAN_RESIDENT['id_number']} 怎么激活社保卡")
    assert stack.tracker_db.read_bytes(), "the tracker store wrote nothing"
    stored = stored_bytes(stack)
    secrets = [
        FOREIGNER["id_number"],
        FOREIGNER["name"],
        TAIWAN_RESIDENT["id_number"],
        TAIWAN_RESIDENT["name"],
        OLD_FOREIGN_CARD,
    ]
    for secret in secrets:
        for encoded in (secret.encode(), secret.encode("unicode_escape")):
            assert encoded not in stored, f"{secret} in a store"
        for log in stack.logs:
            assert secret not in log.read_text(errors="replace"), f"{secret} in {log.name}"
