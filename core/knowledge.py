"""Loading and validating the knowledge base in `knowledge/`.

The files are checked against `knowledge_schema.json` (jsonschema) and then against each other: every
legal reference resolves to an article, every region is a real division, every region note belongs to a
topic. Any problem raises `KnowledgeError` naming the file and the key, so a malformed file stops the
action server at start-up instead of producing a wrong answer later.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from core.regions import find_region

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"
# The longest an answer (a topic's general answer or an entry's) may be, in characters: a reply
# bubble a person reads on a phone, and within one WeChat passive reply (2,048 bytes).
MAX_ANSWER_CHARS = {"zh": 300, "en": 600}
SCHEMA_FILE = Path(__file__).resolve().parent / "knowledge_schema.json"


class KnowledgeError(ValueError):
    """A knowledge file is malformed or inconsistent; the message names the file and the key."""


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the assistant knows, keyed for the composer."""

    topics: dict[str, dict[str, Any]]  # intent name → topic entry
    regions: dict[str, dict[str, Any]]  # canonical region name → region entry
    laws: dict[str, dict[str, Any]]  # law id → law entry
    articles: dict[str, tuple[dict[str, Any], dict[str, Any]]]  # article id → (law, article)
    service: dict[str, Any]
    card_status: dict[str, dict[str, Any]]  # registry status → what it means, what to do next
    directory: Path

    def phrase(self, key: str, language: str, **values: str) -> str:
        """A bilingual phrase from service.yml, with {hotline} and any given values filled in."""
        template = self.service["phrases"][key][language]
        return template.format(hotline=self.service["hotline"]["number"], **values)

    def entries(self, topic: str) -> list[dict[str, Any]]:
        """The question-level entries of a topic, in the file's order (empty when it has none)."""
        return list(self.topics[topic].get("entries") or [])

    def entry(self, topic: str, key: str | None) -> dict[str, Any] | None:
        """One entry of a topic by its key, or None."""
        return next((e for e in self.entries(topic) if e["key"] == key), None) if key else None

    def notes_for(self, region: str, topic: str) -> list[dict[str, Any]]:
        """The notes a region entry has on a topic (empty when none)."""
        entry = self.regions.get(region)
        return [n for n in entry["notes"] if n["topic"] == topic] if entry else []


def _schema() -> dict[str, Any]:
    with SCHEMA_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file is missing") from None
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path}: not valid YAML: {error}") from None


def _check(path: Path, data: Any, part: str, schema: dict[str, Any]) -> None:
    validator = Draft7Validator({**schema[part], "definitions": schema["definitions"]})
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise KnowledgeError(f"{path}: key '{key}': {first.message}")


def load_knowledge(directory: Path | str | None = None) -> KnowledgeBase:
    """Load and validate every file in the knowledge directory (default: $KNOWLEDGE_DIR or knowledge/)."""
    root = Path(directory or os.environ.get("KNOWLEDGE_DIR") or DEFAULT_DIR)
    schema = _schema()

    laws_path = root / "laws.yml"
    laws_data = _load_yaml(laws_path)
    _check(laws_path, laws_data, "laws", schema)
    laws = {law["id"]: law for law in laws_data["laws"]}
    articles: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for i, law in enumerate(laws_data["laws"]):
        for j, article in enumerate(law["articles"]):
            if article["id"] in articles:
                raise KnowledgeError(f"{laws_path}: key 'laws/{i}/articles/{j}/id': duplicate {article['id']}")
            articles[article["id"]] = (law, article)

    topics: dict[str, dict[str, Any]] = {}
    topic_files = sorted((root / "topics").glob("*.yml"))
    if not topic_files:
        raise KnowledgeError(f"{root / 'topics'}: no topic files")
    for path in topic_files:
        entry = _load_yaml(path)
        _check(path, entry, "topic", schema)
        if entry["topic"] != path.stem:
            raise KnowledgeError(f"{path}: key 'topic': '{entry['topic']}' does not match the file name")
        for i, ref in enumerate(entry["legal_basis"]):
            if ref not in articles:
                raise KnowledgeError(f"{path}: key 'legal_basis/{i}': no article '{ref}' in laws.yml")
        keys: set[str] = set()
        for i, item in enumerate(entry.get("entries") or []):
            if item["key"] in keys:
                raise KnowledgeError(f"{path}: key 'entries/{i}/key': duplicate '{item['key']}'")
            keys.add(item["key"])
            for j, ref in enumerate(item.get("legal_basis") or []):
                if ref not in articles:
                    raise KnowledgeError(f"{path}: key 'entries/{i}/legal_basis/{j}': no article '{ref}' in laws.yml")
        topics[entry["topic"]] = entry

    regions_path = root / "regions.yml"
    regions_data = _load_yaml(regions_path)
    _check(regions_path, regions_data, "regions", schema)
    regions: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(regions_data["regions"]):
        division = find_region(entry["region"])
        if division is None or division.name != entry["region"]:
            raise KnowledgeError(
                f"{regions_path}: key 'regions/{i}/region': '{entry['region']}' is not a canonical "
                "division name (use the full Chinese name, e.g. 上海市, 河南省)"
            )
        for j, note in enumerate(entry["notes"]):
            if note["topic"] not in topics:
                raise KnowledgeError(f"{regions_path}: key 'regions/{i}/notes/{j}/topic': no topic '{note['topic']}'")
        regions[entry["region"]] = entry

    service_path = root / "service.yml"
    service = _load_yaml(service_path)
    _check(service_path, service, "service", schema)

    status_path = root / "card_status.yml"
    status_data = _load_yaml(status_path)
    _check(status_path, status_data, "card_status", schema)

    return KnowledgeBase(topics, regions, laws, articles, service, status_data["statuses"], root)


def topic_names(directory: Path | str | None = None) -> frozenset[str]:
    """The topics the knowledge base answers (one file each), without loading or validating them."""
    root = Path(directory or os.environ.get("KNOWLEDGE_DIR") or DEFAULT_DIR)
    return frozenset(path.stem for path in (root / "topics").glob("*.yml"))


@lru_cache(maxsize=1)
def knowledge() -> KnowledgeBase:
    """The knowledge base of this process, loaded once."""
    return load_knowledge()
