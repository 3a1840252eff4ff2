"""Compare dialogue policies on the test stories: rules alone (config.yml) against rules + memoization
+ TED trained on the multi-turn stories of tests/policy_comparison/. Prints, for each, training time,
peak memory, the test stories passed and the time `rasa test core` took over them.

Usage: python scripts/compare_policies.py   (what `make compare-policies` runs)
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STORIES = ROOT / "tests" / "policy_comparison" / "stories.yml"
STORY_POLICIES: list[dict[str, Any]] = [
    {"name": "MemoizationPolicy", "max_history": 4},
    {"name": "TEDPolicy", "max_history": 4, "epochs": 40, "constrain_similarities": True, "random_seed": 42},
]


def _run(args: list[str]) -> tuple[float, float, str]:
    """Run a Rasa command; wall seconds, peak memory of that child in MB, its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if result.returncode != 0:
        sys.exit(f"{' '.join(args[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds, peak, result.stdout + result.stderr


def measure(label: str, config: Path, data: Path, work: Path) -> None:
    rasa = str(ROOT / ".venv" / "bin" / "rasa")
    out = work / label
    train_s, train_mb, _ = _run(
        [rasa, "train", "--force", "--config", str(config), "--domain", "domain.yml", "--data", str(data)]
        + ["--out", str(out), "--fixed-model-name", "m"]
    )
    test_s, _, log = _run(
        [rasa, "test", "core", "--model", str(out / "m.tar.gz"), "--stories", "tests/stories", "--e2e"]
        + ["--out", str(out / "results")]
    )
    correct = re.search(r"Correct:\s+(\d+) / (\d+)", log)
    stories = f"{correct.group(1)} / {correct.group(2)}" if correct else "?"
    print(f"{label:<28} train {train_s:5.0f} s, peak {train_mb:5.0f} MB | test stories {stories}, {test_s:4.0f} s")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with_stories = work / "data"
        shutil.copytree(ROOT / "data", with_stories)
        (with_stories / "stories").mkdir()
        shutil.copy(STORIES, with_stories / "stories" / "multi_turn.yml")
        config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
        config["policies"] = config["policies"] + STORY_POLICIES
        story_config = work / "config_stories.yml"
        story_config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        measure("rules only (config.yml)", ROOT / "config.yml", ROOT / "data", work)
        measure("rules + memoization + TED", story_config, with_stories, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
