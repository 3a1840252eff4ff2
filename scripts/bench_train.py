"""Measure a full training run (NLU + dialogue) from scratch: wall time and peak memory.

Usage: python scripts/bench_train.py   (what `make bench-train` runs; prints the figures)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    rasa = str(ROOT / ".venv" / "bin" / "rasa")
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        result = subprocess.run(
            [rasa, "train", "--force", "--out", out, "--fixed-model-name", "bench"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
        return result.returncode
    print(f"training from scratch: {seconds:.0f} s wall, peak memory {peak_mb:.0f} MB, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
