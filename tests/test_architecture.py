"""The house's import rule, read from every module's source (nothing is imported). Packages live on floors, and a
module imports only its own package and packages on lower floors:

- ground: `common/` (the shared floor), which imports no Lightning, jsonargparse, Optuna or Ray;
- first: the study (`pairs/`) and the framework (`framework/`), side by side, never importing each other; the
  framework's library (framework/*.py but test.py) imports only `from torch import empty`, `math` and itself;
- second: `compare/`, `scripts/` and the entry points (train, benchmark, tune); `scripts/` never imports `compare/`.

No module imports a test module, and no test module imports another (only the suite's package, for `ROOT`).
"""

import ast
from pathlib import Path

import pytest

from tests import ROOT

FLOORS = {
    "common": 0,
    "pairs": 1,
    "framework": 1,
    "compare": 2,
    "scripts": 2,
    "train": 2,
    "benchmark": 2,
    "tune": 2,
}
HEAVY = ("lightning", "pytorch_lightning", "jsonargparse", "optuna", "ray")  # never on the ground floor
SOURCES = sorted(p for p in ROOT.rglob("*.py") if not {".venv", "venv", "data", "runs", "results"} & set(p.parts))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path, source: str | None = None) -> list[str]:
    """The modules `path` (or `source`, read as if at `path`) imports, absolute and dotted; `from X import y` counts
    as X.y where y is a module."""
    names = []
    package = module_name(path).split(".")[: -1 if path.name != "__init__.py" else None]
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join([*package[: len(package) - node.level + 1], node.module or ""]).strip(".")
                if node.level
                else node.module or ""
            )
            names += [f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names]
    return names


def within(name: str, *roots: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in roots)


def files(pattern: str) -> list[Path]:
    return sorted(ROOT.glob(pattern))


def test_the_library_imports_only_torch_empty_math_and_itself():
    for path in files("framework/*.py"):
        if path.name == "test.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert [a.name for a in node.names] == ["math"], f"{path.name}: import {node.names[0].name}"
            elif isinstance(node, ast.ImportFrom) and not node.level and not within(node.module or "", "framework"):
                names = [a.name for a in node.names]
                assert (node.module, names) == ("torch", ["empty"]), f"{path.name}: from {node.module} import {names}"


def package(name: str) -> str:
    return name.split(".")[0]


HOUSE = [p for p in SOURCES if package(module_name(p)) in FLOORS]


def upward(path: Path, source: str | None = None) -> list[str]:
    """What `path` imports from another package on its own floor or above."""
    own = package(module_name(path))
    return [
        n
        for n in imports(path, source)
        if package(n) in FLOORS and package(n) != own and FLOORS[package(n)] >= FLOORS[own]
    ]


@pytest.mark.parametrize("path", HOUSE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_imports_only_its_own_package_and_lower_floors(path):
    assert upward(path) == [], f"{path.name} (floor {FLOORS[package(module_name(path))]}) imports {upward(path)}"


@pytest.mark.parametrize("path", files("common/*.py"), ids=lambda p: p.name)
def test_the_ground_floor_imports_no_lightning_jsonargparse_optuna_or_ray(path):
    assert not [n for n in imports(path) if within(n, *HEAVY)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_imports_a_test_module(path):
    shared = {"tests"} if "tests" in path.relative_to(ROOT).parts else set()  # the suite's package: ROOT only
    test_modules = [
        n for n in imports(path) if within(n, "tests") or n.split(".")[-1].startswith(("test_", "conftest"))
    ]
    assert set(test_modules) <= shared


def test_the_rule_reads_relative_and_from_imports():
    """The reader itself: a rule that never sees an import would pass anything."""
    assert "pairs.report" in imports(ROOT / "benchmark.py")
    assert "common.options" in imports(ROOT / "framework/test.py")
    assert "framework.exercises.experiment" in imports(ROOT / "framework/exercises/mnist.py")
    assert "compare.twin" in imports(ROOT / "compare/speed.py")
    assert within("pairs.classifier", "pairs") and not within("pairsx", "pairs")


def test_the_floors_catch_a_module_that_imports_sideways_or_up():
    """The rule itself: the framework importing the study, the ground floor importing the study, scripts importing
    compare: each caught; an import of a lower floor passes."""
    assert upward(ROOT / "framework/probe.py", "from pairs import data\n") == ["pairs.data"]
    assert upward(ROOT / "common/probe.py", "from pairs.cli import PairCLI\n") == ["pairs.cli"]
    assert upward(ROOT / "scripts/probe.py", "import compare.twin\n") == ["compare.twin"]
    assert upward(ROOT / "compare/probe.py", "from pairs import data\nfrom framework import Linear\n") == []


def test_no_module_edits_sys_path():
    editing = [
        p.relative_to(ROOT).as_posix() for p in SOURCES if "sys.path" in p.read_text() and "tests" not in p.parts
    ]
    assert editing == []
