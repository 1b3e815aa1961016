"""The change capture's DDL: migration 0009 keeps its own copy (a migration never imports code that may
change after it ran), and ``capture.py``, which puts back a missing trigger at run time, installs exactly
that copy."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from plugins.monitoring import capture
from plugins.monitoring.models import MARK_SLOTS

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0009_monitoring.py"


def migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0009_monitoring", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_migration_imports_no_plugin_code():
    assert not [name for name in imported_modules(MIGRATION) if name.split(".")[0] == "plugins"]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_capture_installs_what_the_migration_installed(dialect):
    assert capture.install_statements(dialect) == list(migration().capture_statements(dialect))


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_capture_removes_what_the_migration_removes(dialect):
    assert capture.removal_statements(dialect) == list(migration().capture_statements(dialect, remove=True))


def test_migration_marks_as_many_slots_as_the_model_allows():
    assert migration().SLOTS == MARK_SLOTS
