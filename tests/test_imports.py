"""The code's shape: no import cycle anywhere in the core or the plugins (grimp), and the import-linter
contracts of ``setup.cfg`` (the core never imports a plugin, plugins are independent, the core is
layered) hold. CI runs ``lint-imports`` too; this test says which import broke the rule."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import plugins

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contentflow", "plugins")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def is_own_registration(importer: str, imported: str) -> bool:
    """A package's ``__init__`` importing one of its own submodules to register it: the one exception."""
    return imported.startswith(importer + ".")


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), ignoring own registrations."""
    modules = sorted(graph.modules)
    edges = {
        m: sorted(i for i in graph.find_modules_directly_imported_by(m) if not is_own_registration(m, i))
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in edges.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_back(graph):
    cycles = module_cycles(graph)
    chains = [graph.find_shortest_chain(cycle[0], cycle[1]) for cycle in cycles]
    assert cycles == [], f"import cycles: {cycles}; e.g. {chains}"


@pytest.mark.parametrize("package", ["contentflow", "plugins"])
def test_no_package_depends_on_one_that_depends_back(graph, package):
    packages = [m for m in sorted(graph.modules) if m == package or m.startswith(package + ".")]
    breakers = {p: graph.nominate_cycle_breakers(p) for p in packages if graph.find_children(p)}
    assert {p: b for p, b in breakers.items() if b} == {}


def test_import_linter_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("contract", "key"),
    [("core-never-imports-a-plugin", "forbidden_modules"), ("plugins-are-independent", "modules")],
)
def test_import_linter_contracts_name_every_plugin_of_the_one_list(contract, key):
    """setup.cfg cannot read ``plugins.FLAGS``: a plugin added to the list but not to a contract would be
    free to break it unnoticed."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    named = config[f"importlinter:contract:{contract}"][key].split()
    assert named == [f"plugins.{name}" for name in plugins.AVAILABLE]


def test_the_cycle_finder_finds_a_cycle():
    """The detector above could pass by finding nothing at all: it must see a planted loop."""
    planted = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        planted.add_module(module)
    planted.add_import(importer="pkg.a", imported="pkg.b")
    planted.add_import(importer="pkg.b", imported="pkg.a")
    planted.add_import(importer="pkg", imported="pkg.c")
    planted.add_import(importer="pkg.c", imported="pkg")
    assert module_cycles(planted) == [["pkg.a", "pkg.b"]]
