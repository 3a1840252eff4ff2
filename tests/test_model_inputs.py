"""The build retrains when anything the model depends on changes (Makefile and Rasa's training cache)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
from pathlib import Path

import pytest
import yaml

from components.base import CodeFingerprint, project_modules

ROOT = Path(__file__).resolve().parent.parent


def _custom_components() -> list[type]:
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    classes = []
    for step in pipeline:
        module_name, _, class_name = step["name"].rpartition(".")
        if module_name:
            classes.append(getattr(importlib.import_module(module_name), class_name))
    return classes


def _makefile_model_code() -> set[str]:
    """The files whose change makes `make` retrain, as make itself expands them."""
    output = subprocess.run(["make", "-s", "print-MODEL_CODE"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(output.stdout.split())


def test_every_custom_component_fingerprints_its_code() -> None:
    classes = _custom_components()
    assert len(classes) >= 5
    assert all(issubclass(cls, CodeFingerprint) for cls in classes)


def test_makefile_retrains_on_every_module_a_component_uses() -> None:
    needed = {
        str(Path(inspect.getsourcefile(module) or "").relative_to(ROOT))
        for cls in _custom_components()
        for module in project_modules(importlib.import_module(cls.__module__))
    }
    assert {"core/text_input.py", "core/regions.py", "components/input_guard.py"} <= needed
    assert needed <= _makefile_model_code()


def test_fingerprint_changes_when_the_text_cleaning_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.input_guard import InputCleaner

    before = InputCleaner.fingerprint_addon({})
    original = inspect.getsource

    def edited(obj: object) -> str:
        source = original(obj)  # type: ignore[arg-type]
        return source + "\n# edited\n" if getattr(obj, "__name__", "") == "core.text_input" else source

    monkeypatch.setattr(inspect, "getsource", edited)
    assert InputCleaner.fingerprint_addon({}) != before
