"""Token lemmas for the intent features: placeholders for places and ID numbers, stems for English.

- "Hefei" and "合肥" look like every other city to the classifier ("I'm in <region>"), and an ID number
  like every other ID number, so a city the training data never mentions is still understood.
- English words are stemmed (Snowball) and stripped of accents, so "activating", "activation" and
  "activated" share a feature, and "nǐ hǎo" is "ni hao".
Only the lemma changes (what components.topic_classifier reads); text and offsets stay, so entities are
unaffected.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import SPACY_DOCS, TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from snowballstemmer import stemmer

from components.base import StatelessComponent

REGION_TOKEN = "__region__"
ID_TOKEN = "__idnumber__"
_ID_SHAPE = re.compile(r"^\d{15}$|^\d{17}[\dxX]$")
_LATIN_WORD = re.compile(r"^[a-z][a-z']*$")
_ENGLISH = stemmer("english")


@lru_cache(maxsize=50_000)
def english_lemma(word: str) -> str:
    """Lower-cased, accent-free Snowball stem of a Latin-script word; other tokens unchanged."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))
    return _ENGLISH.stemWord(plain) if _LATIN_WORD.match(plain) else word


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class FeatureLemmas(StatelessComponent):
    """After the tokenizer: region spans (the spaCy doc's region entities) and ID-shaped tokens get
    placeholder lemmas; English words get their stems."""

    @staticmethod
    def _mark(message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        doc = message.get(SPACY_DOCS[TEXT])
        spans = [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "region"] if doc is not None else []
        for token in tokens:
            if _ID_SHAPE.match(token.text):
                token.lemma = ID_TOKEN
            elif any(token.start < end and token.end > start for start, end in spans):
                token.lemma = REGION_TOKEN
            else:
                token.lemma = english_lemma(token.text)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._mark(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._mark(example)
        return training_data
