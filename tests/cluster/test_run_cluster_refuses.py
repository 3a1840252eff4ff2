"""scripts/run-cluster refuses to start, and says why, when PostgreSQL or Redis cannot be reached.

Nothing is started in these cases (the checks come first), so they take a few seconds and need
neither haproxy (HAPROXY=true stands in for it) nor the services themselves.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cluster.harness import MODEL, ROOT, free_ports, required

pytestmark = pytest.mark.cluster


def run_cluster(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/run-cluster on free ports with ``overrides``; it must exit by itself."""
    if not MODEL.exists():
        if required():
            pytest.fail(f"REQUIRE_CLUSTER is set but {MODEL} is missing (make train)")
        pytest.skip(f"{MODEL} is missing (make train)")
    port, stats, actions_lb, rasa1, rasa2, actions1, actions2 = free_ports(7)
    env = {
        **{name: value for name, value in os.environ.items() if name not in ("TRACKER_STORE_URL", "CARD_REGISTRY_URL")},
        "HAPROXY": "true",
        "CLUSTER_PORT": str(port),
        "CLUSTER_STATS_PORT": str(stats),
        "CLUSTER_ACTIONS_LB_PORT": str(actions_lb),
        "CLUSTER_RASA_PORTS": f"{rasa1} {rasa2}",
        "CLUSTER_ACTION_PORTS": f"{actions1} {actions2}",
        "CLUSTER_DIR": "/nonexistent/never-created",
        **overrides,
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "run-cluster")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_when_postgresql_is_unreachable() -> None:
    (closed,) = free_ports(1)
    result = run_cluster(CLUSTER_PG_URL=f"postgresql://postgres@127.0.0.1:{closed}/cluster")
    assert result.returncode == 2
    assert f"refusing to start: PostgreSQL at 127.0.0.1:{closed} is unreachable" in result.stderr
    assert "started" not in result.stderr


def test_refuses_when_redis_is_unreachable() -> None:
    (closed,) = free_ports(1)
    result = run_cluster(REDIS_LOCK_PORT=str(closed), REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    assert result.returncode == 2
    assert f"refusing to start: Redis (lock store) at 127.0.0.1:{closed} is unreachable" in result.stderr
    assert f"refusing to start: Redis (REDIS_URL) at 127.0.0.1:{closed} is unreachable" in result.stderr
    assert "started" not in result.stderr


def test_refuses_a_sqlite_tracker_store() -> None:
    result = run_cluster(TRACKER_STORE_URL="sqlite:///var/tracker.sqlite3")
    assert result.returncode == 2
    assert "must be postgresql:// URLs" in result.stderr
