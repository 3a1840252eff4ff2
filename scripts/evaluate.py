"""How well the trained model understands: real questions and the held-out split, per language.

Usage: python scripts/evaluate.py [--model models/activation.tar.gz] [--errors] [--thresholds]
(what `make evaluate` runs).

Two test sets, never used for training:
- tests/nlu_real/: real questions copied as people wrote them on public sites that the training
  data was not learned from (tests/nlu_real/SOURCES_*.md); a message that asks two or three things
  is labelled `intent1+intent2`.
- tests/nlu_holdout/: a held-out split written in the training data's style.
- tests/nlu_entries/: held-out questions for the question-level entries (knowledge/topics/*.yml →
  entries; never in their `asked_as`): how often the topic and then the entry are picked.

For each: top-1 accuracy as a person meets it (a fallback counts wrong; a multi-question message
counts right when every one of its topics is answered), the classifier's own accuracy (before the
fallback), macro-F1, the fallback rate, "one tap": the share answered right or, when the answer's
topic is wrong, with the right topic offered as the button under it (core.dialogue.runner_up_topic),
and "button": how many answers have such a button; per-topic accuracy and the most frequent
confusions, and the mean parse time per message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.dialogue import FALLBACK_INTENT, QUESTION_TOPIC_ENTITY, runner_up_topic, selected_entry_key  # noqa: E402
from core.knowledge import topic_names  # noqa: E402
from scripts.compare_classifiers import load_examples  # noqa: E402

SETS = (
    ("real", ROOT / "tests" / "nlu_real"),
    ("fresh", ROOT / "tests" / "nlu_fresh"),
    ("held-out", ROOT / "tests" / "nlu_holdout"),
)


def answered(result: dict[str, Any]) -> tuple[list[str], str, bool]:
    """The topics the assistant answers for a parse, the classifier's own choice, and whether the
    fallback refused."""
    ranking = [r for r in result.get("intent_ranking", []) if r["name"] != FALLBACK_INTENT]
    choice = ranking[0]["name"] if ranking else result["intent"]["name"]
    asked = [e["value"] for e in result.get("entities", []) if e.get("entity") == QUESTION_TOPIC_ENTITY]
    return asked or [choice], choice, result["intent"]["name"] == FALLBACK_INTENT


def is_right(gold: str, topics: list[str]) -> bool:
    wanted = gold.split("+")
    return all(w in topics for w in wanted) if len(wanted) > 1 else topics[0] == gold


def offered_topic(result: dict[str, Any], topics: list[str], refused: bool, known: frozenset[str]) -> str | None:
    """The topic offered as a button under a one-topic answer (core.dialogue.runner_up_topic: the
    topic of `known` the classifier nearly chose), or None."""
    return None if refused or len(topics) != 1 else runner_up_topic(result, topics[0], known)


async def parse_all(agent: Any, texts: list[str]) -> tuple[list[dict[str, Any]], float]:
    started = time.perf_counter()
    results = [await agent.parse_message(text) for text in texts]
    return results, (time.perf_counter() - started) / max(1, len(texts))


def report(name: str, pairs: list[tuple[str, str]], results: list[dict[str, Any]], args: argparse.Namespace) -> float:
    from sklearn.metrics import f1_score

    rows = [(text, gold, *answered(result)) for (text, gold), result in zip(pairs, results, strict=True)]
    right = [is_right(gold, topics) and not refused for _, gold, topics, _, refused in rows]
    known = topic_names()
    offered = [
        offered_topic(result, topics, refused, known)
        for (*_, topics, _, refused), result in zip(rows, results, strict=True)
    ]
    # right, or the right topic offered as the button under a wrong answer
    tap = [ok or other == gold for ok, other, (_, gold, *_) in zip(right, offered, rows, strict=True)]
    classifier = [is_right(gold, topics) for _, gold, topics, _, _ in rows]
    fallbacks = sum(refused for *_, refused in rows)
    single = [(gold, choice) for _, gold, _, choice, _ in rows if "+" not in gold]
    macro_f1 = f1_score([g for g, _ in single], [c for _, c in single], average="macro", zero_division=0)
    multi = [r for r, (_, gold, *_) in zip(right, rows, strict=True) if "+" in gold]
    n = len(rows)
    print(
        f"{name:<16}{n:>5}{sum(right) / n:>10.3f}{sum(classifier) / n:>12.3f}{macro_f1:>10.3f}"
        f"{fallbacks / n:>10.1%}   {f'{sum(multi)}/{len(multi)}' if multi else '-':>7}{sum(tap) / n:>10.3f}"
        f"{sum(other is not None for other in offered) / n:>10.0%}"
    )
    if args.topics:
        per_topic: dict[str, list[bool]] = defaultdict(list)
        for ok, (_, gold, *_) in zip(right, rows, strict=True):
            per_topic[gold if "+" not in gold else "(several)"].append(ok)
        for topic, oks in sorted(per_topic.items(), key=lambda item: sum(item[1]) / len(item[1])):
            print(f"      {topic:<28}{sum(oks):>4}/{len(oks):<4}{sum(oks) / len(oks):>7.0%}")
    confusions = Counter(
        (gold, "+".join(topics) if not refused else FALLBACK_INTENT)
        for (_, gold, topics, _, refused), ok in zip(rows, right, strict=True)
        if not ok
    )
    print("      most frequent confusions: " + "; ".join(f"{g} → {p} ×{c}" for (g, p), c in confusions.most_common(6)))
    if args.errors:
        for (text, gold, topics, _, refused), ok in zip(rows, right, strict=True):
            if not ok:
                print(f"      [{gold} → {'+'.join(topics)}{' (fallback)' if refused else ''}] {text}")
    if args.thresholds:
        confidence = [r["intent_ranking"][0]["confidence"] if r.get("intent_ranking") else 0.0 for r in results]
        for threshold in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
            below = [c < threshold for c in confidence]
            wrongly = sum(ok and low for ok, low in zip(classifier, below, strict=True)) / n
            caught = sum(low and not ok for ok, low in zip(classifier, below, strict=True))
            print(
                f"      threshold {threshold:.2f}: refuses {wrongly:.1%} of right answers, "
                f"catches {caught / max(1, classifier.count(False)):.0%} of errors"
            )
    return sum(right) / n


def entry_report(agent: Any, args: argparse.Namespace) -> None:
    """Entry selection on tests/nlu_entries/: right topic, and right entry given the right topic
    (with --errors, every miss: the wrong topic as well as the wrong entry)."""
    import yaml

    rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # language → (topic, entry, text)
    for path in sorted((ROOT / "tests" / "nlu_entries").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for question in data.get("questions") or []:
            for language in ("zh", "en"):
                if question.get(language):
                    rows[language].append((data["topic"], question["entry"], question[language]))
    if not rows:
        print("entry selection: no held-out entry questions (tests/nlu_entries/)")
        return
    print(f"{'entry selection':<16}{'n':>5}{'topic':>10}{'entry':>10}{'entry|topic':>13}{'general':>10}")
    for language, items in sorted(rows.items()):
        results, _ = asyncio.run(parse_all(agent, [text for _, _, text in items]))
        topic_ok = entry_ok = general = 0
        wrong_topic: list[str] = []
        wrong_entry: list[str] = []
        for (topic, entry, text), result in zip(items, results, strict=True):
            intent = (result.get("intent") or {}).get("name")
            chosen = selected_entry_key(result, topic)
            if intent != topic:
                wrong_topic.append(f"{topic}/{entry} → {intent}: {text}")
                continue
            topic_ok += 1
            if chosen == entry:
                entry_ok += 1
            elif chosen is None:
                general += 1
            else:
                wrong_entry.append(f"{topic}/{entry} → {topic}/{chosen}: {text}")
        n = len(items)
        print(
            f"{'  ' + language:<16}{n:>5}{topic_ok / n:>10.3f}{entry_ok / n:>10.3f}"
            f"{entry_ok / max(1, topic_ok):>13.3f}{general / max(1, topic_ok):>10.3f}"
        )
        for line in wrong_entry + wrong_topic if args.errors else wrong_entry[:5]:
            print(f"      {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "activation.tar.gz"))
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--topics", action="store_true", help="accuracy per topic")
    parser.add_argument("--thresholds", action="store_true", help="fallback trade-off per confidence threshold")
    args = parser.parse_args()

    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug lines would print every message
    agent = Agent.load(args.model)
    print(
        f"{'set':<16}{'n':>5}{'accuracy':>10}{'classifier':>12}{'macro-F1':>10}{'fallback':>10}{'multi':>10}"
        f"{'one tap':>10}{'button':>10}"
    )
    timings = []
    for label, folder in SETS:
        for path in sorted(folder.glob("*.yml")):
            pairs = load_examples(path)
            results, seconds = asyncio.run(parse_all(agent, [text for text, _ in pairs]))
            timings.append((seconds, len(pairs)))
            report(f"{label} {path.stem}", pairs, results, args)
    entry_report(agent, args)
    total = sum(n for _, n in timings)
    mean_ms = 1000 * sum(s * n for s, n in timings) / max(1, total)
    print(f"mean parse time: {mean_ms:.1f} ms per message ({total} messages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
