"""Write the questions 12333 staff assigned in the review queue as NLU training examples.

    python scripts/export_reviewed.py [--data data] [--out-name reviewed.yml]

For each language, `data/nlu/<language>/reviewed.yml` keeps what it had and gains every assigned
question the training data does not have yet (simplified characters, redacted as stored). Questions
marked "needs a new answer" are listed on the terminal: they need a knowledge entry, not examples.
A developer reviews the file, commits it, and the next `make train` learns it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from core.ops_store import OpsStore  # noqa: E402
from core.review import file_examples, normalise, plan_export, render_yaml, training_examples  # noqa: E402


def domain_intents(domain: Path) -> list[str]:
    return list((yaml.safe_load(domain.read_text(encoding="utf-8")) or {}).get("intents") or [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--domain", type=Path, default=ROOT / "domain.yml")
    parser.add_argument("--out-name", default="reviewed.yml")
    parser.add_argument("--db", help="operations database URL (default: OPS_DB_URL or var/ops.sqlite3)")
    args = parser.parse_args(argv)

    from core.ops_store import engine_from_env

    store = OpsStore(engine_from_env(args.db))
    nlu_dir = args.data / "nlu"
    outputs = {language: nlu_dir / language / args.out_name for language in ("zh", "en")}
    kept = {language: file_examples(path) for language, path in outputs.items()}
    existing = training_examples(args.data, exclude=outputs.values())
    for examples in kept.values():
        for intent, texts in examples.items():
            for text in texts:
                existing.setdefault(normalise(text), intent)
    plan = plan_export(store.review_items(assigned=True, limit=100_000), domain_intents(args.domain), existing)

    written = 0
    for language, path in outputs.items():
        merged = {intent: list(texts) for intent, texts in kept[language].items()}
        new = plan.examples.get(language, {})
        for intent, texts in new.items():
            merged.setdefault(intent, []).extend(texts)
            written += len(texts)
        if merged:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_yaml(merged, language), encoding="utf-8")
            print(
                f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                f"{sum(len(t) for t in merged.values())} examples ({sum(len(t) for t in new.values())} new)"
            )
    for text, why in plan.skipped:
        print(f"skipped ({why}): {text}")
    for text in plan.needs_new_answer:
        print(f"needs a new answer (add a knowledge entry, not examples): {text}")
    print(f"{written} new examples; review the files, commit them, then `make train`.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
