"""Shared fixtures: the knowledge base, and a running assistant (action server + Rasa server).

The running stack uses the trained model in models/ (``make test`` trains it first), a temporary
SQLite tracker store and card registry loaded with the sample cards, and free ports, so tests never
touch the developer's own databases. Helpers live in tests/support.py.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterator

import pytest
import redis

from core.knowledge import KnowledgeBase, load_knowledge
from tests.support import Stack, required, start_stack, stop_stack

# Actions run in-process by the tests write feedback, review items and handoff codes here, never
# into the developer's var/ops.sqlite3.
os.environ.setdefault("OPS_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='ops-test-')}/ops.sqlite3")


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The assistant, running, shared by the end-to-end tests of a session."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)


@pytest.fixture
def redis_up() -> None:
    """Redis on 127.0.0.1:6379: skipped without it, unless REQUIRE_REDIS is set (CI), then failed."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except Exception as error:  # noqa: BLE001
        if required("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS is set but Redis is unreachable: {error}")
        pytest.skip("Redis is not reachable (set REQUIRE_REDIS=1 to make this fail)")
