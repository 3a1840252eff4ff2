"""Measure a full training run (NLU + dialogue) from scratch, side by side with a stock Rasa bot.

Usage: python scripts/bench_train.py [--rounds 1]   (what `make bench-train` runs; prints the figures)

The machine is noisy (the same training took 78 s one day and 161 s another), so this assistant's
`rasa train --force` and a stock `rasa init --no-prompt` project's `rasa train --force` are timed in
the same run, taking turns, and the ratio is printed beside the seconds: wall time and peak memory
(the largest resident set of a training process) of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench import RASA, Processes, base_env, create_stock_bot  # noqa: E402


def timed_training(project: Path, out: Path) -> tuple[float, float]:
    """`rasa train --force` in `project`: wall seconds and peak resident memory in MB (the largest
    process of the training, from wait4's rusage of that child alone). Raises RuntimeError with the
    output's tail when it fails."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [RASA, "train", "--force", "--out", str(out), "--fixed-model-name", "bench"],
            cwd=project,
            env=base_env(project),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"rasa train in {project} failed ({proc.returncode}):\n{log.read()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="trainings of each bot, taking turns (1)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    figures: dict[str, list[tuple[float, float]]] = {"this assistant": [], "stock bot": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
            workdir = Path(tmp)
            procs = Processes()
            try:
                stock_dir, _seconds = create_stock_bot(workdir, procs)  # its own training is not counted
            finally:
                procs.stop_all()
            projects = {"this assistant": ROOT, "stock bot": stock_dir}
            for round_ in range(args.rounds):
                for label, project in projects.items():
                    print(f"training {label} from scratch (round {round_ + 1}) ...", flush=True)
                    seconds, peak = timed_training(project, workdir / f"out-{round_}-{label.split()[0]}")
                    print(f"  {seconds:.0f} s, peak {peak:.0f} MB", flush=True)
                    figures[label].append((seconds, peak))
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    ours, stock = figures["this assistant"], figures["stock bot"]
    our_s, stock_s = statistics.median(s for s, _ in ours), statistics.median(s for s, _ in stock)
    our_mb, stock_mb = max(m for _, m in ours), max(m for _, m in stock)
    print()
    print(
        f"Training from scratch (rasa train --force, NLU + dialogue), {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} at the start and {os.getloadavg()[0]:.2f} at the end, {args.rounds} round(s), median"
    )
    print("| metric | this assistant | stock bot | ratio |\n|---|---|---|---|")
    print(f"| wall time (s) | {our_s:.0f} | {stock_s:.0f} | {our_s / stock_s:.2f} |")
    print(f"| peak memory (MB) | {our_mb:.0f} | {stock_mb:.0f} | {our_mb / stock_mb:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
