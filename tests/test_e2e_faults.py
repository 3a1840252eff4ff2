"""A slow or dead action server, over REST with the real servers: a clear answer within seconds in
the person's language, the conversation going on when it is back, and no typed ID number in any log."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support import ROOT, Stack, answers_topic, new_sender, start_stack, stop_stack, texts, wait_until_up

pytestmark = pytest.mark.e2e
RAW_ID = "11010519491231002X"


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own, whose action server the test stops and starts."""
    running = start_stack(tmp_path / "stack", {"ACTION_SERVER_TIMEOUT": "3", "ACTION_SERVER_RETRY_AFTER": "2"})
    yield running
    stop_stack(running)


def _action_port(stack: Stack) -> int:
    return int(urlsplit(stack.actions_url).port or 0)


def stop_actions(stack: Stack) -> None:
    stack.processes[0].terminate()
    stack.processes[0].wait(timeout=20)


def start_actions(stack: Stack) -> None:
    log = (stack.workdir / "actions-restarted.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(_action_port(stack)), "--actions", "actions"],
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.processes[0] = process
    wait_until_up(f"{stack.actions_url}/ready", process, stack.workdir / "actions-restarted.log")


class HungServer:
    """Accepts connections on the action server's port and never answers."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.socket.settimeout(0.2)
        self.open: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
                self.open.append(connection)
            except OSError:
                continue

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        for connection in self.open:
            connection.close()
        self.socket.close()


def timed_say(stack: Stack, text: str, sender: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = texts(stack.say(text, sender))
    return reply, time.monotonic() - started


def test_dead_action_server_gets_a_busy_answer_and_the_conversation_goes_on(faulty, kb):
    sender = new_sender()
    stop_actions(faulty)
    reply, seconds = timed_say(faulty, "社保卡在哪里激活", sender)
    assert reply == kb.phrase("service_busy", "zh") and seconds < 5
    english, _ = timed_say(faulty, "How much does activation cost?", sender)
    assert kb.phrase("service_busy", "en") in english
    start_actions(faulty)
    time.sleep(2.5)  # the retry window
    answer, _ = timed_say(faulty, "社保卡在哪里激活", sender)
    assert answers_topic(answer, kb, "ask_how_to_activate", "zh")


def test_hung_action_server_during_the_lookup_answers_in_seconds_and_logs_no_id(faulty, kb):
    sender = new_sender()
    asked = texts(faulty.say("帮我查一下我的社保卡状态", sender))
    assert asked == kb.phrase("ask_id_number", "zh")
    stop_actions(faulty)
    hung = HungServer(_action_port(faulty))
    try:
        reply, seconds = timed_say(faulty, RAW_ID, sender)
        assert kb.phrase("service_busy", "zh") in reply
        assert seconds < 3 + 5  # one timed-out call (3 s here), then every other call fails fast
        again, quick = timed_say(faulty, "社保卡在哪里激活", sender)
        assert kb.phrase("service_busy", "zh") in again and quick < 5
    finally:
        hung.close()
    logs = [path.read_bytes() for path in faulty.logs]
    assert logs and not any(RAW_ID.encode() in data for data in logs)
    assert not any(RAW_ID.encode() in data for data in [faulty.tracker_db.read_bytes()])
