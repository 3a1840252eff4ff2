"""Intent accuracy and macro-F1 on the held-out split, per language, with the trained model.

Usage: python scripts/evaluate.py [--model models/activation.tar.gz] [--holdout tests/nlu_holdout]
Prints a table; `--errors` also lists the misclassified sentences. The classifier's own choice is
scored (what `rasa test nlu` scores); the fallback rate says how often the FallbackClassifier would
then ask to rephrase instead, wrongly (correct guess under the threshold) or rightly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_holdout(path: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


async def predict(agent, texts: list[str]) -> list[dict]:
    return [await agent.parse_message(text) for text in texts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "activation.tar.gz"))
    parser.add_argument("--holdout", default=str(ROOT / "tests" / "nlu_holdout"))
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--thresholds", action="store_true", help="fallback trade-off per confidence threshold")
    args = parser.parse_args()

    from rasa.core.agent import Agent
    from sklearn.metrics import accuracy_score, f1_score

    agent = Agent.load(args.model)
    print(f"{'split':<8}{'n':>6}{'accuracy':>10}{'macro-F1':>10}{'fallback':>10}{'fb-wrong':>10}")
    exit_code = 0
    for path in sorted(Path(args.holdout).glob("*.yml")):
        gold, texts = [], []
        for text, intent in load_holdout(path):
            texts.append(text)
            gold.append(intent)
        parsed = asyncio.run(predict(agent, texts))
        # The classifier's choice: the top of the ranking that is not the fallback.
        guesses, fallbacks, fallback_wrong = [], 0, 0
        for result, expected in zip(parsed, gold, strict=False):
            ranking = [r for r in result.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
            guess = ranking[0]["name"] if ranking else result["intent"]["name"]
            guesses.append(guess)
            if result["intent"]["name"] == "nlu_fallback":
                fallbacks += 1
                fallback_wrong += guess == expected
        accuracy = accuracy_score(gold, guesses)
        macro_f1 = f1_score(gold, guesses, average="macro", zero_division=0)
        print(
            f"{path.stem:<8}{len(gold):>6}{accuracy:>10.3f}{macro_f1:>10.3f}"
            f"{fallbacks / len(gold):>10.1%}{fallback_wrong / len(gold):>10.1%}"
        )
        if args.thresholds:
            ranked = [
                [x["confidence"] for x in r.get("intent_ranking", []) if x["name"] != "nlu_fallback"] + [0, 0]
                for r in parsed
            ]
            top, second = [r[0] for r in ranked], [r[1] for r in ranked]
            right = [g == p for g, p in zip(gold, guesses, strict=False)]
            for threshold in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
                for ambiguity in (0.0, 0.05, 0.1):
                    refused = [t < threshold or (t - s) < ambiguity for t, s in zip(top, second, strict=False)]
                    wrongly = sum(r and f for r, f in zip(right, refused, strict=False)) / len(gold)
                    caught = sum((not r) and f for r, f in zip(right, refused, strict=False)) / max(
                        1, right.count(False)
                    )
                    print(
                        f"    threshold {threshold:.2f} ambiguity {ambiguity:.2f}: refuses {wrongly:.1%} "
                        f"of right answers, catches {caught:.0%} of errors"
                    )
        if args.errors:
            confusions = Counter((g, p) for g, p in zip(gold, guesses, strict=False) if g != p)
            for (expected, got), count in confusions.most_common():
                print(f"    {count} × {expected} → {got}")
            for text, expected, got in zip(texts, gold, guesses, strict=False):
                if expected != got:
                    print(f"    [{expected} → {got}] {text}")
        if accuracy < 0.95:
            exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
