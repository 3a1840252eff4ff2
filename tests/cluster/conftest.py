"""The cluster fixture: scripts/run-cluster (2 Rasa servers, 2 action servers, HAProxy) on free ports.

Skipped when haproxy, PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) is missing, unless
REQUIRE_CLUSTER is set (CI): then the tests fail instead. Each run gets its own PostgreSQL database
and Redis lock prefix, both removed afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.cluster.harness import Cluster, missing_pieces, required, start_cluster, stop_cluster


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cluster`` marker (pyproject.toml lists the project's other markers)."""
    config.addinivalue_line("markers", "cluster: starts scripts/run-cluster (2 Rasa + 2 action servers behind HAProxy)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The running cluster, shared by the tests of a module; stopped and cleaned up after them."""
    missing = missing_pieces()
    if missing:
        reason = "; ".join(missing)
        if required():
            pytest.fail(f"REQUIRE_CLUSTER is set but {reason}")
        pytest.skip(f"cluster tests need {reason} (set REQUIRE_CLUSTER=1 to make this fail)")
    workdir: Path = tmp_path_factory.mktemp("cluster")
    running = start_cluster(workdir)
    yield running
    stop_cluster(running)
