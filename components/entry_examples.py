"""Rasa's file importer plus the question-level entries' example questions from knowledge/.

Each entry of a topic (`knowledge/topics/<intent>.yml`, `entries: - key: …, asked_as: {zh, en}`)
lists how people ask it. They stay there, next to the answer they belong to; this importer adds them
to the NLU training data as examples of the topic's intent, each marked with its entry in the
example's metadata (`{"entry": key}`), for `components.entry_selector.EntrySelector` to learn which
entry a question asks for. An example the training data already has (in any intent) is left out, so
`rasa data validate` sees no conflicts. Configured in config.yml under `importers:`.
"""

from __future__ import annotations

from typing import List, Optional, Text

from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_EXAMPLE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.knowledge import knowledge
from core.language import LANGUAGES

ENTRY_KEY = "entry"


def entry_messages(existing: set[str]) -> List[Message]:
    """A training message per example question of every entry (texts in `existing` left out)."""
    kb = knowledge()
    messages: List[Message] = []
    seen = set(existing)
    for topic in sorted(kb.topics):
        for entry in kb.entries(topic):
            for language in LANGUAGES:
                for text in entry["asked_as"][language]:
                    text = " ".join(text.split())
                    if not text or text in seen:
                        continue
                    seen.add(text)
                    messages.append(
                        Message(
                            data={TEXT: text, INTENT: topic, METADATA: {METADATA_EXAMPLE: {ENTRY_KEY: entry["key"]}}}
                        )
                    )
    return messages


def example_entry(message: Message) -> Optional[Text]:
    """The entry a training example was written for (None for the ordinary training data)."""
    metadata = message.get(METADATA) or {}
    return (metadata.get(METADATA_EXAMPLE) or {}).get(ENTRY_KEY)


class EntryExamplesImporter(RasaFileImporter):
    """`RasaFileImporter` whose NLU data also holds the entries' example questions."""

    def get_nlu_data(self, language: Optional[Text] = "en") -> TrainingData:
        data = super().get_nlu_data(language)
        existing = {" ".join((m.get(TEXT) or "").split()) for m in data.training_examples}
        # The same as data.merge(TrainingData(entry examples)) without merge's deep copy of every
        # example: `data` was just read from the files and nothing else holds it (about 0.4 s of a call
        # of 1.8 s, and Rasa calls it twice a training).
        return TrainingData(
            training_examples=data.training_examples + entry_messages(existing),
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
            responses=data.responses,
        )
