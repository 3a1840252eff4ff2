"""The review queue: near-duplicate questions grouped, and assigned ones turned into training data.

Pure Python, no Rasa imports. Grouping compares questions after normalising them (simplified
characters, no punctuation or spaces, digits as "#") by the overlap of their character bigrams, so
"社保卡怎么激活？" and "社保卡怎么激活啊" land in one group a staff member labels at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from core.language import detect_language, to_simplified
from core.ops_store import NEEDS_NEW_ANSWER, OUT_OF_SCOPE, RUNNER_UP_REASON, ReviewItem

SIMILARITY = 0.6
_NOISE = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_PREFIX = re.compile(r"^(问|答|q|a)[:：]", re.IGNORECASE)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", to_simplified(text)).lower().strip()
    text = _PREFIX.sub("", text)
    return _DIGITS.sub("#", _NOISE.sub("", text))


def bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(max(1, len(text) - 1)))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _most_frequent(values: Sequence[str | None]) -> str | None:
    return max(set(values), key=values.count) if values else None


@dataclass
class Group:
    """Questions that say the same thing; `items` newest first."""

    items: list[ReviewItem] = field(default_factory=list)
    _grams: frozenset[str] = frozenset()

    @property
    def latest(self) -> ReviewItem:
        return self.items[0]

    def as_dict(self) -> dict[str, Any]:
        """The group for the review page. `guess` is the model's (its most frequent guess, the
        confidence of the newest guessed item); `chosen` the topic people picked with the "I meant: …"
        button (a runner_up item's guess is the person's choice, not the model's)."""
        guessed = [i for i in self.items if i.guess and i.reason != RUNNER_UP_REASON]
        guesses = [i.guess for i in guessed]
        choices = [i.guess for i in self.items if i.guess and i.reason == RUNNER_UP_REASON]
        return {
            "ids": [i.id for i in self.items],
            "count": len(self.items),
            "text": self.latest.text,
            "latest": self.latest.created_at.isoformat(),
            "reasons": sorted({i.reason for i in self.items}),
            "channels": sorted({i.channel for i in self.items}),
            "guess": _most_frequent(guesses),
            "guess_confidence": guessed[0].guess_confidence if guessed else None,
            "chosen": _most_frequent(choices),
            "items": [
                {
                    "id": i.id,
                    "text": i.text,
                    "created_at": i.created_at.isoformat(),
                    "channel": i.channel,
                    "reason": i.reason,
                    "guess": i.guess,
                    "guess_confidence": i.guess_confidence,
                    "language": i.language,
                }
                for i in self.items
            ],
        }


def group_items(items: Sequence[ReviewItem], threshold: float = SIMILARITY) -> list[Group]:
    """Near-duplicates together, groups ordered by their newest question (items must come newest first)."""
    groups: list[Group] = []
    by_text: dict[str, Group] = {}
    for item in items:
        key = normalise(item.text)
        group = by_text.get(key)
        if group is None:
            grams = bigrams(key)
            group = next((g for g in groups if similarity(g._grams, grams) >= threshold), None)
            if group is None:
                group = Group(_grams=grams)
                groups.append(group)
            by_text[key] = group
        group.items.append(item)
    return groups


# -- export ------------------------------------------------------------------------------------


def file_examples(path: Path) -> dict[str, list[str]]:
    """The examples of one NLU file, intent → texts (entity markup removed)."""
    found: dict[str, list[str]] = {}
    if not path.is_file():
        return found
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for block in content.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.setdefault(block["intent"], []).append(strip_markup(line[2:]))
    return found


def training_examples(data_dir: Path, exclude: Iterable[Path] = ()) -> dict[str, str]:
    """Every NLU example under `data_dir` (normalised text → intent), to avoid duplicates."""
    skip = {p.resolve() for p in exclude}
    seen: dict[str, str] = {}
    for path in sorted(data_dir.rglob("*.yml")):
        if path.resolve() in skip:
            continue
        for intent, texts in file_examples(path).items():
            for text in texts:
                seen.setdefault(normalise(text), intent)
    return seen


def example_text(text: str) -> str:
    """A citizen's question as one training-example line: simplified, one line, and no characters
    Rasa would read as entity markup."""
    text = " ".join(to_simplified(text).split())
    return re.sub(r"[\[\]{}()]", " ", text).strip() if re.search(r"\[[^\]]*\]\s*[({]", text) else text


def strip_markup(example: str) -> str:
    """An example's text without Rasa entity markup: [text](entity) → text."""
    return re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", example)


@dataclass
class Export:
    examples: dict[str, dict[str, list[str]]]  # language → intent → texts
    skipped: list[tuple[str, str]]  # (text, why)
    needs_new_answer: list[str]


def plan_export(items: Iterable[ReviewItem], intents: Iterable[str], existing: dict[str, str]) -> Export:
    """What `make export-reviewed` writes: each assigned question once, under its language and the
    intent staff gave it, in simplified characters; not what the training data has already."""
    known = set(intents) | {OUT_OF_SCOPE}
    examples: dict[str, dict[str, list[str]]] = {}
    skipped: list[tuple[str, str]] = []
    new_answer: list[str] = []
    taken = dict(existing)
    for item in sorted(items, key=lambda i: i.id):
        if not item.label:
            continue
        text = example_text(item.text)
        if item.label == NEEDS_NEW_ANSWER:
            new_answer.append(text)
            continue
        if item.label not in known:
            skipped.append((text, f"unknown intent {item.label}"))
            continue
        key = normalise(text)
        if not key:
            skipped.append((text, "no words"))
            continue
        if key in taken:
            if taken[key] != item.label:
                skipped.append((text, f"already a training example of {taken[key]}"))
            continue
        taken[key] = item.label
        language = detect_language(text) or item.language or "zh"
        examples.setdefault(language, {}).setdefault(item.label, []).append(text)
    return Export(examples, skipped, new_answer)


def render_yaml(examples: dict[str, list[str]], language: str) -> str:
    """An NLU training-data file Rasa reads (`version: "3.1"`), one block per intent."""
    lines = [
        'version: "3.1"',
        "",
        f"# Questions citizens asked ({language}) that the assistant missed, with the topic 12333 staff",
        "# assigned in the review queue. Written by `make export-reviewed` (scripts/export_reviewed.py):",
        "# review, then commit; the next `make train` learns them. Texts are redacted (ID numbers masked).",
        "",
        "nlu:",
    ]
    for intent in sorted(examples):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        for text in examples[intent]:
            lines.append(f"    - {text}")
    return "\n".join(lines) + "\n"
