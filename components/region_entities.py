"""The `region` entity: spaCy rule-based matching over a blank Chinese (jieba) pipeline.

`scripts/build_spacy_model.py` builds the pipeline (blank `zh` + an `entity_ruler` whose patterns are
generated from the administrative-division table in `core.regions`) and `SpacyNLP` loads it. This
module registers the callback that pipeline names in its config, so it must be imported before the
pipeline is loaded: Rasa imports every component class in `config.yml` before it creates any.
"""

from __future__ import annotations

from typing import List, Type

import spacy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.base import StatelessComponent
from core.regions import alias_index

ENTITY = "region"
CALLBACK = "activation.region_words.v1"


@spacy.registry.callbacks(CALLBACK)
def make_region_words_callback():
    """Teach jieba every region name, so "揭阳市" stays one token and the phrase patterns line up."""

    def add_region_words(nlp):
        import jieba

        for alias in alias_index():
            if not alias.isascii():
                jieba.add_word(alias, freq=100000)
        return nlp

    return add_region_words


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False, model_from="SpacyNLP")
class RegionEntityExtractor(StatelessComponent, EntityExtractorMixin):
    """Emits `region` entities whose value is the canonical full Chinese name (上海 → 上海市)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [SpacyNLP]

    def process(self, messages: List[Message], model: SpacyModel) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = [
                {
                    "entity": ENTITY,
                    "value": ent.ent_id_,
                    "start": ent.start_char,
                    "end": ent.end_char,
                    "confidence": None,
                }
                for ent in model.model(text).ents
                if ent.label_ == ENTITY and ent.ent_id_
            ]
            message.set(
                ENTITIES,
                message.get(ENTITIES, []) + self.add_extractor_name(found),
                add_to_output=True,
            )
        return messages
