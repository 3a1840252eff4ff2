"""The layout's rule (docs/architecture.md): core/ imports no Rasa code and none of the glue; the glue
imports core/, never actions/ (only the action server loads actions/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GLUE = ("actions", "components", "channels", "tracker_store", "web")


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_no_rasa_and_no_glue(path: Path) -> None:
    assert not imported_packages(path) & {"rasa", "rasa_sdk", "sanic", *GLUE}


@pytest.mark.parametrize(
    "path",
    sorted(p for package in GLUE[1:] for p in (ROOT / package).rglob("*.py") if "node_modules" not in p.parts),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_glue_never_imports_the_actions(path: Path) -> None:
    assert "actions" not in imported_packages(path)
