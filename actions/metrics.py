"""The action server's metrics and readiness (served by actions/server.py at /metrics and /ready).

- `shebaoka_action_runs_total{action}`, `shebaoka_action_seconds{action}` (histogram) and
  `shebaoka_action_errors_total{action}`: every action call, counted by `MeteredActionExecutor`.
  The action label is a name this server registered; a call naming anything else is ``other``.
  A form's rejection (`ActionExecutionRejection`, "not me") is part of how forms work: not an error.
- `shebaoka_lookups_total{outcome}`: card status lookups by outcome (core.metrics.LOOKUP_OUTCOMES),
  counted by actions/status_lookup.py where the outcome is known. Counts only: never an ID or a name.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Dict, List, Optional, Text, Tuple

from prometheus_client import Counter, Histogram
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection

from core.knowledge import knowledge
from core.metrics import LOOKUP_OUTCOMES, SECONDS_BUCKETS, action_label, domain_names, metric_name, outcome_label

ACTION_RUNS = Counter(metric_name("action_runs_total"), "Action calls, by action", ["action"])
ACTION_SECONDS = Histogram(metric_name("action_seconds"), "Time to run one action", ["action"], buckets=SECONDS_BUCKETS)
ACTION_ERRORS = Counter(metric_name("action_errors_total"), "Action calls that failed, by action", ["action"])
LOOKUPS = Counter(metric_name("lookups_total"), "Card status lookups, by outcome", ["outcome"])
for _outcome in LOOKUP_OUTCOMES:  # every outcome's series from the start, at 0
    LOOKUPS.labels(outcome=_outcome)

# Actions Rasa runs itself even when a domain lists them: the action server need not have them.
RASA_OWN_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_revert_fallback_events",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_back",
        "action_extract_slots",
    }
)


def count_lookup(outcome: str) -> None:
    """Count one card status lookup's outcome (one of core.metrics.LOOKUP_OUTCOMES)."""
    LOOKUPS.labels(outcome=outcome_label(outcome)).inc()


class MeteredActionExecutor(ActionExecutor):
    """rasa-sdk's executor, counting and timing each action call; remembers the latest instance."""

    latest: ClassVar[Optional[MeteredActionExecutor]] = None

    def __init__(self) -> None:
        super().__init__()
        MeteredActionExecutor.latest = self

    async def run(self, action_call: Dict[Text, Any]) -> Optional[Dict[Text, Any]]:
        action = action_label(action_call.get("next_action"), self.actions)
        started = time.perf_counter()
        try:
            return await super().run(action_call)
        except ActionExecutionRejection:
            raise
        except Exception:
            ACTION_ERRORS.labels(action=action).inc()
            raise
        finally:
            ACTION_RUNS.labels(action=action).inc()
            ACTION_SECONDS.labels(action=action).observe(time.perf_counter() - started)


def expected_actions() -> frozenset[str]:
    """The custom actions domain.yml names: the ones this server must have registered."""
    return frozenset(
        name for name in domain_names()[1] if not name.startswith("utter_") and name not in RASA_OWN_ACTIONS
    )


def readiness(executor: Optional[ActionExecutor]) -> Tuple[bool, Dict[str, Any]]:
    """Ready when the executor registered every action domain.yml names (at least one, if domain.yml
    cannot be read) and the knowledge base is loaded; the report says what is missing."""
    registered = set(executor.actions) if executor is not None else set()
    expected = expected_actions()
    missing: List[str] = sorted(expected - registered)
    knowledge_loaded = knowledge.cache_info().currsize > 0  # actions/common.py loads it at import
    ok = executor is not None and bool(registered) and not missing and knowledge_loaded
    report: Dict[str, Any] = {
        "status": "ready" if ok else "not ready",
        "actions": len(registered),
        "missing_actions": missing,
        "knowledge": knowledge_loaded,
    }
    return ok, report
