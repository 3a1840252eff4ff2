"""The redacting tracker store on SQLite and on the real PostgreSQL: what is saved has no raw ID
number or lookup name, and a conversation reloads with the form's digests intact."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
import sqlalchemy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tracker_store.redacting import RedactingSQLTrackerStore

PG_URL = os.environ.get("TRACKER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ID_NUMBER, NAME = "11010519491231002X", "张三"
DIGEST = "a" * 64


def lookup_events() -> list:
    return [
        UserUttered("帮我查一下我的社保卡状态", {"name": "check_card_status", "confidence": 0.9}),
        ActionExecuted("card_status_form"),
        ActiveLoop("card_status_form"),
        SlotSet("requested_slot", "id_digest"),
        ActionExecuted("action_listen"),
        UserUttered(ID_NUMBER, {"name": "inform", "confidence": 0.9}, parse_data={"text": ID_NUMBER}),
        SlotSet("id_digest", ID_NUMBER),  # what from_text extraction sets, before validation
        SlotSet("id_digest", DIGEST),
        SlotSet("requested_slot", "name_digest"),
        ActionExecuted("action_listen"),
        UserUttered(NAME, {"name": "inform", "confidence": 0.5}),
        SlotSet("name_digest", NAME),
        SlotSet("name_digest", DIGEST),
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        ActionExecuted("action_listen"),
        UserUttered(f"my friend's id is {ID_NUMBER}", {"name": "inform", "confidence": 0.5}),
    ]


def store_for(backend: str, tmp_path, monkeypatch) -> tuple[RedactingSQLTrackerStore, sqlalchemy.engine.Engine]:
    domain = Domain.from_yaml(open("domain.yml", encoding="utf-8").read())
    if backend == "sqlite":
        monkeypatch.delenv("TRACKER_STORE_URL", raising=False)
        path = tmp_path / "tracker.sqlite3"
        return RedactingSQLTrackerStore(domain=domain, db=str(path)), sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3}).connect().close()
    except Exception as error:  # noqa: BLE001
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES is set but PostgreSQL is unreachable: {error}")
        pytest.skip("PostgreSQL is not reachable (set REQUIRE_POSTGRES=1 to make this fail)")
    monkeypatch.setenv("TRACKER_STORE_URL", PG_URL)
    return RedactingSQLTrackerStore(domain=domain), sqlalchemy.create_engine(PG_URL)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_saved_events_hold_no_raw_id_or_name(backend, tmp_path, monkeypatch):
    store, engine = store_for(backend, tmp_path, monkeypatch)
    sender = f"redaction-{uuid.uuid4().hex[:8]}"
    tracker = DialogueStateTracker.from_events(sender, lookup_events(), slots=store.domain.slots)
    asyncio.run(store.save(tracker))

    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).all()
    stored = "\n".join(row[0] for row in rows)
    decoded = "\n".join(json.dumps(json.loads(row[0]), ensure_ascii=False) for row in rows)
    assert len(rows) == len(lookup_events())
    for secret in (ID_NUMBER, NAME):
        assert secret not in stored and secret not in decoded
    assert "110105********002X" in decoded  # the ID typed outside the form is masked, not dropped

    reloaded = asyncio.run(store.retrieve(sender))
    assert reloaded.get_slot("id_digest") == DIGEST and reloaded.get_slot("name_digest") == DIGEST
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM events WHERE sender_id = :s"), {"s": sender})


# -- long conversations: retrieved cut short, stored whole ------------------------------------


def chatty_turn(number: int) -> list:
    return [
        UserUttered(f"第{number}个问题", {"name": "ask_password", "confidence": 0.9}),
        SlotSet("language", "zh"),
        ActionExecuted("action_answer_topic"),
        SlotSet("topic", "ask_password"),
        SlotSet("topics", ["ask_password"]),
        ActionExecuted("action_listen"),
    ]


def long_conversation(turns: int) -> list:
    events = [ActionExecuted("action_session_start"), ActionExecuted("action_listen")]
    events += [UserUttered("我在上海", {"name": "inform", "confidence": 0.9}), SlotSet("region", "上海市")]
    events += [ActionExecuted("action_answer_topic"), ActionExecuted("action_listen")]
    for number in range(turns):
        events += chatty_turn(number)
    return events


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_long_session_is_retrieved_short_with_its_state_and_stored_whole(backend, tmp_path, monkeypatch):
    from core.tracker_compaction import COMPACT_ABOVE, KEEP_EVENTS

    store, engine = store_for(backend, tmp_path, monkeypatch)
    sender = f"long-{uuid.uuid4().hex[:8]}"
    events = long_conversation(80) + lookup_events()[:5]  # ends with the form asking for the ID number
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events, slots=store.domain.slots)))
    assert len(events) > COMPACT_ABOVE

    tracker = asyncio.run(store.retrieve(sender))
    assert len(tracker.events) < KEEP_EVENTS + 20  # the opening, the state, the last turns
    assert tracker.get_slot("region") == "上海市"  # set at the start, long before the cut
    assert tracker.get_slot("topics") == ["ask_password"]
    assert tracker.active_loop_name == "card_status_form" and tracker.get_slot("requested_slot") == "id_digest"
    full = asyncio.run(store.retrieve_full_tracker(sender))
    assert len(full.events) == len(events)  # nothing was cut from the store

    # The ID typed now (the form asks for it) is redacted, and only the new events are added.
    tracker.update(UserUttered(ID_NUMBER, {"name": "inform", "confidence": 0.9}, parse_data={"text": ID_NUMBER}))
    tracker.update(SlotSet("id_digest", DIGEST))
    asyncio.run(store.save(tracker))
    asyncio.run(store.save(tracker))  # saving the same tracker again adds nothing
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).all()
    assert len(rows) == len(events) + 2
    assert ID_NUMBER not in rows[-2][1] and json.loads(rows[-2][1])["text"] == "[redacted]"
    again = asyncio.run(store.retrieve(sender))
    assert again.latest_message.text == "[redacted]" and again.get_slot("id_digest") == DIGEST


def test_a_cut_tracker_that_lost_its_mark_still_adds_only_new_events(tmp_path, monkeypatch):
    store, engine = store_for("sqlite", tmp_path, monkeypatch)
    sender = "long-copy"
    events = long_conversation(60)
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events, slots=store.domain.slots)))
    copy = asyncio.run(store.retrieve(sender)).copy()  # a copy: the store's mark is gone
    copy.update(UserUttered("新问题", {"name": "ask_password", "confidence": 0.9}))
    asyncio.run(store.save(copy))
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender})
        assert count.scalar() == len(events) + 1


def test_short_sessions_are_not_cut():
    from core.tracker_compaction import compact_events

    events = [e.as_dict() for e in long_conversation(5)]
    assert compact_events(events) is None


def test_the_stores_queries_cut_as_the_reference_does(tmp_path, monkeypatch):
    """`_session_events` reads only the end, the opening and each slot's last value with SQL;
    `compact_events` is the same cut over the whole list: both give the same session."""
    from core.tracker_compaction import compact_events

    store, engine = store_for("sqlite", tmp_path, monkeypatch)
    sender = "long-reference"
    events = long_conversation(70) + lookup_events()[:5]
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events, slots=store.domain.slots)))
    with store.session_scope() as session:
        from_sql = store._session_events(session, sender)
    with engine.connect() as connection:
        stored = [json.loads(row[0]) for row in connection.execute(
            sqlalchemy.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        )]  # fmt: skip
    reference = compact_events(stored)
    assert reference is not None

    def state(session_events: list) -> dict:
        tracker = DialogueStateTracker.from_dict(sender, session_events, store.domain.slots)
        return {"slots": tracker.current_slot_values(), "loop": tracker.active_loop_name, "n": len(session_events)}

    assert state(from_sql) == state(reference)
    assert from_sql[-40:] == reference[-40:]
