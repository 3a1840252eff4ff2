"""Test support: the contract topics, and starting a running assistant (action server + Rasa server).

The running stack uses the trained model in models/ (``make test`` trains it first), a temporary
SQLite tracker store and card registry loaded with the sample cards, and free ports, so tests never
touch the developer's own databases.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


MODEL = ROOT / "models" / "activation.tar.gz"
# The 20 activation-topic intents of the fixed intent contract (their names never change).
CONTRACT_TOPICS = (
    "ask_how_to_activate",
    "ask_required_documents",
    "ask_activate_for_someone",
    "ask_activation_deadline",
    "ask_need_to_activate",
    "ask_financial_function",
    "ask_activation_fee",
    "ask_password",
    "ask_lost_or_replace_card",
    "ask_electronic_card",
    "ask_card_status",
    "report_card_problem",
    "ask_third_generation_card",
    "ask_apply_for_card",
    "ask_other_region",
    "ask_regional_differences",
    "ask_after_activation",
    "ask_legal_basis",
    "ask_scam_warning",
    "request_human",
)
RASA = ROOT / ".venv" / "bin" / "rasa"
TEST_SECRET = "test-only-registry-secret"
START_TIMEOUT = 240  # seconds: Rasa loads TensorFlow and the model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Stack:
    """A running assistant and the files it writes."""

    rasa_url: str
    actions_url: str
    workdir: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def tracker_db(self) -> Path:
        return self.workdir / "tracker.sqlite3"

    @property
    def registry_db(self) -> Path:
        return self.workdir / "registry.sqlite3"

    @property
    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob("*.log"))

    def say(self, text: str, sender: str | None = None) -> list[dict]:
        """Send a message over the REST channel; the bot's messages."""
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender or new_sender(), "message": text},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


def required(variable: str) -> bool:
    """REQUIRE_POSTGRES, REQUIRE_REDIS, REQUIRE_CLUSTER… set (CI): a missing service fails the tests
    that need it instead of skipping them."""
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no")


def new_sender() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def texts(messages: list[dict]) -> str:
    """All text of a reply, joined (for content assertions)."""
    return "\n".join(m.get("text", "") for m in messages)


def start_stack(workdir: Path, extra_env: dict[str, str] | None = None, extra_endpoints: str = "") -> Stack:
    """Start the action server and the Rasa server on free ports; the caller stops them.

    The tracker store is SQLite in `workdir` unless `extra_env` sets TRACKER_STORE_URL; `extra_endpoints`
    is appended to the generated endpoints.yml (e.g. a `lock_store:` section)."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` (make test does) first")
    workdir.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if k != "TRACKER_STORE_URL"}
    env = {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "CARD_REGISTRY_URL": f"sqlite:///{workdir / 'registry.sqlite3'}",
        "CARD_REGISTRY_SECRET": TEST_SECRET,
        "OPS_DB_URL": f"sqlite:///{workdir / 'ops.sqlite3'}",
        **(extra_env or {}),
    }
    for var in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY", "WECHAT_API_BASE", "REDIS_URL"):
        env.setdefault(var, "")
    if "CARD_REGISTRY_URL" not in (extra_env or {}):
        subprocess.run(
            [sys.executable, "-m", "core.import_cards", str(ROOT / "data/registry/sample_cards.csv")],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        "tracker_store:\n  type: tracker_store.redacting.RedactingSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {workdir / 'tracker.sqlite3'}\n" + extra_endpoints,
        encoding="utf-8",
    )
    stack = Stack(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}", workdir, env)
    actions_log = (workdir / "actions.log").open("w")
    stack.processes.append(
        subprocess.Popen(
            # rasa-sdk with /metrics and /ready (actions/server.py); `rasa run actions` flags.
            [sys.executable, "-m", "actions.server", "--port", str(action_port), "--actions", "actions"],
            cwd=ROOT,
            env=env,
            stdout=actions_log,
            stderr=subprocess.STDOUT,
        )
    )
    rasa_log = (workdir / "rasa-stdout.log").open("w")
    stack.processes.append(
        subprocess.Popen(
            [
                str(RASA),
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "credentials.yml"),
                "--port",
                str(rasa_port),
                "--log-file",
                str(workdir / "rasa.log"),
                "--cors",
                "http://127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=rasa_log,
            stderr=subprocess.STDOUT,
        )
    )
    try:
        wait_until_up(f"{stack.actions_url}/ready", stack.processes[0], workdir / "actions.log")
        wait_until_up(f"{stack.rasa_url}/", stack.processes[1], workdir / "rasa-stdout.log")
    except Exception:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    for process in stack.processes:
        process.terminate()
    for process in stack.processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def topic_answers(kb: Any, topic: str, language: str) -> list[str]:
    """Every answer the assistant may give to a question of `topic`: its general answer and each of
    its question-level entries' answers (the NLU picks one)."""
    return [kb.topics[topic]["answer"][language].strip()] + [e["answer"][language].strip() for e in kb.entries(topic)]


# Questions that sit between two topics, as real ones do: which topic the model puts second, and how
# close, depends on the training data, so tests take the first whose answer offers the other topic.
BETWEEN_TWO_TOPICS = (
    "I am a foreigner with a passport, how do I activate my card?",
    "社保卡激活后能直接取钱吗?",
    "Can the medical card be used in other places?",
    "医保卡被锁了怎么解锁",
    "社保卡激活需要多长时间?",
    "How can I save the money in my medical insurance card?",
)
INSTEAD_OF = re.compile(r'^/(\w+)\{"instead_of": "(\w+)"\}$')


def question_with_runner_up(stack: Stack) -> tuple[str, dict, str, str]:
    """A question of BETWEEN_TWO_TOPICS whose answer ends with the "I meant: …" button: the question,
    that button, the topic answered and the topic the button offers."""
    for question in BETWEEN_TWO_TOPICS:
        for button in (b for message in stack.say(question) for b in message.get("buttons") or []):
            named = INSTEAD_OF.match(button.get("payload", ""))
            if named:
                return question, button, named.group(2), named.group(1)
    raise AssertionError(f"no answer offered a second topic for any of {BETWEEN_TWO_TOPICS}")


def answers_topic(reply: str, kb: Any, topic: str, language: str) -> bool:
    """True when `reply` holds one of `topic`'s answers (its first line, as a bubble shows it)."""
    return any(answer.splitlines()[0] in reply for answer in topic_answers(kb, topic, language))
