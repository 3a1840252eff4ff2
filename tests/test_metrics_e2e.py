"""/metrics, /health and /ready of the running Rasa server (channels/ops.py) and action server
(actions/server.py), after real REST conversations: exact counts, and no ID number or name in them.

Counts are compared before and after this module's conversations, so the stack may be shared.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from core.dialogue import FALLBACK_INTENT
from tests.support import Stack, new_sender, texts

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = list(csv.DictReader((ROOT / "data" / "registry" / "sample_cards.csv").open(encoding="utf-8")))
ROW = next(row for row in SAMPLE if row["status"] == "issued_not_activated")
FORGED_INTENT = "made_up_intent_7f3a"

Samples = dict[tuple[str, frozenset], float]


def scrape(url: str) -> tuple[str, Samples]:
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def by_label(samples: Samples, name: str, label: str, **where: str) -> Counter[str]:
    """{label value: sample value} of the samples `name` whose other labels are `where`."""
    found: Counter[str] = Counter()
    for (sample, labels), value in samples.items():
        labels_dict = dict(labels)
        if sample == name and all(labels_dict.get(k) == v for k, v in where.items()):
            found[labels_dict[label]] += value
    return found


def delta(before: Samples, after: Samples, name: str, label: str, **where: str) -> Counter[str]:
    change = by_label(after, name, label, **where)
    change.subtract(by_label(before, name, label, **where))
    return Counter({key: value for key, value in change.items() if value})


class Run:
    """The metrics before and after one set of conversations, on both servers."""

    rasa_before: Samples
    rasa_after: Samples
    rasa_text: str
    actions_before: Samples
    actions_after: Samples
    actions_text: str
    sent = 0


@pytest.fixture(scope="module")
def run(stack: Stack) -> Iterator[Run]:
    result = Run()
    _, result.rasa_before = scrape(stack.rasa_url)
    _, result.actions_before = scrape(stack.actions_url)

    def say(text: str, sender: str | None = None) -> str:
        result.sent += 1
        return texts(stack.say(text, sender))

    say("社保卡在哪里激活")
    say("Do I need to bring my ID card to activate?")
    say("asdfgh qwerty")
    say("我要转人工")
    say(f"/{FORGED_INTENT}")
    sender = new_sender()
    say("帮我查一下我的社保卡状态", sender)
    say(ROW["id_number"], sender)
    reply = say(ROW["name"], sender)
    assert ROW["id_number"][:6] + "********" + ROW["id_number"][-4:] in reply  # the card was found

    result.rasa_text, result.rasa_after = scrape(stack.rasa_url)
    result.actions_text, result.actions_after = scrape(stack.actions_url)
    yield result


def test_every_message_is_counted_once_with_its_channel_and_time(run: Run) -> None:
    messages = delta(run.rasa_before, run.rasa_after, "shebaoka_messages_total", "channel")
    assert messages == Counter({"rest": run.sent})
    seconds = delta(run.rasa_before, run.rasa_after, "shebaoka_message_seconds_count", "channel")
    assert seconds == Counter({"rest": run.sent})
    buckets = delta(run.rasa_before, run.rasa_after, "shebaoka_message_seconds_bucket", "le", channel="rest")
    assert buckets["+Inf"] == run.sent


def test_intents_fallbacks_and_handoffs(run: Run) -> None:
    intents = delta(run.rasa_before, run.rasa_after, "shebaoka_messages_total", "intent", channel="rest")
    assert sum(intents.values()) == run.sent
    assert intents["ask_how_to_activate"] >= 1
    assert intents["ask_required_documents"] >= 1
    assert intents["request_human"] >= 1
    assert intents["ask_card_status"] + intents["check_card_status"] >= 1
    # The forged payload is counted too, never under its own name (this pipeline makes it a fallback;
    # an intent outside domain.yml would be "other": tests/test_metrics.py).
    assert FORGED_INTENT not in intents
    assert intents[FALLBACK_INTENT] >= 1
    fallbacks = delta(run.rasa_before, run.rasa_after, "shebaoka_fallbacks_total", "channel")
    handoffs = delta(run.rasa_before, run.rasa_after, "shebaoka_handoffs_total", "channel")
    assert fallbacks == Counter({"rest": intents[FALLBACK_INTENT]})
    assert handoffs == Counter({"rest": intents["request_human"]})
    errors = delta(run.rasa_before, run.rasa_after, "shebaoka_errors_total", "kind")
    assert errors == Counter()
    assert {"action_server", "handler"} <= set(by_label(run.rasa_after, "shebaoka_errors_total", "kind"))


def test_actions_and_the_lookup_are_counted(run: Run) -> None:
    runs = delta(run.actions_before, run.actions_after, "shebaoka_action_runs_total", "action")
    assert runs["action_card_status_lookup"] == 1
    assert runs["action_answer_topic"] >= 2
    assert runs["other"] == 0
    seconds = delta(run.actions_before, run.actions_after, "shebaoka_action_seconds_count", "action")
    assert seconds == runs
    assert delta(run.actions_before, run.actions_after, "shebaoka_action_errors_total", "action") == Counter()
    lookups = delta(run.actions_before, run.actions_after, "shebaoka_lookups_total", "outcome")
    assert lookups == Counter({"found": 1})


def test_no_id_number_name_or_forged_name_in_the_metrics(run: Run) -> None:
    for text in (run.rasa_text, run.actions_text):
        assert ROW["id_number"] not in text
        assert ROW["id_number"][-4:] + '"' not in text
        assert ROW["name"] not in text
        assert FORGED_INTENT not in text
        assert "asdfgh" not in text


def test_ready_and_health(stack: Stack) -> None:
    ready = requests.get(f"{stack.rasa_url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert requests.get(f"{stack.rasa_url}/health", timeout=10).json() == {"status": "ok"}
    actions = requests.get(f"{stack.actions_url}/ready", timeout=10)
    assert actions.status_code == 200, actions.text
    assert actions.json()["status"] == "ready" and actions.json()["missing_actions"] == []
    assert requests.get(f"{stack.actions_url}/health", timeout=10).json() == {"status": "ok"}
    # The Rasa server's routes are at its root, not under /webhooks/.
    assert requests.get(f"{stack.rasa_url}/webhooks/metrics", timeout=10).status_code == 404
