"""What the pipeline components here share: a training fingerprint that covers the project code they
run, and the base of the stateless ones (nothing to configure, train or persist)."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import sys
from types import ModuleType
from typing import Any, Dict, Optional, Set, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.training_data import TrainingData

PROJECT_PACKAGES = ("core", "components")


def project_modules(module: ModuleType) -> list[ModuleType]:
    """`module` and every project module it imports, directly or through another (sorted by name)."""
    seen: Set[str] = set()
    pending = [module.__name__]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(inspect.getsource(importlib.import_module(name)))):
            if isinstance(node, ast.ImportFrom) and node.module:
                pending += [node.module] if node.level == 0 and _in_project(node.module) else []
            elif isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names if _in_project(alias.name)]
    return [importlib.import_module(name) for name in sorted(seen)]


def _in_project(module_name: str) -> bool:
    return module_name.split(".")[0] in PROJECT_PACKAGES


class CodeFingerprint:
    """Rasa's training cache fingerprints a component by its class's source alone, so editing the text
    cleaning or the region table would leave a stale model. This adds the source of every project
    module the component's module uses, so any such edit retrains the component."""

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        digest = hashlib.sha256()
        for module in project_modules(sys.modules[cls.__module__]):
            digest.update(module.__name__.encode())
            digest.update(inspect.getsource(module).encode())
        return digest.hexdigest()


class StatelessComponent(CodeFingerprint, GraphComponent):
    """A component built without configuration that leaves training data as it is (subclasses that
    must see training data override `process_training_data`)."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> StatelessComponent:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
