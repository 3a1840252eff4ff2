"""Build the spaCy pipeline that Rasa's SpacyNLP loads: blank Chinese with jieba + region patterns.

No pretrained weights are needed (none can be downloaded here); the region patterns are generated from
the administrative-division table in `core.regions`.  Usage: python scripts/build_spacy_model.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import spacy  # noqa: E402
from spacy.pipeline import EntityRuler  # noqa: E402

from components.region_entities import CALLBACK, ENTITY  # noqa: E402
from core.regions import alias_index  # noqa: E402


def build(out: Path) -> int:
    """Write the pipeline to `out`; returns the number of patterns."""
    nlp = spacy.blank(
        "zh",
        config={
            "nlp": {
                "tokenizer": {"segmenter": "jieba"},
                "after_creation": {"@callbacks": CALLBACK},
            }
        },
    )
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"}))
    patterns: list[dict[str, Any]] = [
        {"label": ENTITY, "pattern": alias, "id": name} for alias, name in alias_index().items()
    ]
    ruler.add_patterns(patterns)
    out.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    return len(patterns)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "spacy-zh-regions")
    count = build(target)
    print(f"spaCy pipeline with {count} region patterns written to {target}")
