"""The import rule of the two halves, read from every module's source (nothing is imported):

- the framework's library (framework/*.py but test.py) imports only `from torch import empty`, `math` and itself;
- the study (pairs/) never imports the framework, the comparisons, the scripts or the entry points;
- the framework's runners (framework/exercises/, framework/test.py) import the study only through its named
  surface, and never the comparisons or the scripts;
- compare/ may import both halves; no module imports a test module, and no test module imports another.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SURFACE = {
    "pairs.mnist",
    "pairs.data",
    "pairs.stats",
    "pairs.files",
    "pairs.errors",
    "pairs.options",
    "pairs.paths",
}  # what the runners may use
ENTRY_POINTS = {"train", "benchmark", "tune"}
SOURCES = sorted(p for p in ROOT.rglob("*.py") if not {".venv", "venv", "data", "runs", "results"} & set(p.parts))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> list[str]:
    """The modules `path` imports, absolute and dotted; `from X import y` counts as X.y where y is a module."""
    names = []
    package = module_name(path).split(".")[: -1 if path.name != "__init__.py" else None]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
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


@pytest.mark.parametrize("path", files("pairs/*.py"), ids=lambda p: p.name)
def test_the_study_never_imports_the_framework_or_what_builds_on_it(path):
    crossing = [n for n in imports(path) if within(n, "framework", "compare", "scripts", "tests", *ENTRY_POINTS)]
    assert crossing == [], f"{path.name} imports {crossing}"


@pytest.mark.parametrize(
    "path",
    [*files("framework/exercises/*.py"), ROOT / "framework/test.py"],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_the_runners_use_the_study_only_through_its_surface(path):
    study = [n for n in imports(path) if within(n, "pairs")]
    assert set(study) <= SURFACE, f"{path.name} imports {sorted(set(study) - SURFACE)} (the surface: {sorted(SURFACE)})"
    assert not [n for n in imports(path) if within(n, "compare", "scripts", "tests", *ENTRY_POINTS)]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_imports_a_test_module(path):
    assert not [n for n in imports(path) if within(n, "tests") or n.split(".")[-1].startswith(("test_", "conftest"))]


def test_the_rule_reads_relative_and_from_imports(tmp_path, monkeypatch):
    """The reader itself: a rule that never sees an import would pass anything."""
    assert "pairs.report" in imports(ROOT / "benchmark.py")
    assert "framework.exercises.experiment" in imports(ROOT / "framework/exercises/mnist.py")
    assert "compare.twin" in imports(ROOT / "compare/speed.py")
    assert within("pairs.classifier", "pairs") and not within("pairsx", "pairs")


def test_no_module_edits_sys_path_but_the_spec_s_disk_task():
    editing = [
        p.relative_to(ROOT).as_posix()
        for p in SOURCES
        if "sys.path.insert" in p.read_text() and p.parent.name != "tests"
    ]
    assert editing == ["framework/test.py"]  # the spec's executable also runs as `python framework/test.py`
