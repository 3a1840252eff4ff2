"""Check topic files' question-level entries: shape (the schema), cross references, length limits.

    python scripts/check_entries.py [knowledge/topics/<intent>.yml ...]   (default: every topic)

Prints one line per problem and exits 1 if there is any; the same limits are tested in make test.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.knowledge import MAX_ANSWER_CHARS, KnowledgeError, load_knowledge  # noqa: E402
from core.language import LANGUAGES  # noqa: E402


def problems(paths: list[Path]) -> list[str]:
    try:
        kb = load_knowledge()
    except KnowledgeError as error:
        return [str(error)]
    found = []
    for path in paths:
        topic = kb.topics[path.stem]
        for language in LANGUAGES:
            if len(topic["answer"][language]) > MAX_ANSWER_CHARS[language]:
                found.append(
                    f"{path}: answer/{language}: {len(topic['answer'][language])} > {MAX_ANSWER_CHARS[language]}"
                )
        for i, entry in enumerate(kb.entries(path.stem)):
            for language in LANGUAGES:
                text = entry["answer"][language]
                if len(text) > MAX_ANSWER_CHARS[language]:
                    limit = MAX_ANSWER_CHARS[language]
                    found.append(f"{path}: entries/{i} ({entry['key']}) answer/{language}: {len(text)} > {limit}")
                if "http://" in text or "https://" in text:
                    found.append(f"{path}: entries/{i} ({entry['key']}) answer/{language}: no URLs in answers")
            if len(entry.get("variations") or []) > 3:
                found.append(f"{path}: entries/{i} ({entry['key']}): at most 3 variations")
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "knowledge" / "topics").glob("*.yml"))
    found = problems(paths)
    for line in found:
        print(line)
    print(f"{len(paths)} topic file(s), {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
