"""A long conversation over REST with the real servers: the tracker store hands Rasa a cut-down
session (core/tracker_compaction.py), yet the assistant still knows what was said at the start, a
lookup goes on across the cut, and the store holds every message once, in order."""

from __future__ import annotations

import json
import sqlite3

from tests.support import Stack, new_sender, texts

TURNS = ("激活要带什么", "How much does activation cost?", "拿到卡多久内要激活", "忘记密码怎么办", "谢谢")


def test_a_long_conversation_keeps_its_region_its_form_and_every_message(stack: Stack, kb) -> None:
    sender = new_sender()
    stack.say("我在广州", sender)
    sent = ["我在广州"]
    for number in range(32):  # well over the cut (about 240 events)
        text = TURNS[number % len(TURNS)]
        stack.say(text, sender)
        sent.append(text)
    assert kb.phrase("ask_id_number", "zh") in texts(stack.say("查询我的社保卡状态", sender))
    sent.append("查询我的社保卡状态")
    reply = texts(stack.say("社保卡在哪里激活", sender))  # asked while the form waits: answered, form asks again
    sent.append("[redacted]")  # typed while the form asked for the ID number: never stored as typed
    assert "广州" in reply  # the city named 35 messages ago
    assert kb.phrase("ask_id_number", "zh") in reply

    with sqlite3.connect(stack.tracker_db) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,)
        ).fetchall()
        total = connection.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]
    assert [json.loads(row[0])["text"] for row in rows] == sent
    assert total > 300  # stored whole
